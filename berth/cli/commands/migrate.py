"""berth container migrate CONTAINER DEST: checkpoint here, restore there, remove here."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    a = p.add_argument
    a("--dest-root", default="", help="--root of the target store")
    a("--dest-runroot", default="", help="--runroot of the target store")
    a("--remote-berth", default="berth", help="berth command on an ssh target")
    a("--tcp-established", action="store_true", help="Keep established TCP connections")
    a("-c", "--compress", default="zstd", help="Compression of the streamed checkpoint (gzip, none, zstd)")
    a("container", metavar="CONTAINER")
    a("dest", metavar="DEST", help="ssh://[user@]host[:port], or the target store's root directory")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.engine.migrate import migrate

    rt = engine(args)
    new_id = migrate(rt, rt.lookup(args.container), args.dest, dest_root=args.dest_root,
                     dest_runroot=args.dest_runroot, remote_berth=args.remote_berth,
                     tcp_established=args.tcp_established, compress=args.compress)
    print(new_id)
    return 0
