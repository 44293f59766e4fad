"""mount(2)/umount2(2) through libc, sparing a mount(8) process per container start."""

from __future__ import annotations

import os

from berth.errors import StorageError
from berth.util import libc

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2

def mount(source: str, target: str, fstype: str, flags: int = 0, data: str = "") -> None:
    rc = libc.call("mount", source.encode(), target.encode(), fstype.encode(), flags, data.encode() or None)
    if rc != 0:
        err = libc.errno()
        raise StorageError(f"mount {fstype} on {target}: {os.strerror(err)}")


def umount(target: str, detach: bool = False) -> bool:
    """Unmount; True if something was unmounted, False if it was not mounted."""
    rc = libc.call("umount2", target.encode(), MNT_DETACH if detach else 0)
    if rc != 0:
        err = libc.errno()
        if err in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            return False
        if err == 16 and not detach:  # EBUSY: fall back to a lazy unmount
            return umount(target, detach=True)
        raise StorageError(f"unmount {target}: {os.strerror(err)}")
    return True


def is_mounted(target: str) -> bool:
    target = os.path.realpath(target)
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if line.split(" ", 5)[4] == target:
                    return True
    except OSError:
        pass
    return False
