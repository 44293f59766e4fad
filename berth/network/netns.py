"""Named network namespaces owned by berth: a bind mount of a new netns onto a file.

The container's spec points at the file (linux.namespaces[network].path), so the namespace exists
before the runtime starts and after it stops: netavark configures it first, checkpoint/restore can
reuse it, and cleanup tears it down explicitly.
"""

from __future__ import annotations

import os

from berth.errors import BerthError
from berth.storage import mount as m

TYPE_CHECKING = False  # collections.abc imports collections (~2 ms); annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

CLONE_NEWNET = 0x40000000


def netns_dir(runroot: str) -> str:
    return os.path.join(runroot, "netns")


def path_for(runroot: str, name: str) -> str:
    return os.path.join(netns_dir(runroot), name)


def create(runroot: str, name: str) -> str:
    return begin_create(runroot, name)()


def begin_create(runroot: str, name: str) -> Callable[[], str]:
    """Start making the namespace and return a function that waits for it and returns its path
    (or raises, having removed the file). A new network namespace takes the kernel ~3 ms (loopback,
    sysctls, an RCU grace period); the caller does its own work meanwhile."""
    d = netns_dir(runroot)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, name)
    with open(path, "w"):
        pass
    wait = _new_netns_onto(path)

    def finish() -> str:
        err = wait()
        if err:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            raise BerthError(f"creating network namespace: {err}")
        return path

    return finish


def _new_netns_onto(path: str) -> Callable[[], str]:
    """What `unshare --net=PATH true` does, without its fork and exec (~5 ms): a thread of ours
    unshares its network namespace (a per-thread attribute) and bind-mounts it onto PATH, which
    keeps the namespace alive after the thread ends. The rest of the process never leaves its own
    namespace, which matters rootless: there it could not setns back into the host's.  Returns a
    function that waits for the thread and gives its error ("" if none)."""
    import _thread

    from berth.util import libc

    done = _thread.allocate_lock()
    done.acquire()
    failure: list[str] = []

    def work() -> None:
        try:
            if libc.call("unshare", CLONE_NEWNET) != 0:
                failure.append(f"unshare: {os.strerror(libc.errno())}")
                return
            m.mount("/proc/thread-self/ns/net", path, "none", m.MS_BIND)
        except Exception as e:  # noqa: BLE001 - reported to the caller, not lost with the thread
            failure.append(str(e))
        finally:
            done.release()

    _thread.start_new_thread(work, ())

    def wait() -> str:
        done.acquire()
        done.release()  # a second wait returns at once
        return failure[0] if failure else ""

    return wait


def remove(path: str) -> None:
    if not path:
        return
    m.umount(path, detach=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
