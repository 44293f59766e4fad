"""Container networking: the netns, IPs, netavark setup/teardown, /etc/hosts and resolv.conf.

Modes (config["network"]): bridge (one or more networks, netavark), none (own netns, loopback
only), host, container:ID (join another container's netns), ns:PATH, and the rootless user-mode
stacks pasta and slirp4netns (own netns, a helper process carrying its traffic).  The bridge netns is created
and owned by berth and torn down in cleanup, which conmon's exit command runs even when the CLI
was SIGKILLed.
"""

from __future__ import annotations

import os

from berth.engine.container import Container
from berth.engine.runtime import Runtime
from berth.errors import BerthError, InvalidArgument

TYPE_CHECKING = False  # collections.abc imports collections (~2 ms); annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

USER_MODE = ("pasta", "slirp4netns")  # rootless networking programs, pasta preferred


def rootless_network_cmd(rt: Runtime) -> str:
    """The program a rootless container gets by default: containers.conf's
    default_rootless_network_cmd, else pasta, else slirp4netns, whichever is installed."""
    from berth.network import pasta, slirp4netns

    found = {"pasta": pasta.available, "slirp4netns": slirp4netns.available}
    wanted = rt.conf.default_rootless_network_cmd
    if wanted:
        if wanted not in found:
            raise InvalidArgument(f'invalid default_rootless_network_cmd option "{wanted}" in containers.conf '
                                  "(pasta or slirp4netns)")
        return wanted
    return next((name for name in USER_MODE if found[name]()), "pasta")


def check_user_mode_tool(mode: str) -> None:
    """At create: a container whose network program is missing is refused before anything exists."""
    from berth.network import pasta, slirp4netns

    if mode == "pasta" and not pasta.available():
        hint = " (or install slirp4netns and use --network slirp4netns)" if slirp4netns.available() else ""
        raise BerthError(f'could not find "pasta" in $PATH: install it with: sudo apt install passt{hint}')
    if mode == "slirp4netns" and not slirp4netns.available():
        raise BerthError('could not find "slirp4netns" in $PATH: install it with: sudo apt install slirp4netns')


def networks_of(rt: Runtime) -> object:
    from berth.network.networks import NetworkStore

    return NetworkStore(rt.root, rt.db)


def _netavark(rt: Runtime):
    from berth.network.netavark import Netavark

    return Netavark(os.path.join(rt.runroot, "networks"), rootless=rt.rootless)


def parse_network_flag(values: list[str], aliases: list[str], ip: str, mac: str) -> tuple[str, dict]:
    """--network values → (mode, {network: options}); Podman's name[:ip=..,alias=..,mac=..] form."""
    mode = "bridge"
    nets: dict[str, dict] = {}
    for v in values:
        for item in v.split(",") if not v.startswith(("container:", "ns:")) and ":" not in v else [v]:
            if item in ("", "bridge", "default", "private"):
                nets.setdefault("podman", {})
                continue
            if item in ("none", "host") + USER_MODE or item.startswith(("container:", "ns:")):
                if len(values) > 1:
                    raise InvalidArgument(f"cannot set multiple networks without bridge network mode, "
                                          f"selected mode {item}: invalid argument")
                return item, {}
            name, _, opts = item.partition(":")
            o: dict = {}
            for kv in filter(None, opts.split(",")):
                k, _, val = kv.partition("=")
                if k == "ip":
                    o["static_ips"] = [val]
                elif k == "alias":
                    o.setdefault("aliases", []).append(val)
                elif k == "mac":
                    o["static_mac"] = val
                elif k == "interface_name":
                    o["interface_name"] = val
                else:
                    raise InvalidArgument(f"unknown bridge network option: {k}")
            nets[name] = o
    if not nets:
        nets["podman"] = {}
    first = next(iter(nets.values()))
    if aliases:
        first.setdefault("aliases", []).extend(aliases)
    if ip:
        first["static_ips"] = [ip]
    if mac:
        first["static_mac"] = mac
    return mode, nets


