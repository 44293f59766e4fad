"""berth container prune [-f]."""

from __future__ import annotations

import sys

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")


def prune_containers(rt, filters: list[str] | None = None) -> list[str]:
    from berth.cli.commands.ps import apply_filters
    from berth.engine import lifecycle

    out = []
    for c in apply_filters(rt, rt.containers(), filters or []):
        if c.status.is_alive():
            continue
        lifecycle.remove(rt, c)
        out.append(c.id)
    return out


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine

    if not args.force and sys.stdin.isatty():
        sys.stdout.write("WARNING! This will remove all non running containers.\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    rt = engine(args)
    for cid in prune_containers(rt, args.filter):
        print(cid)
    return 0
