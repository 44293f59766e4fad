"""berth update --restart POLICY CONTAINER."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("--restart", default=None, help="Restart policy to apply when a container exits")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("container", nargs="?", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import lifecycle
    from berth.errors import InvalidArgument

    rt = engine(args)
    c = rt.latest() if args.latest else rt.lookup(args.container or "")
    if args.restart is None:
        raise InvalidArgument("no options were given to update: nothing to do")
    lifecycle.update_restart_policy(rt, c, args.restart)
    print(c.id)
    return 0
