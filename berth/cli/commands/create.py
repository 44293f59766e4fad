"""berth create."""

from __future__ import annotations

from berth.cli import flagparse
from berth.cli.commands._createflags import add_create_flags, to_options


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    add_create_flags(p, run=False)


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine.create import create_container

    rt = engine(args)
    c = create_container(rt, to_options(args))
    print(c.id)
    return 0
