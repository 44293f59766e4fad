"""berth ps."""

from __future__ import annotations

import time

from berth.cli import flagparse
from berth.errors import InvalidArgument

HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedHuman": "CREATED",
           "CreatedAt": "CREATED", "Status": "STATUS", "Ports": "PORTS", "Names": "NAMES", "Size": "SIZE",
           "State": "STATE", "Labels": "LABELS", "Mounts": "MOUNTS", "Networks": "NETWORKS", "Pod": "POD ID",
           "PodName": "PODNAME", "ExitCode": "EXIT CODE", "Pid": "PID", "ImageID": "IMAGE ID", "RunningFor": "CREATED",
           "Restarts": "RESTARTS"}
DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Show all the containers, default is only running containers")
    p.add_argument("-q", "--quiet", action="store_true", help="Print the numeric IDs of the containers only")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container berth is aware of")
    p.add_argument("-n", "--last", type=int, default=-1, help="Print the n last created containers")
    p.add_argument("--format", default=None, help="Pretty-print containers to JSON or using a Go template")
    p.add_argument("-f", "--filter", action="append", default=[], help="Filter output based on conditions given")
    p.add_argument("--no-trunc", action="store_true", help="Display the extended information")
    p.add_argument("-s", "--size", action="store_true", help="Display the total file sizes")
    p.add_argument("--noheading", action="store_true", help="Do not print headers")
    p.add_argument("--sort", default="created", help="Sort output by: command, created, id, image, names, runningfor, size, status")


def apply_filters(rt, ctrs: list, filters: list[str]) -> list:
    groups: dict[str, list[str]] = {}
    for f in filters:
        k, sep, v = f.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid filter {f!r}: filter must be of the form key=value")
        if k not in ("id", "name", "label", "status", "exited", "ancestor", "before", "since", "restart-policy",
                     "label!", "should-start-on-boot", "volume"):
            raise InvalidArgument(f'"{k}" is an invalid filter')
        if k == "status" and v not in ("created", "running", "paused", "exited", "stopped", "removing",
                                       "restarting", "unknown", "dead", "configured", "stopping"):
            raise InvalidArgument(f"unknown container state: {v}: invalid argument")  # up front, even with no containers
        groups.setdefault(k, []).append(v)
    out = []
    by_ref = {}
    for k in ("before", "since"):
        for v in groups.get(k, []):
            by_ref[(k, v)] = rt.lookup(v).created
    for c in ctrs:
        ok = True
        for k, vals in groups.items():
            if k == "id":
                ok = any(c.id.startswith(v) for v in vals)
            elif k == "name":
                import re  # only for this filter: re and enum cost ~3 ms to import

                ok = any(re.search(v, c.name) for v in vals)
            elif k == "label":
                labels = c.config.get("labels") or {}
                ok = all((lab.partition("=")[0] in labels and (not lab.partition("=")[1] or
                          labels[lab.partition("=")[0]] == lab.partition("=")[2])) for lab in vals)
            elif k == "label!":
                labels = c.config.get("labels") or {}
                ok = not any(lab.partition("=")[0] in labels for lab in vals)
            elif k == "status":
                for v in vals:
                    if v not in ("created", "running", "paused", "exited", "stopped", "removing", "restarting",
                                 "unknown", "dead", "configured", "stopping"):
                        raise InvalidArgument(f"{v} is not a valid status")
                ok = c.shown_state() in vals or ("configured" in vals and c.shown_state() == "created")
            elif k == "exited":
                ok = c.shown_state() == "exited" and str(c.state.get("exit_code", 0)) in vals
            elif k == "ancestor":
                ok = False
                for v in vals:
                    iid = rt.images.resolve_id(v)
                    if (iid and iid == c.image_id) or c.config.get("image_name", "").startswith(v):
                        ok = True
            elif k == "before":
                ok = all(c.created < by_ref[("before", v)] for v in vals)
            elif k == "since":
                ok = all(c.created > by_ref[("since", v)] for v in vals)
            elif k == "volume":  # a volume name or a mount destination, as Podman's
                ms = c.config.get("volume_mounts") or []
                ok = any(v in (m["name"], m["destination"]) for v in vals for m in ms)
            elif k == "restart-policy":
                ok = (c.config.get("restart_policy") or "no") in vals
            elif k == "should-start-on-boot":
                from berth.engine.lifecycle import should_start_on_boot

                ok = should_start_on_boot(c) == (vals[-1].lower() in ("true", "1"))
            if not ok:
                break
        if ok:
            out.append(c)
    return out


