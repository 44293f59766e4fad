"""berth rm [-f] [-a] [-v]."""

from __future__ import annotations

import argparse
import sys

from berth.errors import BerthError


def add_arguments(p: argparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all containers")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of a running or unusable container")
    p.add_argument("-i", "--ignore", action="store_true", help="Ignore errors when a specified container is missing")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container")
    p.add_argument("-t", "--time", default=None, help="Seconds to wait for stop before killing the container")
    p.add_argument("--cidfile", action="append", default=[], help="Read the container ID from the file")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: argparse.Namespace) -> int:
    from berth.cli.commands.stop import parse_time, targets
    from berth.cli.main import engine
    from berth.engine import lifecycle

    timeout = parse_time(args.time)
    rt = engine(args)
    rc = 0
    for ref, c in targets(rt, args):
        try:
            if args.force and c.status.is_alive():
                lifecycle.stop(rt, c, timeout if timeout is not None else 0)
            lifecycle.remove(rt, c, force=args.force, volumes=args.volumes)
            print(c.id if args.all else ref)
        except BerthError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            rc = e.exit_code if rc == 0 else rc
    return rc
