"""berth import ROOTFS.tar|- [NAME]."""

from __future__ import annotations

import sys

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-c", "--change", action="append", default=[], help="Apply the following possible instructions to the created image")
    p.add_argument("-m", "--message", default="", help="Set commit message for imported image")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress output")
    p.add_argument("--arch", default="", help="Set the architecture of the imported container image")
    p.add_argument("--os", default="", help="Set the OS of the imported container image")
    p.add_argument("source", metavar="PATH")
    p.add_argument("reference", nargs="?", metavar="REFERENCE")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.errors import InvalidArgument
    from berth.image.importer import import_rootfs
    from berth.image.store import qualify

    names = [qualify(args.reference)] if args.reference else []
    rt = engine(args)
    if args.source == "-":
        img = import_rootfs(rt.images, sys.stdin.buffer, names, args.change, args.message,
                            arch=args.arch, os_name=args.os)
    else:
        try:
            f = open(args.source, "rb")  # noqa: SIM115
        except OSError as e:
            raise InvalidArgument(f"open {args.source}: {e.strerror.lower() if e.strerror else e}") from None
        with f:
            img = import_rootfs(rt.images, f, names, args.change, args.message, arch=args.arch,
                                os_name=args.os)
    if not args.quiet:
        print(f"sha256:{img.id}" if False else img.id)
    return 0
