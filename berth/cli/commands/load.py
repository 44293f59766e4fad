"""berth load [-i FILE]: images from a docker-archive, oci-archive or OCI directory (default stdin)."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-i", "--input", default="", help="Read from specified archive file (default: stdin)")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the output")


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.cli.main import engine
    from berth.errors import InvalidArgument
    from berth.image.archive import load

    if not args.input and sys.stdin.isatty():
        raise InvalidArgument("cannot read from terminal, use command-line redirection or the --input flag")
    rt = engine(args)
    names = load(rt, args.input or sys.stdin.buffer)
    if not args.quiet:
        for n in names:
            print(f"Loaded image: {n}")
    return 0
