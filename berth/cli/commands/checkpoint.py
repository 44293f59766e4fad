"""berth container checkpoint."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError, InvalidArgument


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    a = p.add_argument
    a("-a", "--all", action="store_true", help="Checkpoint all running containers")
    a("-l", "--latest", action="store_true", help="Act on the latest container")
    a("-e", "--export", default="", help="Export the checkpoint image to a tar.gz")
    a("-c", "--compress", default="zstd", help="Select compression algorithm (gzip, none, zstd)")
    a("-R", "--leave-running", action="store_true", help="Leave the container running after writing checkpoint")
    a("--tcp-established", action="store_true", help="Checkpoint a container with established TCP connections")
    a("--file-locks", action="store_true", help="Checkpoint a container with file locks")
    a("--ignore-rootfs", action="store_true", help="Do not include root file-system changes when exporting")
    a("--ignore-volumes", action="store_true", help="Do not export volumes associated with container")
    a("-k", "--keep", action="store_true", help="Keep all temporary checkpoint files")
    a("--print-stats", action="store_true", help="Display checkpoint statistics")
    a("containers", nargs="*", metavar="CONTAINER")


def _run(args: flagparse.Namespace) -> int:
    import json

    from berth.cli.main import engine
    from berth.engine.checkpoint import CheckpointOptions, checkpoint

    rt = engine(args)
    if args.all:
        targets = [(c.id, c) for c in rt.containers() if c.status.value == "running"]
    elif args.latest:
        c = rt.latest()
        targets = [(c.id, c)]
    else:
        if not args.containers:
            raise InvalidArgument("checkpoint requires at least one argument")
        targets = [(r, rt.lookup(r)) for r in args.containers]
    if args.export and len(targets) != 1:
        raise InvalidArgument("--export can only be used with a single container")
    opts = CheckpointOptions(export=args.export, compress=args.compress, leave_running=args.leave_running,
                             tcp_established=args.tcp_established, file_locks=args.file_locks,
                             ignore_rootfs=args.ignore_rootfs, ignore_volumes=args.ignore_volumes, keep=args.keep)
    rc = 0
    all_stats = []
    for ref, c in targets:
        try:
            out = sys.stdout.buffer if args.export == "-" else None
            stats = checkpoint(rt, c, opts, out=out)
            all_stats.append({"Id": c.id, "RuntimeDuration": stats.get("runtime_checkpoint_duration", 0)})
            if args.export != "-" and not args.print_stats:
                print(ref)
        except BerthError as e:
            sys.stderr.write(f"Error: {e.message}\n")
            rc = e.exit_code
    if args.print_stats:
        print(json.dumps({"podman_checkpoint_duration": sum(s["RuntimeDuration"] for s in all_stats),
                          "container_statistics": all_stats}, indent=4))
    return rc


def run(args: flagparse.Namespace) -> int:
    from berth.util import reaper

    # the CRIU images (200 MB of pages take 50-150 ms to unlink) are deleted after the answer
    return reaper.deferring(_run, args)
