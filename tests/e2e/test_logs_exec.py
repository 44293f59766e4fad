"""logs (k8s-file log read back: --tail --since --until -t -f) and exec (-i -t -d -e -u -w, exit codes)."""

from __future__ import annotations

import re
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pytest

IMG = "localhost/busybox"
# Containers get no network unless a test is about networking: bridge setup of parallel stores races on
# the host's shared podman0 bridge and its iptables chains (see the report), which is not what these test.
RUN = ("run", "--network", "none")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d) ")


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def logged(bb):
    """An exited container that wrote five stdout lines, one stderr line and a last partial line."""
    script = "for i in 1 2 3 4 5; do echo out$i; done; echo err1 >&2; printf no-newline"
    bb(*RUN, "--name", "lg", IMG, "sh", "-c", script)
    return bb


@pytest.fixture
def up(bb):
    bb(*RUN, "-d", "--name", "up", "-e", "FROM_RUN=yes", IMG, "sleep", "60")
    yield bb
    bb("stop", "-t", "0", "up")


# ------------------------------------------------------------------ logs


def test_logs_streams(logged):
    r = logged("logs", "lg")
    assert r.stdout == "out1\nout2\nout3\nout4\nout5\nno-newline"
    assert r.stderr == "err1\n"


def test_logs_tail(bb):
    bb(*RUN, "--name", "lines", IMG, "sh", "-c", "for i in 1 2 3 4 5; do echo out$i; done")
    assert bb("logs", "--tail", "2", "lines").stdout == "out4\nout5\n"
    assert bb("logs", "--tail", "1", "lines").stdout == "out5\n"
    r = bb("logs", "--tail", "0", "lines")
    assert (r.stdout, r.stderr) == ("", "")
    assert bb("logs", "--tail", "100", "lines").stdout == bb("logs", "lines").stdout
    assert bb("logs", "--tail", "-1", "lines").stdout.count("\n") == 5


def test_logs_timestamps(logged):
    r = logged("logs", "-t", "lg")
    lines = r.stdout.splitlines()
    assert len(lines) == 6
    for line in lines + r.stderr.splitlines():
        assert STAMP.match(line), line
    assert [STAMP.sub("", ln) for ln in lines] == ["out1", "out2", "out3", "out4", "out5", "no-newline"]
    # Go's RFC3339Nano, as Podman prints it: trailing zeros cut, Z for UTC
    stamp = lines[0].split(" ", 1)[0]
    assert not re.search(r"\.\d*0(Z|[+-])", stamp) and not stamp.endswith("+00:00")


def test_logs_since_until(logged):
    now = datetime.now(UTC)
    all_out = logged("logs", "lg").stdout
    assert logged("logs", "--since", _iso(now - timedelta(minutes=5)), "lg").stdout == all_out
    r = logged("logs", "--since", _iso(now + timedelta(minutes=5)), "lg")
    assert (r.stdout, r.stderr) == ("", "")
    assert logged("logs", "--since", "5m", "lg").stdout == all_out  # a duration counts back from now
    r = logged("logs", "--until", _iso(now - timedelta(minutes=5)), "lg")
    assert (r.stdout, r.stderr) == ("", "")
    assert logged("logs", "--until", _iso(now + timedelta(minutes=5)), "lg").stdout == all_out
    assert logged("logs", "--until", "5m", "lg").stdout == all_out  # ... and for --until, forward
    assert logged("logs", "--since", str(int(now.timestamp()) - 300), "lg").stdout == all_out  # Unix seconds


def test_logs_since_splits_the_output(bb):
    bb(*RUN, "-d", "--name", "two", IMG, "sh", "-c", "echo early; sleep 1.5; echo late")
    time.sleep(0.8)
    middle = _iso(datetime.now(UTC))
    assert bb.out("wait", "two") == "0"
    assert bb.out("logs", "--since", middle, "two") == "late"
    assert bb.out("logs", "--until", middle, "two") == "early"


def test_logs_follow_returns_when_the_container_exits(bb):
    bb(*RUN, "-d", "--name", "fl", IMG, "sh", "-c", "echo first; sleep 1; echo second; sleep 0.5; exit 3")
    t0 = time.monotonic()
    r = bb("logs", "-f", "fl", timeout=30)
    assert time.monotonic() - t0 < 20
    assert r.stdout == "first\nsecond\n"
    assert bb.out("wait", "fl") == "3"


