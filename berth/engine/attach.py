"""Attach to a container through conmon's attach socket.

The socket (<bundle>/attach, SOCK_SEQPACKET) is reached through /proc/self/fd/<O_PATH fd> so its
path may be longer than sun_path's 108 bytes.  Every packet from conmon starts with one byte
naming the stream (2 stdout, 3 stderr); stdin goes the other way raw, and a half-close means EOF.
Detach keys are handled here, on the client side, as Podman does.
"""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~0.5 ms at every start
import _socket  # the C module: socket.py builds four IntEnums at import (~2 ms of every run)
import os
import select
import sys

TYPE_CHECKING = False  # collections.abc imports collections (~2 ms); annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

STDOUT, STDERR = 2, 3


def connect(bundle: str) -> _socket.socket:
    path = os.path.join(bundle, "attach")
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        s.connect(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    return s


class Terminal:
    """Puts the local terminal in raw mode and forwards its size to conmon's ctl FIFO."""

    def __init__(self, fd: int, bundle: str) -> None:
        import termios
        import tty

        self.fd = fd
        self.bundle = bundle
        self.saved = termios.tcgetattr(fd)
        tty.setraw(fd)
        self.resize()
        self.old_handler = signal.signal(signal.SIGWINCH, lambda *_: self.resize())

    def resize(self) -> None:
        from berth.oci.conmon import write_ctl

        try:
            cols, rows = os.get_terminal_size(self.fd)
        except OSError:
            return
        write_ctl(self.bundle, 1, rows, cols)

    def restore(self) -> None:
        import termios

        termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
        signal.signal(signal.SIGWINCH, self.old_handler or signal.SIG_DFL)


def stream(sock: _socket.socket, *, stdin: bool, tty: bool, detach_keys: bytes = b"\x10\x11",
           stdout=None, stderr=None, on_stdin_eof: Callable[[], None] | None = None) -> str:
    """Copy between the local stdio and the container until it closes: 'exited' or 'detached'."""
    out = stdout or sys.stdout.buffer
    err = stderr or sys.stderr.buffer
    in_fd = sys.stdin.fileno() if stdin else -1
    watch = [sock.fileno()] + ([in_fd] if in_fd >= 0 else [])
    matched = 0
    while True:
        try:
            ready, _, _ = select.select(watch, [], [])
        except InterruptedError:
            continue
        if sock.fileno() in ready:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return "exited"
            kind, payload = data[0], data[1:]
            target = err if kind == STDERR and not tty else out
            target.write(payload)
            target.flush()
        if in_fd >= 0 and in_fd in ready:
            try:
                chunk = os.read(in_fd, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                watch.remove(in_fd)
                in_fd = -1
                try:
                    sock.shutdown(_socket.SHUT_WR)
                except OSError:
                    pass
                if on_stdin_eof:
                    on_stdin_eof()
                continue
            if tty and detach_keys:
                send = bytearray()
                for b in chunk:
                    if b == detach_keys[matched]:
                        matched += 1
                        if matched == len(detach_keys):
                            return "detached"
                        continue
                    if matched:
                        send += detach_keys[:matched]
                        matched = 0
                    send.append(b)
                chunk = bytes(send)
            if chunk:
                try:
                    sock.sendall(chunk)
                except OSError:
                    pass
