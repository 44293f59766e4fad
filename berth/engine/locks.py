"""fcntl locks: one file per container plus one for the layer store.

flock locks die with their process, so a SIGKILLed CLI never leaves a stale lock.
Order when several are needed: store, then pod, then container.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def locked(path: str, shared: bool = False) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def container_lock(runroot: str, cid: str) -> contextmanager:
    return locked(os.path.join(runroot, "locks", cid))


def store_lock(root: str) -> contextmanager:
    return locked(os.path.join(root, "storage.lock"))
