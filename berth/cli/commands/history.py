"""berth history IMAGE."""

from __future__ import annotations

from berth.cli import flagparse

HEADERS = {"ID": "ID", "Created": "CREATED", "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
           "CreatedAt": "CREATED AT", "Tags": "TAGS"}


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-H", "--human", default="true", help="Display sizes and dates in human readable format")
    p.add_argument("--no-trunc", "--notruncate", action="store_true", help="Do not truncate the output")
    p.add_argument("-q", "--quiet", action="store_true", help="Display the numeric IDs only")
    p.add_argument("--format", default=None, help="Change the output to JSON or a Go template")
    p.add_argument("image", metavar="IMAGE")


def run(args: flagparse.Namespace) -> int:
    import sys
    import time

    from berth.cli.main import engine
    from berth.cli.output import print_json, print_rows
    from berth.image.store import _parse_created
    from berth.util.timefmt import ago, human_size, rfc3339

    rt = engine(args)
    img = rt.images.lookup(args.image)
    hist = list(img.config.get("history") or [])
    layer_rows = [rt.db.layer(lid) for lid in img.layers]
    sizes = [r[4] if r else 0 for r in layer_rows]
    now = time.time()
    entries = []
    li = len(sizes) - 1
    for i, h in enumerate(reversed(hist)):
        empty = bool(h.get("empty_layer"))
        size = 0 if empty or li < 0 else sizes[li]
        if not empty:
            li -= 1
        created = _parse_created(h.get("created")) or img.created
        entries.append({"id": img.id if i == 0 else "<missing>", "created": int(created),
                        "CreatedBy": h.get("created_by", ""), "size": size, "comment": h.get("comment", ""),
                        "tags": img.names if i == 0 else None, "_created": created})
    if args.quiet:
        sys.stdout.write("".join((e["id"] if args.no_trunc or e["id"] == "<missing>" else e["id"][:12]) + "\n"
                                 for e in entries))
        return 0
    if args.format == "json":
        print_json([{k: v for k, v in e.items() if not k.startswith("_")} for e in entries])
        return 0
    human = args.human.lower() != "false"
    rows = []
    for e in entries:
        cb = e["CreatedBy"]
        if not args.no_trunc and len(cb) > 45:
            cb = cb[:42] + "..."
        rows.append({"ID": e["id"] if args.no_trunc or e["id"] == "<missing>" else e["id"][:12],
                     "Created": ago(e["_created"], now) if human else rfc3339(e["_created"]),
                     "CreatedAt": rfc3339(e["_created"]), "CreatedBy": cb,
                     "Size": human_size(e["size"]) if human else str(e["size"]),
                     "Comment": e["comment"], "Tags": e["tags"]})
    print_rows(rows, args.format,
               "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", HEADERS)
    return 0
