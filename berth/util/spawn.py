"""fork+exec of helper programs on the container start path, without importing subprocess.

What subprocess.Popen(close_fds=True, pass_fds=..., process_group=0) does for the programs berth
starts while a user waits (conmon, netavark): subprocess and the threading, selectors and signal
machinery it imports cost ~4 ms per command here.  Not posix_spawn: glibc's leaves its internal
signals (32, 33) ignored in the child, and an ignored signal survives exec into conmon and the
container.

The C half of subprocess, _posixsubprocess.fork_exec, does it with vfork where it can: the parent
is paused until the exec instead of going on with its memory shared copy-on-write with a child
that is about to discard it.  Measured here: os.fork costs ~0.5 ms plus ~1.5 ms of page faults in
the Python work that follows it; vfork ~0.25 ms.  Its signature is CPython's own business (this
one is 3.11-3.13's), so any surprise falls back to os.fork.
"""

from __future__ import annotations

import os
import select


def spawn(argv: list[str], env: dict[str, str] | None = None, stdio: tuple[int, int, int] | None = None,
          pass_fds: list[int] | tuple[int, ...] = (), new_group: bool = False) -> int:
    """Start argv[0] (a path) with stdio as fds 0-2 (/dev/null where None) and exactly pass_fds
    open besides; returns its pid. An exec failure shows as exit code 127."""
    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        fds = tuple(fd if fd >= 0 else devnull for fd in stdio) if stdio else (devnull, devnull, devnull)
        pid = _vfork_exec(argv, env, fds, pass_fds, new_group)
        if pid <= 0:
            pid = _fork_exec(argv, env, fds, pass_fds, new_group)
    finally:
        os.close(devnull)
    return pid


def _vfork_exec(argv: list[str], env: dict[str, str] | None, fds: tuple[int, int, int],
                pass_fds: list[int] | tuple[int, ...], new_group: bool) -> int:
    """The child's pid, or 0 when the exec failed or fork_exec is not the one this was written for."""
    try:
        from _posixsubprocess import fork_exec
    except ImportError:
        return 0
    env_list = [f"{k}={v}".encode() for k, v in (os.environ if env is None else env).items()]
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    try:
        try:
            # args, executable_list, close_fds, pass_fds, cwd, env, p2cread, p2cwrite, c2pread,
            # c2pwrite, errread, errwrite, errpipe_read, errpipe_write, restore_signals (SIGPIPE
            # and SIGXFSZ back to default), call_setsid, pgid_to_set, gid, extra_groups, uid,
            # child_umask, preexec_fn, allow_vfork
            # err_w stays open in the child until the exec (it reports a failure there)
            keep = tuple(sorted({*pass_fds, err_w}))
            pid = fork_exec(argv, [os.fsencode(argv[0])], True, keep, None, env_list,
                            fds[0], -1, -1, fds[1], -1, fds[2], err_r, err_w, True, False,
                            0 if new_group else -1, None, None, None, -1, None, True)
        except TypeError:
            return 0
        os.close(err_w)
        err_w = -1
        failed = os.read(err_r, 256)  # EOF at the exec (the pipe is close-on-exec); else why not
        if failed:
            os.waitpid(pid, 0)
            return 0
        return pid
    finally:
        os.close(err_r)
        if err_w >= 0:
            os.close(err_w)


def _fork_exec(argv: list[str], env: dict[str, str] | None, fds: tuple[int, int, int],
               pass_fds: list[int] | tuple[int, ...], new_group: bool) -> int:
    import _signal as signal  # not signal.py, whose enums cost ~0.5 ms

    pid = os.fork()
    if pid:
        return pid
    try:  # the child: nothing here may raise past os._exit
        if new_group:
            os.setpgid(0, 0)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # ignored by Python; an ignore survives exec
            signal.signal(sig, signal.SIG_DFL)
        # dup2 onto 0-2 from copies above 2: a pipe end that is itself 0-2 must not be overwritten
        high = [os.dup(fd) for fd in fds]
        for target, fd in enumerate(high):
            os.dup2(fd, target)
        keep = sorted(set(pass_fds))
        low = 3
        for fd in keep:
            os.closerange(low, fd)
            os.set_inheritable(fd, True)
            low = fd + 1
        os.closerange(low, os.sysconf("SC_OPEN_MAX"))
        os.execve(argv[0], argv, os.environ if env is None else env)
    except BaseException:
        pass
    os._exit(127)


class Piped:
    """A child with its stdin, stdout and stderr on pipes (what Popen(stdin=PIPE, stdout=PIPE,
    stderr=PIPE, text=True) gives); communicate() collects both outputs and the exit code.
    stdin is written whole before anything is read: it must fit a pipe (64 KiB), as netavark's
    JSON does, or a child that answers before reading all of it would wait on us forever."""

    def __init__(self, argv: list[str], stdin: bytes = b"", env: dict[str, str] | None = None) -> None:
        self.argv = argv
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            self.pid = spawn(argv, env, (in_r, out_w, err_w))
        except BaseException:
            for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
                os.close(fd)
            raise
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        try:
            if stdin:
                os.write(in_w, stdin)  # a few KB: fits the pipe, never blocks
        except OSError:
            pass  # the child died early: communicate() reports why
        finally:
            os.close(in_w)
        self._out, self._err = out_r, err_r
        self.returncode: int | None = None

    def communicate(self) -> tuple[str, str]:
        chunks: dict[int, list[bytes]] = {self._out: [], self._err: []}
        open_fds = [self._out, self._err]
        while open_fds:
            ready, _, _ = select.select(open_fds, [], [])
            for fd in ready:
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    open_fds.remove(fd)
                    os.close(fd)
        self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return (b"".join(chunks[self._out]).decode(errors="replace"),
                b"".join(chunks[self._err]).decode(errors="replace"))
