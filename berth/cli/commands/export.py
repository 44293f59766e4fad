"""berth export [-o FILE] CONTAINER: the container's filesystem as a tar archive."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-o", "--output", default="", help="Write to a specified file (default: stdout, which must be redirected)")
    p.add_argument("container", metavar="CONTAINER")


def run(args: flagparse.Namespace) -> int:
    import os
    import sys

    from berth.cli.main import engine
    from berth.errors import InvalidArgument
    from berth.storage.apply import tar_directory

    if not args.output and sys.stdout.isatty():
        raise InvalidArgument("refusing to export to terminal. Use -o flag or redirect")
    rt = engine(args)
    c = rt.lookup(args.container)
    # The container lock keeps start/cleanup from mounting or unmounting under us; a running
    # container is already mounted and stays so, a stopped one is mounted just for the export.
    with rt.lock(c.id):
        c = rt.reload(c)
        was_mounted = bool(c.state.get("mounted"))
        rootfs = rt.layers.mount_container(c.id)
        try:
            if args.output:
                tmp = f"{args.output}.{os.getpid()}.tmp"
                try:
                    with open(tmp, "wb") as f:
                        tar_directory(rootfs, f)
                    os.replace(tmp, args.output)
                finally:
                    if os.path.exists(tmp):
                        os.unlink(tmp)
            else:
                sys.stdout.flush()
                tar_directory(rootfs, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        finally:
            if not was_mounted:
                rt.layers.unmount_container(c.id)
    return 0
