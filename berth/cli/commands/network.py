"""berth network create|ls|inspect|rm|prune|exists|connect|disconnect."""

from __future__ import annotations

import sys

from berth.cli import flagparse
from berth.errors import BerthError, InvalidArgument

HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Labels": "LABELS", "Options": "OPTIONS",
           "IPv6Enabled": "IPV6", "Internal": "INTERNAL", "DNSEnabled": "DNS"}


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    verb = cmd.split()[1]
    p.set_defaults(_verb=verb)
    a = p.add_argument
    if verb == "create":
        a("-d", "--driver", default="bridge", help="driver to manage the network")
        a("--subnet", action="append", default=[], help="subnets in CIDR format")
        a("--gateway", action="append", default=[], help="IPv4 or IPv6 gateway for the subnet")
        a("--ip-range", action="append", default=[], help="allocate container IP from range")
        a("--internal", action="store_true", help="restrict external access from this network")
        a("--disable-dns", action="store_true", help="disable dns plugin")
        a("--label", action="append", default=[], help="set metadata on a network")
        a("-o", "--opt", action="append", default=[], help="Set driver specific options")
        a("--interface-name", default="", help="interface name which is used by the driver")
        a("--ignore", action="store_true", help="Don't fail if network already exists")
        a("--ipv6", action="store_true", help="enable IPv6 networking")
        a("name", nargs="?", default="", metavar="NAME")
    elif verb in ("ls", "list"):
        a("--format", default=None, help="Pretty-print networks to JSON or using a Go template")
        a("-f", "--filter", action="append", default=[], help="Provide filter values (e.g. 'name=podman')")
        a("-q", "--quiet", action="store_true", help="display only names")
        a("--noheading", action="store_true", help="Do not print headers")
        a("--no-trunc", action="store_true", help="Do not truncate the network ID")
    elif verb == "inspect":
        a("-f", "--format", default=None, help="Pretty-print network to JSON or using a Go template")
        a("names", nargs="+", metavar="NETWORK")
    elif verb == "rm":
        a("-f", "--force", action="store_true", help="remove any containers using network")
        a("-t", "--time", default=None, help="Seconds to wait for running containers to stop before killing")
        a("names", nargs="+", metavar="NETWORK")
    elif verb == "prune":
        a("-f", "--force", action="store_true", help="do not prompt for confirmation")
        a("--filter", action="append", default=[], help="Provide filter values")
    elif verb == "exists":
        a("name", metavar="NETWORK")
    elif verb in ("connect", "disconnect"):
        if verb == "connect":
            a("--alias", action="append", default=[], help="network scoped alias for container")
            a("--ip", default="", help="set a static ipv4 address for this container network")
            a("--mac-address", default="", help="set a static mac address for this container network")
        else:
            a("-f", "--force", action="store_true", help="force the container to disconnect from a network")
        a("network", metavar="NETWORK")
        a("container", metavar="CONTAINER")


def _view(net: dict) -> dict:
    """Podman's Go field names for --format, next to the JSON keys."""
    v = dict(net)
    v.update(Name=net["name"], ID=net["id"], Driver=net["driver"], Labels=net.get("labels") or {},
             Options=net.get("options") or {}, IPv6Enabled=net.get("ipv6_enabled", False),
             Internal=net.get("internal", False), DNSEnabled=net.get("dns_enabled", False),
             NetworkInterface=net.get("network_interface", ""), Subnets=net.get("subnets", []),
             Created=net.get("created", ""))
    return v


def _users(rt, name: str) -> list:
    return [c for c in rt.containers() if name in (c.config.get("networks") or {})]