def _done() -> None:
    pass


def setup(rt: Runtime, c: Container, background: bool = False) -> tuple[str, list, Callable[[], None]]:
    """Prepare the container's network; returns (netns path for the spec or "", reserved sockets,
    finish).  With background=True netavark may still be working when this returns: the netns
    exists (the runtime can create the container in it) and finish() waits for netavark, records
    its result and undoes everything if it failed.  finish() must be called before the container
    starts, also on error paths."""
    path, socks, pending = _setup(rt, c)
    if pending is None:
        return path, socks, _done
    if not background:
        _finish(rt, c, pending, socks)
        return path, socks, _done
    finished: list[bool] = []

    def finish() -> None:
        if finished:
            return
        finished.append(True)
        _finish(rt, c, pending, socks)

    return path, socks, finish


def _setup(rt: Runtime, c: Container) -> tuple[str, list, object | None]:
    mode = c.config.get("network", "none")
    if mode == "host":
        return "", [], None
    if mode.startswith("ns:"):
        return mode[3:], [], None
    if mode.startswith("container:"):
        other = rt.lookup(mode.split(":", 1)[1])
        if not other.status.is_alive():
            raise InvalidArgument(f"cannot join the network of container {other.name}: it is not running")
        return f"/proc/{other.state['pid']}/ns/net", [], None
    if mode in ("none", "private"):
        return "", [], None
    if mode in USER_MODE:
        return _setup_user_mode(rt, c, mode), [], None
    from berth.network import netns
    from berth.network.ports import reserve

    store = networks_of(rt)
    nets = c.config.get("networks") or {"podman": {}}
    ports = [dict(p) for p in c.config.get("ports") or []]
    socks = reserve(ports)
    payload: dict = {"container_id": c.id, "container_name": c.name, "port_mappings": ports,
                     "networks": {}, "network_info": {}}
    netns_ready = None
    try:
        # recorded before it exists: a CLI killed from here on leaves a state that cleanup can undo
        c.state.update(netns=netns.path_for(rt.runroot, f"berth-{c.id[:16]}"), network_payload=None)
        rt.save(c)
        netns_ready = netns.begin_create(rt.runroot, f"berth-{c.id[:16]}")  # made while addresses are chosen
        for i, (name, opts) in enumerate(nets.items()):
            net = store.get(name)
            wanted = (opts.get("static_ips") or [""])[0]
            ip = store.allocate(net, c.id, wanted)
            entry: dict = {"static_ips": [ip], "aliases": list(opts.get("aliases") or []),
                           "interface_name": opts.get("interface_name") or f"eth{i}"}
            if opts.get("static_mac"):
                entry["static_mac"] = opts["static_mac"]
            payload["networks"][name] = entry
            payload["network_info"][name] = net
        c.state["network_payload"] = payload
        rt.save(c)
        path = netns_ready()
        bridges = [n["network_interface"] for n in payload["network_info"].values()
                   if n.get("driver") == "bridge" and n.get("network_interface")] if not rt.rootless else []
        pending = _netavark(rt).begin("setup", path, payload, after_ok=lambda: _hold(bridges) if bridges else None)
    except BaseException:
        if netns_ready is not None:
            try:
                netns_ready()  # the namespace thread finishes before teardown removes its file
            except BerthError:
                pass
        _undo(rt, c, socks)
        raise
    c.state["netns"] = path
    c.state["network_payload"] = payload
    c.state["ports"] = ports
    return path, socks, pending


def _hold(bridges: list[str]) -> None:
    from berth.network import bridgekeep

    for b in bridges:
        bridgekeep.hold(b)


def remove_network(rt: Runtime, name: str) -> None:
    """Forget a network, and take its bridge and network-level rules off the host."""
    store = networks_of(rt)
    net = store.get(name)
    retire_bridge(rt, net)
    store.remove(net["name"])


