"""berth restart."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Restart all non-running containers")
    p.add_argument("--running", action="store_true", help="Restart only running containers when --all is used")
    p.add_argument("-t", "--time", default=None, help="Seconds to wait for stop before killing the container")
    p.add_argument("--cidfile", action="append", default=[], help="Read the container ID from the file")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.commands.stop import parse_time, targets
    from berth.cli.main import engine
    from berth.engine import lifecycle

    timeout = parse_time(args.time)
    rt = engine(args)
    rc = 0
    for ref, c in targets(rt, args):
        if args.running and not c.status.is_alive():
            continue
        try:
            lifecycle.restart(rt, c, timeout)
            print(c.id if args.all else ref)
        except BerthError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            rc = e.exit_code
    return rc