def _kv(items: list[str]) -> dict[str, str]:
    from berth.cli.output import split_kv

    return split_kv(items)


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.cli.output import print_json, print_rows, template_each
    from berth.engine.network import networks_of, remove_network

    rt = engine(args)
    store = networks_of(rt)
    verb = args._verb
    if verb == "create":
        if len(args.subnet) > 1:
            raise InvalidArgument("berth networks have one IPv4 subnet")
        opts = _kv(args.opt)
        iface = args.interface_name or opts.pop("com.docker.network.bridge.name", "")
        net = store.create(args.name, subnet=(args.subnet or [""])[0], gateway=(args.gateway or [""])[0],
                           ip_range=(args.ip_range or [""])[0], internal=args.internal,
                           disable_dns=args.disable_dns, labels=_kv(args.label), driver=args.driver,
                           options=opts, interface_name=iface, ignore=args.ignore)
        print(net["name"])
    elif verb in ("ls", "list"):
        nets = sorted(_filter(store.list(), args.filter), key=lambda n: n["name"])
        if args.quiet:
            sys.stdout.write("".join(n["name"] + "\n" for n in nets))
        elif args.format == "json":
            print_json(nets)
        else:
            rows = [_view(n) | {"ID": n["id"] if args.no_trunc else n["id"][:12]} for n in nets]
            print_rows(rows, args.format, "table {{.ID}}\t{{.Name}}\t{{.Driver}}", HEADERS, noheading=args.noheading)
    elif verb == "inspect":
        docs, missing = [], []
        for n in args.names:
            try:
                net = store.get(n)
            except BerthError:
                missing.append(n)
                continue
            doc = dict(net)
            doc["containers"] = {c.id: {"name": c.name} for c in _users(rt, net["name"])}
            docs.append(doc)
        if args.format and args.format != "json":
            template_each([_view(d) | d for d in docs], args.format)
        else:
            print_json(docs)
        if missing:
            raise InvalidArgument(f"network {missing[-1]}: unable to find network with name or ID "
                                  f"{missing[-1]}: network not found")
    elif verb == "rm":
        from berth.engine import lifecycle

        rc = 0
        for n in args.names:
            try:
                net = store.get(n)
                users = _users(rt, net["name"])
                if users and not args.force:
                    raise BerthError(f'"{net["name"]}" has associated containers with it. Use -f to forcibly '
                                     "delete containers and pods: network is being used")
                for c in users:
                    lifecycle.remove(rt, c, force=True)
                remove_network(rt, net["name"])
                print(n)
            except BerthError as e:
                sys.stderr.write(f"Error: {e.message}\n")
                rc = 2 if "being used" in e.message else e.exit_code
        return rc
    elif verb == "prune":
        used = {n for c in rt.containers() for n in (c.config.get("networks") or {})}
        for net in _filter(store.list(), args.filter):
            if net["name"] != "podman" and net["name"] not in used:
                remove_network(rt, net["name"])
                print(net["name"])
    elif verb == "exists":
        return 0 if store.exists(args.name) else 1
    elif verb == "connect":
        from berth.engine.netconnect import connect

        opts = {}
        if args.alias:
            opts["aliases"] = args.alias
        if args.ip:
            opts["static_ips"] = [args.ip]
        if args.mac_address:
            opts["static_mac"] = args.mac_address
        connect(rt, rt.lookup(args.container), store.get(args.network)["name"], opts)
    elif verb == "disconnect":
        from berth.engine.netconnect import disconnect

        disconnect(rt, rt.lookup(args.container), store.get(args.network)["name"])
    return 0


def _filter(nets: list[dict], filters: list[str]) -> list[dict]:
    import re

    out = []
    for n in nets:
        ok = True
        for f in filters:
            k, _, v = f.partition("=")
            if k == "name":
                ok = bool(re.search(v, n["name"]))
            elif k == "id":
                ok = n["id"].startswith(v)
            elif k == "driver":
                ok = n["driver"] == v
            elif k == "label":
                lk, _, lv = v.partition("=")
                labels = n.get("labels") or {}
                ok = lk in labels and (not lv or labels[lk] == lv)
            else:
                raise InvalidArgument(f'invalid filter "{k}"')
            if not ok:
                break
        if ok:
            out.append(n)
    return out
