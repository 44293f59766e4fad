"""berth/util/spawn.py: the subprocess-free fork+exec that starts conmon and netavark."""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from berth.util.spawn import Piped, _vfork_exec, spawn


def test_piped_feeds_stdin_and_collects_both_outputs_and_the_exit_code():
    p = Piped(["/bin/sh", "-c", "cat; echo oops >&2; exit 3"], b"x" * 20000 + b"\n")
    out, err = p.communicate()
    assert out == "x" * 20000 + "\n"
    assert err == "oops\n"
    assert p.returncode == 3


def _asleep_in(program: str, pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    return os.readlink(f"/proc/{pid}/exe") == program and state == "S"


def test_only_the_passed_fds_reach_the_child_and_sigpipe_is_default():
    r, w = os.pipe()
    other_r, other_w = os.pipe()
    os.set_inheritable(other_r, True)  # even an inheritable fd stays behind unless passed
    pid = spawn(["/bin/sleep", "30"], pass_fds=[w])
    try:
        # look once sleep is asleep: while the dynamic loader starts it, a library is open as fd 3
        deadline = time.monotonic() + 10
        while not _asleep_in("/usr/bin/sleep", pid) and time.monotonic() < deadline:
            time.sleep(0.005)
        assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == sorted({0, 1, 2, w})
        with open(f"/proc/{pid}/status") as f:
            ignored = int(next(ln for ln in f if ln.startswith("SigIgn:")).split()[1], 16)
        assert not ignored & (1 << (signal.SIGPIPE - 1)), "SIGPIPE is ignored in Python, not in its children"
        # glibc's posix_spawn would set its internal signals ignored, into conmon and the container;
        # spawn leaves them as this process has them (a CI harness may have started it with them
        # ignored already: an ignore survives exec, for Podman's children as for berth's)
        with open("/proc/self/status") as f:
            ours = int(next(ln for ln in f if ln.startswith("SigIgn:")).split()[1], 16)
        internal = 0b11 << 31
        assert ignored & internal == ours & internal, f"signals 32/33: SigIgn {ignored:x}, ours {ours:x}"
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        for fd in (r, w, other_r, other_w):
            os.close(fd)


def test_an_exec_failure_is_exit_127():
    pid = spawn(["/nonexistent/program"])
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 127


def test_piped_reports_a_program_that_cannot_run():
    p = Piped(["/nonexistent/netavark", "setup"], b"{}")
    assert p.communicate() == ("", "")
    assert p.returncode == 127 and p.argv[0] == "/nonexistent/netavark"


def test_a_netavark_that_cannot_run_is_a_one_line_error(tmp_path):
    from berth.engine.locks import locked
    from berth.network.netavark import NetworkError, Pending

    lock = locked(str(tmp_path / "host.lock"))
    lock.acquire()
    with pytest.raises(NetworkError, match=r"^netavark: exited with status 127 \(could not run /nonexistent/netavark\)$"):
        Pending(Piped(["/nonexistent/netavark", "setup"], b"{}"), lock).result()
    assert lock.fd == -1  # released on the error path too


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="_posixsubprocess.fork_exec changed its arguments in 3.14: "
                    "berth falls back to os.fork there")
def test_the_vfork_path_is_the_one_taken_on_this_python():
    # 3.11 (Debian 12) to 3.13 (Debian 13): fork_exec's 23 arguments; a failed exec reports 0 (the
    # caller then forks, which gives the documented exit code 127)
    pid = _vfork_exec(["/bin/true"], None, (0, 1, 2), (), False)
    assert pid > 0
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert _vfork_exec(["/nonexistent/program"], None, (0, 1, 2), (), False) == 0
