"""Rootless: the user namespace every berth command of an ordinary user runs in.

The first command creates a user namespace mapped with newuidmap/newgidmap from /etc/subuid and
/etc/subgid (uid 0 inside = the user, 1..N = the subordinate range) and a mount namespace, and
leaves a pause process (catatonit -P) holding both.  Every later command joins them with setns(2)
in its own process: no second daemon, and, unlike a re-exec, no second interpreter start.
Containers (conmon, runc, the container itself) live inside, so they survive the CLI.
"""

from __future__ import annotations

import ctypes
import errno
import os
import pwd

from berth.errors import BerthError

CLONE_NEWUSER = 0x10000000
CLONE_NEWNS = 0x00020000
MS_REC = 16384
MS_PRIVATE = 1 << 18
PAUSE_PATHS = ("/usr/bin/catatonit", "/usr/libexec/podman/catatonit")

_libc = None


def _lib() -> ctypes.CDLL:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL("libc.so.6", use_errno=True)  # find_library would run ldconfig -p each time
    return _libc


from berth.config import in_userns  # noqa: E402  (one definition, shared with config)


class RootlessSetupError(BerthError):
    pass


def subid_range(path: str, user: str, uid: int) -> tuple[int, int]:
    try:
        with open(path) as f:
            for line in f:
                p = line.strip().split(":")
                if len(p) == 3 and p[0] in (user, str(uid)):
                    return int(p[1]), int(p[2])
    except OSError:
        pass
    kind = "subuid" if path.endswith("subuid") else "subgid"
    raise RootlessSetupError(
        f'cannot set up the user namespace: no {kind} ranges found for user "{user}" in {path}; '
        f"add them with: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {user}")


def mappings() -> dict:
    """The ranges this user maps: what `info` reports and the idmap options build on."""
    uid, gid = os.getuid(), os.getgid()
    user = pwd.getpwuid(uid).pw_name
    us, uc = subid_range("/etc/subuid", user, uid)
    gs, gc = subid_range("/etc/subgid", user, uid)
    return {"user": user, "uid": uid, "gid": gid, "uidmap": [(0, uid, 1), (1, us, uc)],
            "gidmap": [(0, gid, 1), (1, gs, gc)]}


def _pause_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def ensure(runroot: str) -> None:
    """Join this store's user and mount namespaces, creating them the first time."""
    if not (os.geteuid() != 0 or in_userns()):
        return
    pidfile = os.path.join(runroot, "pause.pid")
    pid = _read_pid(pidfile)
    if pid and _pause_alive(pid):
        if os.readlink("/proc/self/ns/user") == os.readlink(f"/proc/{pid}/ns/user"):
            return  # already inside (conmon's exit command, a container's healthcheck)
        _join(pid)
        return
    if in_userns():
        return  # inside some other user namespace (e.g. `berth unshare` of an older pause): stay
    os.makedirs(runroot, mode=0o700, exist_ok=True)
    from berth.engine.locks import locked

    with locked(os.path.join(runroot, "pause.lock")):
        pid = _read_pid(pidfile)
        if not (pid and _pause_alive(pid)):
            pid = _create_pause()
            tmp = f"{pidfile}.{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(str(pid))
            os.replace(tmp, pidfile)
    _join(pid)


def _read_pid(path: str) -> int:
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def _create_pause() -> int:
    import shutil  # only the first command of a session creates the namespace
    import subprocess

    m = mappings()
    for tool in ("newuidmap", "newgidmap"):
        if not shutil.which(tool):
            raise RootlessSetupError(f'command required for rootless mode with multiple IDs: exec: "{tool}": '
                                     "executable file not found in $PATH; install it with: sudo apt install uidmap "
                                     "(Fedora: sudo dnf install shadow-utils)")
    pause = next((p for p in PAUSE_PATHS if os.access(p, os.X_OK)), "")
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the pause process
        try:
            os.close(ready_r)
            os.close(go_w)
            os.setsid()
            if _lib().unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
                os.write(ready_w, b"E" + str(ctypes.get_errno()).encode())
                os._exit(1)
            os.write(ready_w, b"1")
            if os.read(go_r, 1) != b"1":
                os._exit(1)
            # our mounts must not propagate back to the host's namespace
            _lib().mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, 65536)
            if pause:
                os.execv(pause, [pause, "-P"])
            os.execv("/bin/sleep", ["sleep", "infinity"])
        finally:
            os._exit(127)
    os.close(ready_w)
    os.close(go_r)
    try:
        msg = os.read(ready_r, 16)
        if not msg.startswith(b"1"):
            raise RootlessSetupError(_userns_refused(int(msg[1:] or 0)))
        for tool, maps in (("newuidmap", m["uidmap"]), ("newgidmap", m["gidmap"])):
            argv = [tool, str(pid)] + [str(x) for triple in maps for x in triple]
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                raise RootlessSetupError(f"cannot set up namespace using \"{shutil.which(tool)}\": "
                                         f"{r.stderr.strip() or r.returncode}")
        os.write(go_w, b"1")
    except BaseException:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(ready_r)
        os.close(go_w)
    return pid


def _userns_refused(err: int) -> str:
    """Why the kernel refused unshare(CLONE_NEWUSER), and the setting that allows it."""
    what = f"cannot create a user namespace: {os.strerror(err) if err else 'unknown error'}"
    if err == errno.ENOSPC:  # user.max_user_namespaces is 0 (or the user has used them all up)
        return (f"{what}: the kernel allows no more user namespaces; raise the limit with: "
                "sudo sysctl -w user.max_user_namespaces=28633")
    # EPERM/EACCES: a distribution switch or an LSM forbids them to ordinary users; name the one set
    for path, disabled, fix in (("/proc/sys/kernel/unprivileged_userns_clone", "0",
                                 "kernel.unprivileged_userns_clone=1"),
                                ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
                                 "kernel.apparmor_restrict_unprivileged_userns=0")):
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value == disabled:
            return f"{what}: unprivileged user namespaces are disabled; enable them with: sudo sysctl -w {fix}"
    return (f"{what}: the kernel does not allow unprivileged user namespaces (a seccomp filter or security "
            "module may forbid them); allow them, or run berth as root")


def _join(pid: int) -> None:
    cwd = os.getcwd()
    for ns, flag in (("user", CLONE_NEWUSER), ("mnt", CLONE_NEWNS)):
        fd = os.open(f"/proc/{pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _lib().setns(fd, flag) != 0:
                err = ctypes.get_errno()
                raise RootlessSetupError(f"cannot join the user namespace of pause process {pid}: "
                                         f"{os.strerror(err)}")
        finally:
            os.close(fd)
    try:
        os.chdir(cwd)
    except OSError:
        os.chdir("/")
