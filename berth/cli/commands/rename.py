"""berth rename."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("name", metavar="NAME")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import lifecycle

    rt = engine(args)
    lifecycle.rename(rt, rt.lookup(args.container), args.name)
    return 0
