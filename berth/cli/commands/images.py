"""berth images."""

from __future__ import annotations

import time

from berth.cli import flagparse
from berth.errors import InvalidArgument

HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "Created": "CREATED", "Size": "SIZE",
           "Digest": "DIGEST", "CreatedAt": "CREATED AT", "CreatedSince": "CREATED", "Containers": "CONTAINERS",
           "ReadOnly": "R/O", "History": "HISTORY", "Names": "NAMES", "Labels": "LABELS"}
DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Created}}\t{{.Size}}"


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all images (default hides intermediate images)")
    p.add_argument("-q", "--quiet", action="store_true", help="Display only image IDs")
    p.add_argument("--format", default=None, help="Change the output format to JSON or a Go template")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions provided")
    p.add_argument("-n", "--noheading", action="store_true", help="Do not print column headings")
    p.add_argument("--no-trunc", action="store_true", help="Do not truncate output")
    p.add_argument("--digests", action="store_true", help="Show digests")
    p.add_argument("--sort", default="created", help="Sort by created, id, repository, size, tag")
    p.add_argument("image", nargs="?", metavar="IMAGE")


def filter_images(rt, images: list, filters: list[str], usage: dict[str, int]) -> list:
    out = []
    parsed = []
    for f in filters:
        k, sep, v = f.partition("=")
        if not sep or k not in ("dangling", "label", "reference", "id", "before", "since", "intermediate",
                                "containers", "readonly"):
            raise InvalidArgument(f'invalid image filter "{f}"')
        parsed.append((k, v))
    refs = {}
    for k, v in parsed:
        if k in ("before", "since"):
            refs[v] = rt.images.lookup(v).created
    for img in images:
        ok = True
        for k, v in parsed:
            if k == "dangling":
                ok = (not img.names) == (v.lower() in ("true", "1"))
            elif k == "label":
                lk, _, lv = v.partition("=")
                labels = img.run_config.get("Labels") or {}
                ok = lk in labels and (not lv or labels[lk] == lv)
            elif k == "reference":
                import fnmatch

                ok = any(fnmatch.fnmatch(n, v) or fnmatch.fnmatch(n.split("/", 1)[-1], v) or
                         fnmatch.fnmatch(n.rsplit(":", 1)[0], v) or fnmatch.fnmatch(n.rsplit(":", 1)[0].split("/", 1)[-1], v)
                         for n in img.names)
            elif k == "id":
                ok = img.id.startswith(v)
            elif k == "before":
                ok = img.created < refs[v]
            elif k == "since":
                ok = img.created > refs[v]
            elif k == "containers":
                ok = (usage.get(img.id, 0) > 0) == (v.lower() in ("true", "1"))
            elif k == "intermediate":
                ok = v.lower() not in ("true", "1")
            elif k == "readonly":
                ok = v.lower() not in ("true", "1")
            if not ok:
                break
        if ok:
            out.append(img)
    return out


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.cli.main import engine
    from berth.cli.output import print_json, print_rows
    from berth.engine.inspect import image_list_entry
    from berth.util.timefmt import ago, human_size

    rt = engine(args)
    images = rt.images.list()
    usage: dict[str, int] = {}
    for row in rt.db.container_rows():
        usage[row[2]] = usage.get(row[2], 0) + 1
    if args.image:
        iid = rt.images.resolve_id(args.image)
        images = [i for i in images if i.id == iid] if iid else []
        if not iid:
            images = filter_images(rt, rt.images.list(), [f"reference={args.image}"], usage)
    images = filter_images(rt, images, args.filter, usage)
    if args.format == "json":
        print_json([image_list_entry(i, usage.get(i.id, 0)) for i in images])
        return 0
    now = time.time()
    rows = []
    for img in images:
        names = img.names or ["<none>:<none>"]
        for n in names:
            repo, _, tag = n.rpartition(":")
            if "@" in n:  # pulled by digest: "repo@sha256:..."
                repo, tag = n.partition("@")[0], "<none>"
            elif "/" in tag or not repo:
                repo, tag = n, "<none>"
            row = image_list_entry(img, usage.get(img.id, 0))
            row.update(Repository=repo, Tag=tag, ID=img.id if args.no_trunc else img.id[:12],
                       Created=ago(img.created, now), CreatedSince=ago(img.created, now),
                       CreatedAt=row["CreatedAt"], Size=human_size(img.size), Digest=img.digest or f"sha256:{img.id}",
                       ReadOnly=False, Names=img.names, Dangling=not img.names)
            rows.append(row)
    if args.quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
        sys.stdout.write("".join(s + "\n" for s in seen))
        return 0
    default = DEFAULT if not args.digests else \
        "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.Created}}\t{{.Size}}"
    print_rows(rows, args.format, default, HEADERS, noheading=args.noheading)
    return 0
