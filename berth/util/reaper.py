"""Deleting what a finished `run --rm` leaves behind after the command has answered.

By the time the container is removed, its trees are renamed out of the way (nothing in berth
finds them any more) and its cgroup directories are empty; deleting them costs a few ms of unlink
and rmdir calls that the user need not wait for.  A foreground `run --rm` opts in (enable());
everything else deletes synchronously, as before.  flush() starts one `sh` that deletes and
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


# rm -rf each tree up to "--", then rmdir the (empty) cgroup dirs after it
_SCRIPT = 'while [ "$1" != -- ]; do rm -rf --one-file-system -- "$1"; shift; done; shift; rmdir -- "$@" 2>/dev/null; exit 0'


def flush() -> None:
    """Delete everything deferred, in a child process the caller does not wait for: rm and rmdir
    started with vfork (util/spawn), ~0.5 ms less on the caller than forking this interpreter."""
    if not (_trees or _dirs):
        return
    from berth.util.spawn import spawn

    try:
        # its own process group: a ^C meant for the command that just answered does not reach it
        spawn(["/bin/sh", "-c", _SCRIPT, "berth-reaper", *_trees, "--", *_dirs], new_group=True)
    except OSError:
        _delete()  # no child: do it here
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
