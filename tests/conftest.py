"""Fixtures: an isolated store per test, the busybox image, and a CLI runner.

Every test gets its own --root/--runroot under its tmp_path, so tests never see each other's
containers and never touch /var/lib/berth or Podman's store.  After each test every container
of that store is removed and the test fails if a mount or a conmon of its store is left behind.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
BUSYBOX_TAR = REPO / "images" / "busybox.tar"


def _ensure_busybox_tar() -> Path:
    if not BUSYBOX_TAR.exists():
        BUSYBOX_TAR.parent.mkdir(exist_ok=True)
        subprocess.run([str(REPO / "scripts" / "mkbusybox.sh"), str(BUSYBOX_TAR)], check=True)
    return BUSYBOX_TAR


class Berth:
    """Runs the berth CLI as a subprocess against one isolated store."""

    def __init__(self, base: Path) -> None:
        self.root = str(base / "root")
        self.runroot = str(base / "run")
        self.base = base

    def argv(self, *args: str) -> list[str]:
        return [PY, "-m", "berth", "--root", self.root, "--runroot", self.runroot, *args]

    def __call__(self, *args: str, input: str | bytes | None = None, timeout: float = 60,
                 check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
        text = not isinstance(input, bytes)
        r = subprocess.run(self.argv(*args), input=input, capture_output=True, text=text, timeout=timeout,
                           env=env, stdin=subprocess.DEVNULL if input is None else None)
        if check and r.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} exited {r.returncode}\nstdout: {r.stdout}\n"
                                 f"stderr: {r.stderr}")
        return r

    def out(self, *args: str, **kw) -> str:
        return self(*args, **kw).stdout.strip()

    def fail(self, *args: str, code: int | None = None, **kw) -> subprocess.CompletedProcess:
        r = self(*args, check=False, **kw)
        assert r.returncode != 0, f"berth {' '.join(args)} should have failed: {r.stdout}"
        if code is not None:
            assert r.returncode == code, f"exit {r.returncode}, wanted {code}: {r.stderr}"
        return r

    def popen(self, *args: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*args), **kw)


def until(fn, timeout: float = 15.0, every: float = 0.1):
    """Poll fn until it returns something true (and return that); fail after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(every)
    raise AssertionError("condition not reached")


def free_port() -> int:
    """A TCP port nobody holds right now (on every address), for a test to publish or listen on."""
    import socket

    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split(" ")[4] for ln in f if ln.split(" ")[4].startswith(path)]


def conmons_for(path: str) -> list[int]:
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"conmon") and any(path.encode() in a for a in cmd):
            pids.append(int(d))
    return pids


@pytest.fixture(scope="session")
def busybox_tar() -> Path:
    return _ensure_busybox_tar()


@pytest.fixture
def berth(tmp_path: Path):
    b = Berth(tmp_path)
    yield b
    b("rm", "-af", "-t", "0", check=False, timeout=120)
    deadline = time.monotonic() + 10
    while (conmons_for(b.root) or mounts_under(b.root)) and time.monotonic() < deadline:
        time.sleep(0.1)
    leaked_mounts = mounts_under(str(tmp_path))
    leaked_conmon = conmons_for(b.root)
    for pid in leaked_conmon:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    for m in sorted(leaked_mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], check=False)
    assert not leaked_mounts, f"mounts left behind: {leaked_mounts}"
    assert not leaked_conmon, f"conmon processes left behind: {leaked_conmon}"


@pytest.fixture
def bb(berth: Berth, busybox_tar: Path) -> Berth:
    """A store holding localhost/busybox."""
    berth("import", str(busybox_tar), "localhost/busybox")
    return berth