def run(args: flagparse.Namespace) -> int:
    import sys

    from berth.cli.main import engine
    from berth.cli.output import print_json, print_rows
    from berth.engine.inspect import ps_entry

    rt = engine(args)
    ctrs = rt.containers()
    if args.filter:
        ctrs = apply_filters(rt, ctrs, args.filter)
    if not args.all and not args.latest and args.last < 0 and not any(f.startswith(("status=", "exited="))
                                                                     for f in args.filter):
        ctrs = [c for c in ctrs if c.status.is_alive()]
    if args.latest:
        ctrs = ctrs[-1:]
    if args.last >= 0:
        ctrs = ctrs[-args.last:] if args.last else []
    # no reverse: Podman 4 lists the oldest container first (its default --sort created ascends)
    if args.quiet and not args.format:
        sys.stdout.write("".join((c.id if args.no_trunc else c.id[:12]) + "\n" for c in ctrs))
        return 0
    now = time.time()
    if not args.format and not args.size:
        _default_table(rt, ctrs, now, args)
        return 0
    entries = [ps_entry(rt, c, now, size=args.size) for c in ctrs]
    if args.format in ("json", "{{json .}}") and args.format == "json":
        print_json(entries)
        return 0
    rows = []
    for e in entries:
        cmd = " ".join(e["Command"] or [])
        if not args.no_trunc and len(cmd) > 17:
            cmd = cmd[:17] + "..."
        row = dict(e)
        row.update(ID=e["Id"] if args.no_trunc else e["Id"][:12], Command=cmd, CreatedHuman=e["CreatedAt"],
                   RunningFor=e["CreatedAt"], Names=e["Names"][0], Ports=_ports(e["Ports"]), Labels=e["Labels"] or {},
                   Networks=",".join(e["Networks"]), Mounts=",".join(e["Mounts"]), CreatedAt=_created_at(e["Created"]))
        if args.size and e["Size"]:
            from berth.util.timefmt import human_size

            rw, virt = (human_size(e["Size"][k]).replace(" ", "") for k in ("rwSize", "rootFsSize"))
            row["Size"] = f"{rw} (virtual {virt})"  # no space before the unit here, unlike `images`
        rows.append(row)
    default = DEFAULT + ("\t{{.Size}}" if args.size else "")
    print_rows(rows, args.format, default, HEADERS, noheading=args.noheading)
    return 0


def _created_at(ts: int) -> str:
    from berth.util.timefmt import go_time_string

    return go_time_string(ts)


def _ports(ports: list[dict] | None) -> str:
    from berth.network.ports import format_ports

    return format_ports(ports or [])


def _default_table(rt, ctrs: list, now: float, args: flagparse.Namespace) -> None:
    """The plain `ps` table, built directly: the same text as the default template, without running
    the template engine once per container (it is most of the time of a `ps -a` over hundreds)."""
    import sys

    from berth.cli.format.tabwriter import tabwrite
    from berth.engine.inspect import _ps_ports, status_text
    from berth.util.timefmt import ago

    lines = [] if args.noheading else ["CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES"]
    for c in ctrs:
        cfg = c.config
        cmd = " ".join(cfg.get("args") or [])
        if not args.no_trunc and len(cmd) > 17:
            cmd = cmd[:17] + "..."
        ports = _ports(_ps_ports(c)) if (cfg.get("ports") or c.state.get("ports")) else ""
        lines.append(f"{c.id if args.no_trunc else c.id[:12]}\t{cfg.get('image_name', '')}\t{cmd}\t"
                     f"{ago(c.created, now)}\t{status_text(c, now)}\t{ports}\t{c.name}")
    sys.stdout.write(tabwrite(lines))
