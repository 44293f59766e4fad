"""berth push [options] IMAGE [DESTINATION]."""

from __future__ import annotations

from berth.cli import flagparse
from berth.cli.commands._registryflags import add_registry_flags, session_args

ARCHIVES = ("docker-archive:", "oci-archive:", "oci:")


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--format", default="", choices=["", "oci", "v2s2", "docker"],
                   help="Manifest type (oci, v2s2, or docker) to use in the destination")
    p.add_argument("--compression-format", default="gzip", choices=["gzip", "zstd", "zstd:chunked"],
                   help="compression format to use")
    p.add_argument("--digestfile", default="", help="Write the digest of the pushed image to the specified file")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress output information when pushing images")
    p.add_argument("--remove-signatures", action="store_true", help="Discard any pre-existing signatures in the image")
    add_registry_flags(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("destination", nargs="?", metavar="DESTINATION")


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.cli.main import engine

    rt = engine(args)
    if args.destination and args.destination.startswith(ARCHIVES):
        from berth.image.archive import save_to_transport

        save_to_transport(rt, args.image, args.destination)
        return 0
    from berth.image.push import PushOptions, push

    fmt = "v2s2" if args.format == "docker" else args.format
    comp = "zstd" if args.compression_format.startswith("zstd") else "gzip"
    opts = PushOptions(format=fmt, compression=comp, quiet=args.quiet, out=sys.stderr, **session_args(args))
    pushed = push(rt, args.image, args.destination, opts)
    if args.digestfile:
        with open(args.digestfile, "w") as f:
            f.write(pushed.digest)
    return 0
