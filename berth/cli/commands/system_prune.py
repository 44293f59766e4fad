"""berth system prune [-a] [-f]."""

from __future__ import annotations

import sys

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all unused data")
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")
    p.add_argument("--volumes", action="store_true", help="Prune volumes")
    p.add_argument("--filter", action="append", default=[], help="Provide filter values")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.commands.container_prune import prune_containers
    from berth.cli.commands.image_prune import prune_images
    from berth.cli.main import engine
    from berth.util.timefmt import human_size

    if not args.force and sys.stdin.isatty():
        sys.stdout.write("WARNING! This command removes:\n\t- all stopped containers\n"
                         + ("\t- all images without at least one container associated with them\n" if args.all else
                            "\t- all dangling images\n")
                         + "\t- all build cache\n\nAre you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    rt = engine(args)
    ctrs = prune_containers(rt, args.filter)
    if ctrs:  # as Podman: a section only when something was deleted
        print("Deleted Containers")
        for c in ctrs:
            print(c)
    if args.volumes:
        from berth.engine.volumes import prune

        vols = prune(rt, args.filter)
        if vols:
            print("Deleted Volumes")
            for v in vols:
                print(v)
    sizes = {i.id: i.size for i in rt.images.list()}
    imgs = prune_images(rt, args.all)
    if imgs:
        print("Deleted Images")
        for i in imgs:
            print(i)
    print(f"Total reclaimed space: {human_size(sum(sizes.get(i, 0) for i in imgs), 4, '')}")
    return 0
