"""The machine's processes as the benches see them: one /proc walk for run.py and features.py."""

from __future__ import annotations

import os
from collections.abc import Iterator


def cmdlines() -> Iterator[tuple[int, bytes]]:
    """(pid, NUL-separated command line) of every process but this one and kernel threads."""
    me = os.getpid()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if cmd:
            yield int(d), cmd


def program(cmd: bytes) -> bytes:
    """The basename of a command line's program."""
    return os.path.basename(cmd.split(b"\0", 1)[0])


def shown(cmd: bytes) -> str:
    return cmd.replace(b"\0", b" ").decode(errors="replace")[:160]
