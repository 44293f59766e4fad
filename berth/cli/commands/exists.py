"""berth container exists / image exists: exit 0 if it exists, 1 if not."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("name", metavar="NAME")
    p.set_defaults(_what=cmd.split()[0])


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.errors import NotFound

    rt = engine(args)
    try:
        if args._what == "container":
            rt.lookup(args.name)
        else:
            if rt.images.resolve_id(args.name) is None:
                return 1
    except NotFound:
        return 1
    return 0
