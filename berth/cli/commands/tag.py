"""berth tag IMAGE TARGET..."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("targets", nargs="+", metavar="TARGET_NAME")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine

    rt = engine(args)
    img = rt.images.lookup(args.image)
    for t in args.targets:
        rt.images.tag(img.id, t)
    return 0