def test_logs_follow_streams_while_running(bb):
    bb(*RUN, "-d", "--name", "tick", IMG, "sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.2; done")
    p = bb.popen("logs", "-f", "--tail", "1", "tick", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        first = p.stdout.readline()
        second = p.stdout.readline()
        assert re.fullmatch(rb"tick\d+\n", first) and re.fullmatch(rb"tick\d+\n", second)
        assert int(second[4:]) == int(first[4:]) + 1
        bb("stop", "-t", "0", "tick")
        p.wait(timeout=20)  # -f ends by itself once the container is gone
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
        p.communicate()


def test_logs_of_a_running_and_a_removed_container(bb):
    bb(*RUN, "-d", "--name", "live", IMG, "sh", "-c", "echo hello-live; sleep 60")
    end = time.monotonic() + 10
    while "hello-live" not in bb.out("logs", "live") and time.monotonic() < end:
        time.sleep(0.05)
    assert bb.out("logs", "live") == "hello-live"
    bb("rm", "-f", "-t", "0", "live")
    r = bb("logs", "live", check=False)
    assert r.returncode == 125 and "no such container" in r.stderr


# ------------------------------------------------------------------ exec


def test_exec_exit_code_and_streams(up):
    r = up("exec", "up", "sh", "-c", "echo to-out; echo to-err >&2; exit 7", check=False)
    assert (r.returncode, r.stdout, r.stderr) == (7, "to-out\n", "to-err\n")
    assert up("exec", "up", "true").returncode == 0


def test_exec_sees_the_container(up):
    pid1 = up.out("exec", "up", "cat", "/proc/1/cmdline").split("\0")[0]
    assert pid1 == "sleep"
    assert up.out("exec", "up", "sh", "-c", "echo $FROM_RUN") == "yes"  # the container's environment
    assert up.out("exec", "up", "hostname") == up.out("inspect", "--format", "{{.Config.Hostname}}", "up")


def test_exec_env_user_workdir(up):
    envf = up.base / "env"
    envf.write_text("FROM_FILE=f\n")
    out = up.out("exec", "-e", "A=1", "--env", "FROM_RUN=overridden", "--env-file", str(envf), "-u", "1000",
                 "-w", "/tmp", "up", "sh", "-c", "echo $A $FROM_RUN $FROM_FILE; id -u; pwd")
    assert out.splitlines() == ["1 overridden f", "1000", "/tmp"]
    assert up.out("exec", "-u", "nobody", "up", "id", "-un") == "nobody"
    assert up.out("exec", "up", "id", "-u") == "0"
    assert up.out("exec", "up", "pwd") == "/"


def test_exec_interactive_stdin(up):
    assert up("exec", "-i", "up", "cat", input="piped in\n").stdout == "piped in\n"
    assert up("exec", "-i", "up", "wc", "-c", input="x" * 100_000).stdout.strip() == "100000"
    # without -i the command gets no stdin
    r = up("exec", "up", "cat", input="not for it\n", timeout=20)
    assert (r.returncode, r.stdout) == (0, "")


def test_exec_detach(up):
    r = up("exec", "-d", "up", "sh", "-c", "sleep 0.3; echo done > /tmp/marker")
    assert r.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.stdout)
    end = time.monotonic() + 10
    while up("exec", "up", "test", "-f", "/tmp/marker", check=False).returncode and time.monotonic() < end:
        time.sleep(0.1)
    assert up.out("exec", "up", "cat", "/tmp/marker") == "done"


def test_exec_latest(up):
    assert up.out("exec", "-l", "echo", "latest") == "latest"


def test_exec_tty_without_a_local_terminal(up):
    r = up("exec", "-t", "up", "sh", "-c", "tty; echo err >&2", check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.replace("\r\n", "\n") == "/dev/pts/0\nerr\n"  # one terminal: stderr comes on stdout


def test_exec_does_not_outlive_the_container(bb):
    bb(*RUN, "-d", "--name", "short", IMG, "sleep", "60")
    p = bb.popen("exec", "short", "sleep", "60", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(0.5)
    bb("stop", "-t", "0", "short")
    p.communicate(timeout=20)
    assert p.returncode != 0
