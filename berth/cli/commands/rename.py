"""berth rename."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("container", metavar="CONTAINER")
    p.add_argument("name", metavar="NAME")


def run(args: argparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import lifecycle

    rt = engine(args)
    lifecycle.rename(rt, rt.lookup(args.container), args.name)
    return 0
