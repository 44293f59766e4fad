"""berth container cleanup: conmon's exit command (unmount, runtime delete, --rm)."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Cleans up all containers")
    p.add_argument("--rm", action="store_true", help="After cleanup, remove the container entirely")
    p.add_argument("--stopped-only", action="store_true", help=flagparse.SUPPRESS)
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("containers", nargs="*", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine import lifecycle

    rt = engine(args)
    refs = list(args.containers)
    if args.all:
        refs = [c.id for c in rt.containers() if not c.status.is_alive()]
    elif args.latest:
        refs = [rt.latest().id]
    for r in refs:
        lifecycle.cleanup(rt, r, remove_after=args.rm)
    return 0