def retire_bridge(rt: Runtime, net: dict) -> None:
    """Undo bridgekeep.hold: release the pair, and if no container is left on the bridge have
    netavark's own teardown remove the bridge and its rules, through a throw-away namespace
    attached and detached again (netavark has no "remove network" verb)."""
    from berth.network import bridgekeep, netns

    bridge = net.get("network_interface") or ""
    if rt.rootless or net.get("driver") != "bridge" or not bridge or not bridgekeep.held(bridge):
        return
    if set(bridgekeep.ports(bridge)) - {bridgekeep.names(bridge)[0]}:
        bridgekeep.release(bridge)  # others are attached: the last of them takes it all down
        return
    store = networks_of(rt)
    cid = os.urandom(32).hex()
    path = netns.create(rt.runroot, f"berth-retire-{cid[:12]}")
    try:
        ip = store.allocate(net, cid)
        payload = {"container_id": cid, "container_name": f"retire-{cid[:12]}", "port_mappings": [],
                   "networks": {net["name"]: {"static_ips": [ip], "aliases": [], "interface_name": "eth0"}},
                   "network_info": {net["name"]: net}}
        nv = _netavark(rt)
        try:
            nv.setup(path, payload)
        finally:
            bridgekeep.release(bridge)
        nv.teardown(path, payload)
    except BerthError:
        bridgekeep.release(bridge)
    finally:
        netns.remove(path)
        store.release(cid)


def _finish(rt: Runtime, c: Container, pending, socks: list) -> None:
    from berth.network.netavark import parse_status

    try:
        c.state["network_status"] = parse_status(pending.result())
    except BaseException:
        _undo(rt, c, socks)
        raise


def _undo(rt: Runtime, c: Container, socks: list) -> None:
    """A setup that failed part-way leaves nothing: ports, addresses, netavark's work, the netns
    (the state names them before they exist, so teardown finds what there is)."""
    for s in socks:
        s.close()
    teardown(rt, c)
    rt.save(c)


def _slirp_socket(rt: Runtime, c: Container) -> str:
    # an AF_UNIX path must fit in 108 bytes: the container's run directory is too deep
    return os.path.join(rt.runroot, "slirp4netns", f"{c.id[:16]}.sock")


def _setup_user_mode(rt: Runtime, c: Container, mode: str) -> str:
    from berth.network import netns

    ports = [dict(p) for p in c.config.get("ports") or []]
    c.state.update(netns=netns.path_for(rt.runroot, f"berth-{c.id[:16]}"), network_payload=None)
    rt.save(c)
    path = netns.create(rt.runroot, f"berth-{c.id[:16]}")
    os.makedirs(rt.rundir(c.id), exist_ok=True)
    try:
        if mode == "slirp4netns":
            from berth.network import slirp4netns

            slirp4netns.start(path, ports, os.path.join(rt.rundir(c.id), "slirp4netns.pid"), _slirp_socket(rt, c),
                              os.path.join(rt.rundir(c.id), "slirp4netns.log"))
        else:
            from berth.network import pasta

            pasta.start(path, ports, os.path.join(rt.rundir(c.id), "pasta.pid"))
    except BaseException:
        netns.remove(path)
        c.state["netns"] = ""
        rt.save(c)
        raise
    c.state["ports"] = ports
    return path


def teardown(rt: Runtime, c: Container) -> None:
    path = c.state.get("netns")
    payload = c.state.get("network_payload")
    if not path:
        return
    from berth.network import netns

    if c.config.get("network") == "pasta":
        from berth.network import pasta

        pasta.stop(os.path.join(rt.rundir(c.id), "pasta.pid"))
    elif c.config.get("network") == "slirp4netns":
        from berth.network import slirp4netns

        slirp4netns.stop(os.path.join(rt.rundir(c.id), "slirp4netns.pid"), _slirp_socket(rt, c))

    if payload:
        try:
            _netavark(rt).teardown(path, payload)
        except BerthError as e:
            if c.state.get("network_status"):  # a setup that never completed has nothing to undo
                import sys

                sys.stderr.write(f"Error: tearing down network of {c.name}: {e}\n")
    netns.remove(path)
    networks_of(rt).release(c.id)
    c.state["netns"] = ""
    c.state["network_payload"] = None
    c.state["network_status"] = None


