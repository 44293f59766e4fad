"""Healthchecks, without systemd.

Podman runs healthchecks from transient systemd timers, so on hosts without systemd they never
run and the status stays "starting" forever.  berth starts one tiny scheduler per container: a
/bin/sh loop (about 1 MiB) that sleeps the interval and runs `berth healthcheck run` while the
container's process exists.  It dies with the container, and cleanup kills it too.
"""

from __future__ import annotations

import os
import subprocess
import time

from berth.engine.container import Container
from berth.engine.runtime import Runtime
from berth.errors import FailedPrecondition, InvalidArgument
from berth.util import jsonc

MAX_LOG = 5
ON_FAILURE = ("none", "kill", "restart", "stop")


def parse_health_cmd(value: str) -> list[str]:
    """`--health-cmd 'curl -f x'` is shell form; a JSON array is exec form (Podman's rules)."""
    v = value.strip()
    if not v or v.lower() == "none":
        return []
    if v.startswith("["):
        try:
            arr = jsonc.loads(v)
        except ValueError:
            raise InvalidArgument(f"invalid health command {value!r}") from None
        if arr and arr[0] in ("CMD", "CMD-SHELL", "NONE"):
            return [] if arr[0] == "NONE" else arr
        return ["CMD", *arr]
    return ["CMD-SHELL", v]


def health_config(cmd: str, interval: str, retries: int, start_period: str, timeout: str,
                  on_failure: str) -> dict | None:
    from berth.util.timefmt import parse_duration

    test = parse_health_cmd(cmd)
    if not test:
        return None
    if on_failure not in ON_FAILURE:
        raise InvalidArgument(f'invalid healthcheck on-failure action "{on_failure}"')
    if retries < 1:
        raise InvalidArgument("healthcheck-retries must be greater than 0")
    ivl = 0.0 if interval == "disable" else parse_duration(interval)
    if interval != "disable" and ivl < 1:
        raise InvalidArgument("healthcheck-interval must be at least 1 second")
    tmo = parse_duration(timeout)
    if tmo < 1:
        raise InvalidArgument("healthcheck-timeout must be at least 1 second")
    return {"Test": test, "Interval": ivl, "Retries": retries, "StartPeriod": parse_duration(start_period),
            "Timeout": tmo, "OnFailure": on_failure}


def initial_state() -> dict:
    return {"Status": "starting", "FailingStreak": 0, "Log": []}


def start_scheduler(rt: Runtime, c: Container) -> int:
    hc = c.config.get("healthcheck")
    if not hc or not hc.get("Interval"):
        return 0
    from berth.engine.lifecycle import berth_command

    cmd = [*berth_command(), *rt.opts.global_args(), "healthcheck", "run", c.id]
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in cmd)
    interval = max(1, int(hc["Interval"]))
    script = (f'while sleep {interval} && [ -d /proc/{c.state["pid"]} ]; do {quoted} >/dev/null 2>&1; done')
    p = subprocess.Popen(["/bin/sh", "-c", script], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    return p.pid


def stop_scheduler(c: Container) -> None:
    pid = c.state.get("health_pid", 0)
    if pid:
        try:
            os.killpg(pid, 15)
        except (ProcessLookupError, PermissionError):
            pass
        c.state["health_pid"] = 0


def run_check(rt: Runtime, c: Container) -> tuple[str, int]:
    """Run the container's healthcheck once; returns (status, exit code of the check)."""
    from berth.engine import lifecycle
    from berth.engine.exec import exec_capture

    hc = c.config.get("healthcheck")
    if not hc:
        raise FailedPrecondition(f"container {c.id} has no defined healthcheck")
    c = rt.reload(c)
    if not c.status.can_exec():
        raise FailedPrecondition("container is not running")
    test = hc["Test"]
    argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
    started = time.time()
    code, output = exec_capture(rt, c, argv, timeout=hc["Timeout"])
    ended = time.time()
    with rt.lock(c.id):
        c = rt.reload(c)
        h = c.state.get("health") or initial_state()
        in_start_period = ended - (c.state.get("started_at") or ended) < hc.get("StartPeriod", 0)
        if code == 0:
            h["Status"] = "healthy"
            h["FailingStreak"] = 0
        elif not in_start_period:
            h["FailingStreak"] = h.get("FailingStreak", 0) + 1
            if h["FailingStreak"] >= hc["Retries"]:
                h["Status"] = "unhealthy"
        from berth.util.timefmt import rfc3339

        h["Log"] = (h.get("Log") or [])[-(MAX_LOG - 1):] + [
            {"Start": rfc3339(started), "End": rfc3339(ended), "ExitCode": code, "Output": output[-4096:]}]
        c.state["health"] = h
        rt.save(c)
    status = h["Status"]
    if status == "unhealthy":
        action = hc.get("OnFailure", "none")
        if action == "kill":
            lifecycle.kill(rt, c, 9)
        elif action == "stop":
            lifecycle.stop(rt, c)
        elif action == "restart":
            lifecycle.restart(rt, c)
    return status, code
