"""berth save [options] IMAGE [IMAGE...]."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-o", "--output", default="", help="Write to a specified file (default: stdout, which must be redirected)")
    p.add_argument("--format", default="docker-archive",
                   choices=["docker-archive", "oci-archive", "oci-dir", "docker-dir"],
                   help="Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive")
    p.add_argument("-m", "--multi-image-archive", action="store_true",
                   help="Interpret additional arguments as images not tags and create a multi-image-archive")
    p.add_argument("--compress", action="store_true", help="Compress tarball image layers (ignored)")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress the output")
    p.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.cli.main import engine
    from berth.errors import InvalidArgument
    from berth.image.archive import save

    fmt = "oci-dir" if args.format == "docker-dir" else args.format
    if not args.output:
        if fmt == "oci-dir":
            raise InvalidArgument("--output is required for the oci-dir format")
        if sys.stdout.isatty():
            raise InvalidArgument("refusing to save to terminal. Use -o flag or redirect")
    rt = engine(args)
    if args.output:
        save(rt, args.images, fmt, args.output)
    else:
        sys.stdout.flush()
        save(rt, args.images, fmt, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    return 0
