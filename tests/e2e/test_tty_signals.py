"""Terminals, signals, a SIGKILLed CLI and a simulated reboot: what a daemonless engine must survive."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import shutil
import signal
import struct
import subprocess
import termios
import time

from tests.conftest import conmons_for, mounts_under


def _read(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if until and until in out:
                break
    return out


def _spawn_on_pty(argv: list[str], rows: int = 40, cols: int = 100) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return pid, fd


def _wait_running(berth, name: str, timeout: float = 10) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = berth("inspect", "-f", "{{.State.Status}}", name, check=False)
        if r.stdout.strip() == "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never ran")


def test_run_it_is_a_real_terminal_with_resize_detach_and_attach(bb):
    pid, fd = _spawn_on_pty(bb.argv("run", "-it", "--name", "t1", "localhost/busybox", "sh"))
    assert b"/ # " in _read(fd, 10, until=b"/ # ")
    os.write(fd, b"stty size; tty\n")
    out = _read(fd, 5, until=b"/dev/pts/")
    assert b"40 100" in out and b"/dev/pts/0" in out
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 90, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    time.sleep(0.3)
    os.write(fd, b"stty size\n")
    assert b"30 90" in _read(fd, 5, until=b"30 90")
    os.write(fd, b"\x10\x11")  # ctrl-p ctrl-q
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    os.close(fd)
    assert bb.out("inspect", "-f", "{{.State.Status}}", "t1") == "running"

    pid, fd = _spawn_on_pty(bb.argv("attach", "t1"))
    time.sleep(0.5)
    os.write(fd, b"echo back-again; exit 5\n")
    assert b"back-again" in _read(fd, 5, until=b"back-again\r\n")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 5
    assert bb.out("inspect", "-f", "{{.State.ExitCode}}", "t1") == "5"


def test_signals_reach_the_container_of_a_foreground_run(bb):
    script = "trap 'echo got-term; exit 9' TERM; echo ready; while :; do sleep 0.1; done"
    p = bb.popen("run", "--rm", "--name", "sig", "localhost/busybox", "sh", "-c", script,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGTERM)
    out, _ = p.communicate(timeout=20)
    assert b"got-term" in out
    assert p.returncode == 9


def test_sig_proxy_false_leaves_the_container_alone(bb):
    p = bb.popen("run", "--sig-proxy=false", "--name", "nosig", "localhost/busybox", "sh", "-c",
                 "trap 'echo got-usr1' USR1; echo ready; sleep 1; echo done",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    p.send_signal(signal.SIGUSR1)  # berth's own default action: it dies, the container goes on
    p.wait(timeout=10)
    assert bb.out("wait", "nosig") == "0"
    assert "got-usr1" not in bb.out("logs", "nosig")


def test_sigkill_of_the_cli_mid_run_leaves_a_working_store(bb):
    p = bb.popen("run", "--rm", "--name", "victim", "localhost/busybox", "sleep", "30",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_running(bb, "victim")
    p.kill()
    p.wait()
    # the container outlives its CLI; the next commands work and --rm still happens (exit command)
    assert "victim" in bb.out("ps", "--format", "{{.Names}}")
    bb("stop", "-t", "0", "victim")
    end = time.monotonic() + 10
    while bb("container", "exists", "victim", check=False).returncode == 0 and time.monotonic() < end:
        time.sleep(0.05)
    assert bb("container", "exists", "victim", check=False).returncode == 1
    # SIGKILL at arbitrary moments of `run -d`: whatever is left, rm -af clears it without leaks
    for delay in (0.02, 0.06, 0.12, 0.25):
        p = bb.popen("run", "-d", "localhost/busybox", "sleep", "30",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
    bb("ps", "-a")
    bb("rm", "-af", "-t", "0")
    assert bb.out("ps", "-aq") == ""
    end = time.monotonic() + 10
    while (conmons_for(bb.root) or mounts_under(bb.root)) and time.monotonic() < end:
        time.sleep(0.1)
    assert not mounts_under(bb.root)
    assert not conmons_for(bb.root)


def test_runroot_loss_is_detected_and_repaired(bb):
    cid = bb.out("run", "-d", "--name", "boot", "localhost/busybox", "sleep", "300")
    pids = bb.out("inspect", "-f", "{{.State.ConmonPid}} {{.State.Pid}}", "boot").split()
    for pid in pids:
        os.kill(int(pid), signal.SIGKILL)
    time.sleep(0.2)
    for m in sorted(mounts_under(bb.runroot), key=len, reverse=True):  # a reboot unmounts everything
        subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(bb.runroot)  # what a reboot does to the tmpfs
    out = bb.out("ps", "-a", "--format", "{{.Names}} {{.State}}")
    assert out == "boot exited"
    assert not [m for m in mounts_under(bb.root) if cid in m]
    bb("start", "boot")
    assert bb.out("inspect", "-f", "{{.State.Status}}", "boot") == "running"
    bb("stop", "-t", "0", "boot")
