"""fork+exec of helper programs on the container start path, without importing subprocess.

What subprocess.Popen(close_fds=True, pass_fds=..., process_group=0) does for the programs berth
starts while a user waits (conmon, netavark): subprocess and the threading, selectors and signal
machinery it imports cost ~4 ms per command here.  Not posix_spawn: glibc's leaves its internal
signals (32, 33) ignored in the child, and an ignored signal survives exec into conmon and the
container.
"""

from __future__ import annotations

import os
import select


def spawn(argv: list[str], env: dict[str, str] | None = None, stdio: tuple[int, int, int] | None = None,
          pass_fds: list[int] | tuple[int, ...] = (), new_group: bool = False) -> int:
    """Start argv[0] (a path) with stdio as fds 0-2 (/dev/null where None) and exactly pass_fds
    open besides; returns its pid. An exec failure shows as exit code 127."""
    import _signal as signal  # not signal.py, whose enums cost ~0.5 ms

    devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    fds = stdio or (devnull, devnull, devnull)
    pid = os.fork()
    if pid:
        os.close(devnull)
        return pid
    try:  # the child: nothing here may raise past os._exit
        if new_group:
            os.setpgid(0, 0)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # ignored by Python; an ignore survives exec
            signal.signal(sig, signal.SIG_DFL)
        # dup2 onto 0-2 from copies above 2: a pipe end that is itself 0-2 must not be overwritten
        high = [os.dup(fd) if fd >= 0 else devnull for fd in fds]
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
