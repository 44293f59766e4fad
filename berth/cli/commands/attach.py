"""berth attach."""

from __future__ import annotations

import os
import sys

from berth.cli import flagparse
from berth.errors import ContainerExit, FailedPrecondition


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("--detach-keys", default="ctrl-p,ctrl-q", help="Select the key sequence for detaching a container")
    p.add_argument("--no-stdin", action="store_true", help="Do not attach STDIN")
    p.add_argument("--sig-proxy", default="true", help="Proxy received signals to the process")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("container", nargs="?", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import attach, lifecycle
    from berth.engine.options import parse_detach_keys

    rt = engine(args)
    c = rt.latest() if args.latest else rt.lookup(args.container or "")
    if not c.status.is_alive():
        raise FailedPrecondition("you can only attach to running containers")
    keys = parse_detach_keys(args.detach_keys)
    tty = bool(c.config.get("tty"))
    stdin = bool(c.config.get("interactive")) and not args.no_stdin
    sock = attach.connect(rt.bundle(c.id))
    term = attach.Terminal(sys.stdin.fileno(), rt.bundle(c.id)) if tty and stdin and os.isatty(0) else None
    try:
        how = attach.stream(sock, stdin=stdin, tty=tty, detach_keys=keys)
    finally:
        if term:
            term.restore()
        sock.close()
    if how == "detached":
        return 0
    lifecycle._wait_exit(rt, c, None)
    c = rt.reload(c)
    raise ContainerExit(c.state.get("exit_code", 0))
