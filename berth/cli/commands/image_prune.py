"""berth image prune [-a] [-f]."""

from __future__ import annotations

import sys

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all images not in use by containers, not just dangling ones")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")


def prune_images(rt, all_images: bool) -> list[str]:
    used = {row[2] for row in rt.db.container_rows()}
    removed = []
    for img in rt.images.list():
        if img.id in used:
            continue
        if img.names and not all_images:
            continue
        rt.images.remove(img.id)
        removed.append(img.id)
    return removed


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine

    if not args.force and sys.stdin.isatty():
        what = "all images not used by containers" if args.all else "all dangling images"
        sys.stdout.write(f"WARNING! This command removes {what}.\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    rt = engine(args)
    for iid in prune_images(rt, args.all):
        print(iid)
    return 0
