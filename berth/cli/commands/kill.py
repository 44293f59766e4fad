"""berth kill [-s]."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Signal all running containers")
    p.add_argument("-s", "--signal", default="KILL", help="Signal to send to the container")
    p.add_argument("--cidfile", action="append", default=[], help="Read the container ID from the file")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.commands.stop import targets
    from berth.cli.main import engine
    from berth.engine import lifecycle
    from berth.oci.spec import parse_signal

    sig = parse_signal(args.signal)
    rt = engine(args)
    rc = 0
    for ref, c in targets(rt, args):
        if args.all and not c.status.is_alive():
            continue
        try:
            lifecycle.kill(rt, c, sig)
            print(ref)
        except BerthError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            rc = e.exit_code
    return rc
