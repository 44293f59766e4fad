"""berth system reset [-f]: remove every container, image and the store itself."""

from __future__ import annotations

import sys

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-f", "--force", action="store_true", help="Do not prompt for confirmation")


def run(args: flagparse.Namespace) -> int:
    import os
    import shutil

    from berth.cli.main import engine
    from berth.engine import lifecycle
    from berth.storage import mount as m

    rt = engine(args)
    if not args.force and sys.stdin.isatty():
        sys.stdout.write("WARNING! This will remove:\n\t- all containers\n\t- all pods\n\t- all images\n"
                         "\t- all networks\n\t- all build cache\n\t- all machines\n\t- all volumes\n"
                         "Are you sure you want to continue? [y/N] ")
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    for c in rt.containers():
        try:
            lifecycle.remove(rt, c, force=True)
        except Exception as e:  # noqa: BLE001 - reset goes on whatever one container does
            sys.stderr.write(f"Error: removing container {c.id}: {e}\n")
    from berth.engine import volumes

    for v in volumes.list_all(rt):  # unmounts tmpfs/device volumes before the tree goes
        try:
            volumes.remove(rt, v.name, force=True)
        except Exception as e:  # noqa: BLE001 - reset goes on whatever one volume does
            sys.stderr.write(f"Error: removing volume {v.name}: {e}\n")
    for img in rt.images.list():
        rt.images.remove(img.id)
    from berth.engine.network import networks_of, retire_bridge

    for net in networks_of(rt).list():  # the default network's bridge too: reset leaves the host clean
        try:
            retire_bridge(rt, net)
        except Exception as e:  # noqa: BLE001 - reset goes on whatever one network does
            sys.stderr.write(f"Error: removing the bridge of network {net.get('name')}: {e}\n")
    rt.db.close()
    # anything still mounted below the store must go before the tree does
    with open("/proc/self/mountinfo") as f:
        points = [ln.split(" ")[4] for ln in f]
    for root in (rt.root, rt.runroot):
        for pt in sorted((p for p in points if p == root or p.startswith(root + "/")), key=len, reverse=True):
            m.umount(pt, detach=True)
        if os.path.isdir(root):
            shutil.rmtree(root, ignore_errors=True)
    return 0
