"""berth rm [-f] [-a] [-v]."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all containers")
    p.add_argument("-f", "--force", action="store_true", help="Force removal of a running or unusable container")
    p.add_argument("-i", "--ignore", action="store_true", help="Ignore errors when a specified container is missing")
    p.add_argument("-v", "--volumes", action="store_true", help="Remove anonymous volumes associated with the container")
    p.add_argument("-t", "--time", default=None, help="Seconds to wait for stop before killing the container")
    p.add_argument("--cidfile", action="append", default=[], help="Read the container ID from the file")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    """Podman's exit codes: 1 if a named container does not exist (and nothing worse happened),
    2 if one is running or paused (no --force), 125 for anything else.  --force ignores missing ones."""
    from berth.cli.commands.stop import parse_time, targets
    from berth.cli.main import engine
    from berth.engine import lifecycle
    from berth.errors import FailedPrecondition, NoSuchContainer

    timeout = parse_time(args.time)
    rt = engine(args)
    found = []
    codes = set()
    if args.all or args.latest or not args.containers:
        found = targets(rt, args)
    else:
        for ref in args.containers:
            try:
                found.append((ref, rt.lookup(ref)))
            except NoSuchContainer as e:
                if args.force or args.ignore:
                    continue
                sys.stderr.write(f"Error: {e.message}\n")
                codes.add(1)
        if args.cidfile:
            found += targets(rt, flagparse.Namespace(containers=[], cidfile=args.cidfile, ignore=args.ignore))
    for ref, c in found:
        try:
            if args.force and c.status.is_alive():
                lifecycle.stop(rt, c, timeout if timeout is not None else 0)
            lifecycle.remove(rt, c, force=args.force, volumes=args.volumes)
            print(c.id if args.all else ref)
        except NoSuchContainer:
            continue  # removed meanwhile (its --rm exit command): what was asked is done
        except FailedPrecondition as e:
            sys.stderr.write(f"Error: {e.message}\n")
            codes.add(2)  # container state improper
        except BerthError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            codes.add(e.exit_code)
    for code in (125, 127, 126, 2, 1):
        if code in codes:
            return code
    return max(codes, default=0)