def primary_ip(c: Container) -> tuple[str, str, int, str]:
    """(ip, gateway, prefix length, mac) of the first interface, for hosts and inspect."""
    payload = c.state.get("network_payload") or {}
    for name, entry in payload.get("networks", {}).items():
        st = (c.state.get("network_status") or {}).get(name) or {}
        for iface in (st.get("interfaces") or {}).values():
            for sub in iface.get("subnets") or []:
                ip, _, plen = sub.get("ipnet", "").partition("/")
                return ip, sub.get("gateway", ""), int(plen or 0), iface.get("mac_address", "")
        # netavark still working (setup runs beside the runtime's create): the address is ours anyway
        subnets = (payload.get("network_info", {}).get(name) or {}).get("subnets") or [{}]
        ips = entry.get("static_ips") or []
        if ips:
            plen = subnets[0].get("subnet", "/0").partition("/")[2]
            return ips[0], subnets[0].get("gateway", ""), int(plen or 0), entry.get("static_mac", "")
    return "", "", 0, ""


def hosts_and_resolv(rt: Runtime, c: Container) -> tuple[str, str]:
    """The /etc/hosts and /etc/resolv.conf a container gets in its network mode."""
    cfg = c.config
    mode = cfg.get("network", "none")
    host, name = cfg["hostname"], c.name
    names = host if host == name else f"{host} {name}"
    if mode == "host":
        hosts = _read("/etc/hosts")
        if hosts and not hosts.endswith("\n"):
            hosts += "\n"
    else:
        hosts = ("127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
                 "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n")
    ip, gw, _, _ = primary_ip(c)
    if ip:
        hosts += f"{ip}\t{names}\n"
        hosts += f"{gw}\thost.containers.internal host.docker.internal\n"
    elif mode != "host":
        hosts += f"127.0.1.1\t{names}\n"
    for entry in cfg.get("add_hosts") or []:
        hname, _, addr = entry.partition(":")  # host:ip, the ip may itself hold colons (IPv6)
        hosts += f"{addr.strip('[]')}\t{hname}\n"
    resolv_lines = []
    dns_servers: list[str] = []
    search: list[str] = []
    if mode == "slirp4netns":
        from berth.network.slirp4netns import DNS_IP

        dns_servers.append(DNS_IP)  # its forwarder reaches the host's resolver, even one on 127.0.0.x
    for st in (c.state.get("network_status") or {}).values():
        dns_servers += st.get("dns_server_ips") or []
        search += st.get("dns_search_domains") or []
    host_resolv = _read("/etc/resolv.conf")
    host_ns = [ln.split()[1] for ln in host_resolv.splitlines() if ln.startswith("nameserver") and len(ln.split()) > 1]
    host_search = next((ln.split()[1:] for ln in host_resolv.splitlines() if ln.startswith("search")), [])
    host_opts = next((ln.split()[1:] for ln in host_resolv.splitlines() if ln.startswith("options")), [])
    if mode not in ("host",):
        host_ns = [n for n in host_ns if not n.startswith("127.")] or (["8.8.8.8", "8.8.4.4"] if not dns_servers
                                                                    else [])
    servers = cfg.get("dns") or (dns_servers + host_ns)
    searches = cfg.get("dns_search") or (search + host_search)
    options = cfg.get("dns_option") or host_opts
    if searches and searches != ["."]:
        resolv_lines.append("search " + " ".join(searches))
    resolv_lines += [f"nameserver {s}" for s in servers]
    if options:
        resolv_lines.append("options " + " ".join(options))
    return hosts, "\n".join(resolv_lines) + "\n"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
