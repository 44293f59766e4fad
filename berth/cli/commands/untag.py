"""berth untag IMAGE [NAME...]."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("names", nargs="*", metavar="NAME")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine

    rt = engine(args)
    img = rt.images.lookup(args.image)
    if not args.names:
        rt.images.untag(img.id, None)
    for n in args.names:
        rt.images.untag(img.id, n)
    return 0
