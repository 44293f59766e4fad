"""Deleting what a finished `run --rm` leaves behind after the command has answered.

By the time the container is removed, its trees are renamed out of the way (nothing in berth
finds them any more) and its cgroup directories are empty; deleting them costs a few ms of unlink
and rmdir calls that the user need not wait for.  A foreground `run --rm` opts in (enable());
everything else deletes synchronously, as before.  flush() forks one child that deletes and
exits; if it never runs, what is left are `*.removing-*` trees that the next removal of the same
kind, or a reboot for cgroups, takes away.
"""

from __future__ import annotations

import os

_trees: list[str] = []
_dirs: list[str] = []
_enabled = False


def enable() -> None:
    global _enabled
    _enabled = True


def deferring(fn, *args):
    """fn(*args) with deletions deferred, and the one child that does them started when it returns
    (a CLI command: the process exits right after its answer)."""
    enable()
    try:
        return fn(*args)
    finally:
        flush()


def tree(path: str) -> bool:
    """Rename path aside and delete it later; False (delete it yourself) when not enabled."""
    if not _enabled:
        return False
    trash = f"{path}.removing-{os.getpid()}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    _trees.append(trash)
    return True


def empty_dir(path: str) -> bool:
    """rmdir path later (an exited container's cgroup); False when not enabled."""
    if not _enabled:
        return False
    _dirs.append(path)
    return True


def flush() -> None:
    """Delete everything deferred, in a child process the caller does not wait for."""
    if not (_trees or _dirs):
        return
    try:
        pid = os.fork()
    except OSError:
        pid = 0  # no child: do it here
        _delete()
        return
    if pid == 0:
        try:
            os.setsid()
            # off the caller's stdio at once: a `$(berth run --rm ...)` reads until every writer is gone
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            _delete()
        finally:
            os._exit(0)
    _trees.clear()
    _dirs.clear()


def _delete() -> None:
    import shutil

    for t in _trees:
        shutil.rmtree(t, ignore_errors=True)
    for d in _dirs:
        try:
            os.rmdir(d)
        except OSError:
            pass
