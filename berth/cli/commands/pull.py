"""berth pull [options] IMAGE [IMAGE...]."""

from __future__ import annotations

from berth.cli import flagparse
from berth.cli.commands._registryflags import add_registry_flags, session_args


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all-tags", action="store_true", help="All tagged images in the repository will be pulled")
    p.add_argument("--arch", default="", help="Use ARCH instead of the architecture of the machine for choosing images")
    p.add_argument("--os", default="", help="Use OS instead of the running OS for choosing images")
    p.add_argument("--variant", default="", help="Use VARIANT instead of the running architecture variant")
    p.add_argument("--platform", default="", help="Specify the platform for selecting the image (OS/ARCH[/VARIANT])")
    p.add_argument("-q", "--quiet", action="store_true", help="Suppress output information when pulling images")
    add_registry_flags(p)
    p.add_argument("images", nargs="+", metavar="IMAGE")


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.cli.main import engine
    from berth.errors import InvalidArgument
    from berth.image.pull import PullOptions, pull
    from berth.image.registry.manifest import parse_platform

    if args.platform and (args.arch or args.os or args.variant):
        raise InvalidArgument("--platform option can not be specified with --arch or --os")
    platform = None
    if args.platform or args.arch or args.os or args.variant:
        platform = parse_platform(args.platform, args.os, args.arch, args.variant)
    opts = PullOptions(platform=platform, quiet=args.quiet, all_tags=args.all_tags, out=sys.stderr,
                       **session_args(args))
    rt = engine(args)
    for name in args.images:
        if name.startswith(("docker-archive:", "oci-archive:", "oci:")):
            # other transports, as Podman accepts them: a local archive or OCI layout
            from berth.image.archive import load

            path = name.partition(":")[2].split(":", 1)[0]
            for loaded in load(rt, path):
                print(rt.images.lookup(loaded).id)
            continue
        name = name.removeprefix("docker://")
        for img in pull(rt, name, opts):
            print(img.id)
    return 0
