"""berth healthcheck run CONTAINER."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import InvalidArgument


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("action", choices=["run"], help="run: run the container's healthcheck once")
    p.add_argument("container", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine.health import run_check

    if args.action != "run":
        raise InvalidArgument(f"unknown healthcheck command {args.action}")
    rt = engine(args)
    status, _ = run_check(rt, rt.lookup(args.container))
    if status == "healthy":
        return 0
    sys.stdout.write(status + "\n")
    return 1
