"""Named network namespaces owned by berth: a bind mount of a new netns onto a file.

The container's spec points at the file (linux.namespaces[network].path), so the namespace exists
before the runtime starts and after it stops: netavark configures it first, checkpoint/restore can
reuse it, and cleanup tears it down explicitly.
"""

from __future__ import annotations

import os
import subprocess

from berth.errors import BerthError
from berth.storage import mount as m


def netns_dir(runroot: str) -> str:
    return os.path.join(runroot, "netns")


def path_for(runroot: str, name: str) -> str:
    return os.path.join(netns_dir(runroot), name)


def create(runroot: str, name: str) -> str:
    d = netns_dir(runroot)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w"):
        pass
    # util-linux unshare makes the namespace persistent by bind-mounting it onto the file
    r = subprocess.run(["unshare", f"--net={path}", "true"], capture_output=True, text=True)
    if r.returncode != 0:
        os.unlink(path)
        raise BerthError(f"creating network namespace: {r.stderr.strip()}")
    return path


def remove(path: str) -> None:
    if not path:
        return
    m.umount(path, detach=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
