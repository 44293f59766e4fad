"""Restart policies carried out by conmon's exit command: no daemon anywhere."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

from tests.conftest import mounts_under, until


def _until(fn, timeout: float = 15.0):
    return until(fn, timeout)


def _state(b, name: str) -> tuple[str, int]:
    status, count = b.out("inspect", "-f", "{{.State.Status}} {{.RestartCount}}", name).split()
    return status, int(count)


def test_on_failure_restarts_up_to_the_limit(bb):
    bb("run", "-d", "--name", "flaky", "--restart", "on-failure:2", "localhost/busybox", "sh", "-c", "exit 3")
    _until(lambda: _state(bb, "flaky") == ("exited", 2))
    time.sleep(1)
    assert _state(bb, "flaky") == ("exited", 2)
    assert bb.out("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}",
                  "flaky") == "on-failure 2"
    assert bb.out("inspect", "-f", "{{.State.ExitCode}}", "flaky") == "3"


def test_on_failure_leaves_a_clean_exit_alone(bb):
    bb("run", "-d", "--name", "ok", "--restart", "on-failure", "localhost/busybox", "true")
    _until(lambda: _state(bb, "ok")[0] == "exited")
    time.sleep(1)
    assert _state(bb, "ok") == ("exited", 0)


def test_always_restarts_after_a_crash_but_never_after_stop(bb):
    bb("run", "-d", "--name", "svc", "--restart", "always", "localhost/busybox", "sleep", "300")
    pid = int(bb.out("inspect", "-f", "{{.State.Pid}}", "svc"))
    os.kill(pid, signal.SIGKILL)
    _until(lambda: _state(bb, "svc") == ("running", 1))
    assert int(bb.out("inspect", "-f", "{{.State.Pid}}", "svc")) != pid
    bb("stop", "-t", "0", "svc")
    time.sleep(1.5)
    assert _state(bb, "svc") == ("exited", 1)


def test_rm_conflicts_with_a_restart_policy(bb):
    r = bb.fail("run", "--rm", "--restart", "always", "localhost/busybox", "true", code=125)
    assert "the --rm option conflicts with --restart" in r.stderr
    assert bb.out("ps", "-aq") == ""


def test_update_changes_the_policy(bb):
    bb("create", "--name", "u", "localhost/busybox", "true")
    bb("update", "--restart", "unless-stopped", "u")
    assert bb.out("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", "u") == "unless-stopped"
    assert "is not a valid restart policy" in bb.fail("update", "--restart", "sometimes", "u", code=125).stderr


def test_containers_come_back_after_a_simulated_reboot(bb):
    bb("run", "-d", "--name", "always", "--restart", "always", "localhost/busybox", "sleep", "300")
    bb("run", "-d", "--name", "unless", "--restart", "unless-stopped", "localhost/busybox", "sleep", "300")
    bb("run", "-d", "--name", "stopped", "--restart", "unless-stopped", "localhost/busybox", "sleep", "300")
    bb("run", "-d", "--name", "plain", "localhost/busybox", "sleep", "300")
    bb("stop", "-t", "0", "stopped")
    for name in ("always", "unless", "plain"):
        for pid in bb.out("inspect", "-f", "{{.State.ConmonPid}} {{.State.Pid}}", name).split():
            os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.3)
    for m in sorted(mounts_under(bb.runroot), key=len, reverse=True):  # a reboot unmounts everything
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(bb.runroot)  # processes gone and the tmpfs wiped: a reboot
    assert bb.out("ps", "--format", "{{.Names}}") == ""
    bb("start", "--all", "--filter", "restart-policy=always")
    assert bb.out("ps", "--format", "{{.Names}}") == "always"
    bb("start", "--all", "--filter", "should-start-on-boot=true")
    assert sorted(bb.out("ps", "--format", "{{.Names}}").split()) == ["always", "unless"]
