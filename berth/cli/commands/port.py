"""berth port: published ports (none until networking lands: nothing is published)."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Display port information for all containers")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("container", nargs="?", metavar="CONTAINER")
    p.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def run(args: argparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.errors import InvalidArgument

    rt = engine(args)
    if args.all:
        return 0
    ref = rt.latest().id if args.latest else args.container
    if not ref:
        raise InvalidArgument("you must supply a running container name or id")
    c = rt.lookup(ref)
    if args.port:
        raise InvalidArgument(f"failed to find published port \"{args.port}\"")
    ports = c.config.get("ports") or []
    for p in ports:
        print(p)
    return 0
