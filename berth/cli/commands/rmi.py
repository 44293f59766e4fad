"""berth rmi [-f] [-a]."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError, FailedPrecondition, InvalidArgument


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Remove all images")
    p.add_argument("-f", "--force", action="store_true", help="Force Removal of the image")
    p.add_argument("-i", "--ignore", action="store_true", help="Ignore errors if a specified image does not exist")
    p.add_argument("images", nargs="*", metavar="IMAGE")


def remove_image(rt, ref: str, force: bool, out: list[str]) -> None:
    """Untag when the name is one of several, else delete; in-use images need force."""
    from berth.engine import lifecycle
    from berth.engine.container import Container

    img = rt.images.lookup(ref)
    iid = rt.images.resolve_id(ref)
    by_name = not (iid and (ref == iid or iid.startswith(ref.removeprefix("sha256:"))))
    if by_name and len(img.names) > 1 and not force:
        from berth.image.store import qualify

        name = qualify(ref)
        rt.images.untag(img.id, ref)
        out.append(f"Untagged: {name}")
        return
    users = rt.db.containers_using_image(img.id)
    if users:
        if not force:
            cid = users[0][0]
            raise FailedPrecondition(
                f"image used by {cid}: image is in use by a container: consider listing external containers "
                "and force-removing image")
        for cid, _ in users:
            row = rt.db.container_row(cid)
            if row:
                lifecycle.remove(rt, Container.from_row(row), force=True)
    for n in img.names:
        out.append(f"Untagged: {n}")
    rt.images.remove(img.id)
    out.append(f"Deleted: {img.id}")


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine

    rt = engine(args)
    refs = list(args.images)
    if args.all:
        refs = [i.id for i in rt.images.list()]
    elif not refs:
        raise InvalidArgument("image name or ID must be specified")
    rc = 0
    errors = []
    for r in refs:
        out: list[str] = []
        try:
            remove_image(rt, r, args.force, out)
        except BerthError as e:
            if (args.ignore or args.force) and "image not known" in e.message:  # Podman: -f ignores them too
                continue
            errors.append(e)
        sys.stdout.write("".join(line + "\n" for line in out))
    if errors:
        for e in errors[:-1]:
            sys.stderr.write(f"Error: {e.message}\n")
        e = errors[-1]
        if "image not known" in e.message:
            sys.stderr.write(f"Error: {e.message}\n")
            return 1
        if isinstance(e, FailedPrecondition):
            sys.stderr.write(f"Error: {e.message}\n")
            return 2
        raise e
    return rc
