"""berth stop [-t] [-a]."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError, InvalidArgument, NoSuchContainer


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Stop all running containers")
    p.add_argument("-i", "--ignore", action="store_true", help="Ignore errors when a specified container is missing")
    p.add_argument("-t", "--time", default=None, help="Seconds to wait for stop before killing the container")
    p.add_argument("--cidfile", action="append", default=[], help="Read the container ID from the file")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def parse_time(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        t = int(value)
    except ValueError:
        raise InvalidArgument(f'invalid argument "{value}" for "-t, --time" flag: strconv.ParseUint: '
                              f'parsing "{value}": invalid syntax') from None
    return max(t, 0)


def targets(rt, args) -> list[tuple[str, object]]:
    refs = list(args.containers)
    for f in getattr(args, "cidfile", []) or []:
        try:
            with open(f) as fh:
                refs.append(fh.read().strip())
        except OSError:
            if not getattr(args, "ignore", False):
                raise InvalidArgument(f"reading CIDFile: open {f}: no such file or directory") from None
    if getattr(args, "all", False):
        return [(c.id, c) for c in rt.containers()]
    if getattr(args, "latest", False):
        c = rt.latest()
        return [(c.id, c)]
    if not refs:
        if getattr(args, "ignore", False) and getattr(args, "cidfile", None):
            return []  # --ignore with a cidfile that was never written: nothing to do (systemd units rely on it)
        raise InvalidArgument("you must provide at least one name or id")
    out = []
    for r in refs:
        try:
            out.append((r, rt.lookup(r)))
        except NoSuchContainer:
            if getattr(args, "ignore", False):
                continue
            raise
    return out


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import lifecycle

    timeout = parse_time(args.time)
    rt = engine(args)
    rc = 0
    for ref, c in targets(rt, args):
        if args.all and not c.status.is_alive():
            continue
        try:
            lifecycle.stop(rt, c, timeout)
            print(ref)
        except BerthError as e:
            if isinstance(e, NoSuchContainer) and getattr(args, "ignore", False):
                continue  # removed since it was looked up (a --rm container's cleanup): what --ignore is for
            sys.stderr.write(f"Error: {e.message}\n")
            rc = e.exit_code
    return rc
