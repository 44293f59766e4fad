"""Healthchecks that run without systemd, and sd_notify for systemd units."""

from __future__ import annotations

import os
import socket

from tests.conftest import until


def _status(b, name: str) -> str:
    return b.out("inspect", "-f", "{{.State.Health.Status}}", name)


def _until(fn, timeout: float = 20.0):
    return until(fn, timeout)


def _schedulers(cid: str) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read()
            except OSError:
                continue
            if cid.encode() in cmd and b"healthcheck" in cmd and cmd.startswith(b"/bin/sh"):
                out.append(int(d))
    return out


def test_health_turns_unhealthy_then_healthy_and_shows_in_ps(bb):
    cid = bb.out("run", "-d", "--name", "h", "--health-cmd", "test -e /tmp/ok", "--health-interval", "1s",
                 "--health-retries", "2", "localhost/busybox", "sleep", "300")
    assert _status(bb, "h") == "starting"
    assert bb.out("ps", "--format", "{{.Status}}").endswith("(starting)")
    _until(lambda: _status(bb, "h") == "unhealthy")
    r = bb("healthcheck", "run", "h", check=False)
    assert (r.returncode, r.stdout.strip()) == (1, "unhealthy")
    bb("exec", "h", "touch", "/tmp/ok")
    assert bb("healthcheck", "run", "h").returncode == 0
    assert bb.out("ps", "--format", "{{.Status}}").endswith("(healthy)")
    log = bb.out("inspect", "-f", "{{range .State.Health.Log}}{{.ExitCode}} {{end}}", "h").split()
    assert log[-1] == "0" and "1" in log
    assert bb.out("inspect", "-f", "{{index .Config.Healthcheck.Test 0}}", "h") == "CMD-SHELL"
    assert len(_schedulers(cid)) == 1
    bb("stop", "-t", "0", "h")
    _until(lambda: not _schedulers(cid), timeout=5)


def test_wait_condition_healthy(bb):
    bb("run", "-d", "--name", "w", "--health-cmd", "true", "--health-interval", "1s", "localhost/busybox",
       "sleep", "300")
    r = bb("wait", "--condition", "healthy", "w", timeout=20)
    assert r.returncode == 0
    assert _status(bb, "w") == "healthy"


def test_on_failure_kill_stops_the_container(bb):
    bb("run", "-d", "--name", "k", "--health-cmd", "false", "--health-interval", "1s", "--health-retries", "1",
       "--health-on-failure", "kill", "localhost/busybox", "sleep", "300")
    _until(lambda: bb.out("inspect", "-f", "{{.State.Status}}", "k") == "exited")
    assert bb.out("inspect", "-f", "{{.State.ExitCode}}", "k") == "137"


def test_health_flag_errors(bb):
    r = bb.fail("run", "--health-cmd", "true", "--health-on-failure", "explode", "localhost/busybox", "true",
                code=125)
    assert "on-failure" in r.stderr
    assert bb.out("ps", "-aq") == ""


def _listen(tmp_path):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(10)
    return s, path


def test_sdnotify_conmon_sends_ready_with_conmon_as_mainpid(bb, tmp_path):
    s, path = _listen(tmp_path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    bb("run", "-d", "--name", "n", "--sdnotify", "conmon", "localhost/busybox", "sleep", "300", env=env)
    msg = s.recv(4096).decode()
    conmon = bb.out("inspect", "-f", "{{.State.ConmonPid}}", "n")
    assert msg == f"MAINPID={conmon}\nREADY=1"


def test_sdnotify_container_relays_what_the_container_says(bb, tmp_path):
    s, path = _listen(tmp_path)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    cid = bb.out("run", "-d", "--name", "c", "--sdnotify", "container", "localhost/busybox", "sh", "-c",
                 "echo $NOTIFY_SOCKET; ls /run/notify; sleep 300", env=env)
    _until(lambda: "notify.sock" in bb.out("logs", "c"))
    assert bb.out("logs", "c").splitlines()[0] == "/run/notify/notify.sock"
    # what a process in the container writes to its socket reaches systemd's socket through conmon
    inner = os.path.join(bb.root, "containers", cid, "userdata", "notify", "notify.sock")
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fd = os.open(os.path.dirname(inner), os.O_PATH)
    try:
        c.sendto(b"READY=1", f"/proc/self/fd/{fd}/notify.sock")  # the path is longer than sun_path
    finally:
        os.close(fd)
    assert b"READY=1" in s.recv(4096)


def test_sdnotify_ignore_sends_nothing(bb, tmp_path):
    s, path = _listen(tmp_path)
    s.settimeout(1)
    env = dict(os.environ, NOTIFY_SOCKET=path)
    bb("run", "-d", "--name", "i", "--sdnotify", "ignore", "localhost/busybox", "sh", "-c",
       "echo ${NOTIFY_SOCKET:-unset}; sleep 300", env=env)
    try:
        got = s.recv(4096)
    except TimeoutError:
        got = b""
    assert got == b""
    _until(lambda: bb.out("logs", "i"))
    assert bb.out("logs", "i") == "unset"
