"""berth container restore."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError, InvalidArgument


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    a = p.add_argument
    a("-a", "--all", action="store_true", help="Restore all checkpointed containers")
    a("-l", "--latest", action="store_true", help="Act on the latest container")
    a("-i", "--import", dest="import_", default="", help="Restore from exported checkpoint archive (tar.gz)")
    a("-n", "--name", default="", help="Specify new name for container restored from exported checkpoint")
    a("-p", "--publish", action="append", default=[], help="Publish a container's port to the host")
    a("--tcp-established", action="store_true", help="Restore a container with established TCP connections")
    a("--tcp-close", action="store_true", help="Restore a container but close the established TCP connections")
    a("--file-locks", action="store_true", help="Restore a container with file locks")
    a("--ignore-rootfs", action="store_true", help="Do not apply root file-system changes when importing")
    a("--ignore-volumes", action="store_true", help="Do not restore volumes associated with container")
    a("--ignore-static-ip", action="store_true", help="Ignore IP address set via --static-ip")
    a("--ignore-static-mac", action="store_true", help="Ignore MAC address set via --mac-address")
    a("-k", "--keep", action="store_true", help="Keep all temporary checkpoint files")
    a("--print-stats", action="store_true", help="Display restore statistics")
    a("containers", nargs="*", metavar="CONTAINER")


def _run(args: flagparse.Namespace) -> int:
    import time

    from berth.cli.main import engine
    from berth.engine.checkpoint import RestoreOptions, import_and_restore, restore_in_place

    opts = RestoreOptions(name=args.name, publish=args.publish, tcp_established=args.tcp_established,
                          tcp_close=args.tcp_close, file_locks=args.file_locks, ignore_rootfs=args.ignore_rootfs,
                          ignore_volumes=args.ignore_volumes, ignore_static_ip=args.ignore_static_ip,
                          ignore_static_mac=args.ignore_static_mac, keep=args.keep)
    if args.name and not args.import_:
        raise InvalidArgument("--name can only be used with --import")
    rt = engine(args)
    t0 = time.monotonic()
    if args.import_:
        if args.import_ == "-":
            c = import_and_restore(rt, sys.stdin.buffer, opts)
        else:
            try:
                f = open(args.import_, "rb")  # noqa: SIM115
            except OSError as e:
                raise InvalidArgument(f"failed to open checkpoint archive {args.import_} for import: "
                                      f"{e.strerror.lower() if e.strerror else e}") from None
            with f:
                c = import_and_restore(rt, f, opts)
        print(c.id)
    else:
        if args.all:
            targets = [c for c in rt.containers() if c.state.get("checkpointed")]
        elif args.latest:
            targets = [rt.latest()]
        else:
            if not args.containers:
                raise InvalidArgument("restore requires at least one argument")
            targets = [rt.lookup(r) for r in args.containers]
        rc = 0
        for c in targets:
            try:
                restore_in_place(rt, c, opts)
                print(c.id)
            except BerthError as e:
                sys.stderr.write(f"Error: {e.message}\n")
                rc = e.exit_code
        if rc:
            return rc
    if args.print_stats:
        import json

        print(json.dumps({"podman_restore_duration": int((time.monotonic() - t0) * 1e6)}, indent=4))
    return 0


def run(args: flagparse.Namespace) -> int:
    from berth.util import reaper

    # the CRIU images (200 MB of pages take 50-150 ms to unlink) are deleted after the answer
    return reaper.deferring(_run, args)
