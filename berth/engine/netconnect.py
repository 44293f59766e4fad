"""network connect / disconnect, also on running containers (netavark on the live netns)."""

from __future__ import annotations

from berth.engine.container import Container
from berth.engine.network import _netavark, networks_of
from berth.engine.runtime import Runtime
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument


def _save_config(rt: Runtime, c: Container) -> None:
    with rt.db.write():
        rt.db.save_config(c.id, c.name, c.config)
        rt.db.save_state(c.id, c.state)


def connect(rt: Runtime, c: Container, name: str, opts: dict) -> None:
    store = networks_of(rt)
    with rt.lock(c.id):
        c = rt.reload(c)
        if c.config.get("network") != "bridge":
            raise InvalidArgument(f"network mode {c.config.get('network')} does not support connecting networks")
        nets = c.config.setdefault("networks", {})
        if name in nets:
            raise AlreadyExists(f"container {c.id} is already connected to network \"{name}\": network is "
                                "already connected")
        if c.status.is_alive() and c.state.get("netns"):
            net = store.get(name)
            ip = store.allocate(net, c.id, (opts.get("static_ips") or [""])[0])
            entry = {"static_ips": [ip], "aliases": list(opts.get("aliases") or []),
                     "interface_name": f"eth{len(nets)}"}
            if opts.get("static_mac"):
                entry["static_mac"] = opts["static_mac"]
            one = {"container_id": c.id, "container_name": c.name, "port_mappings": [],
                   "networks": {name: entry}, "network_info": {name: net}}
            try:
                status = _netavark(rt).setup(c.state["netns"], one)
            except BaseException:
                store.release(c.id, name)
                raise
            payload = c.state["network_payload"]
            payload["networks"][name] = entry
            payload["network_info"][name] = net
            c.state.setdefault("network_status", {}).update(status)
        nets[name] = opts
        _save_config(rt, c)


def disconnect(rt: Runtime, c: Container, name: str) -> None:
    store = networks_of(rt)
    with rt.lock(c.id):
        c = rt.reload(c)
        nets = c.config.get("networks") or {}
        if name not in nets:
            raise FailedPrecondition(f"container {c.id} is not connected to network {name}")
        payload = c.state.get("network_payload") or {}
        if c.status.is_alive() and name in payload.get("networks", {}):
            one = {"container_id": c.id, "container_name": c.name, "port_mappings": [],
                   "networks": {name: payload["networks"][name]},
                   "network_info": {name: payload["network_info"][name]}}
            _netavark(rt).teardown(c.state["netns"], one)
            del payload["networks"][name]
            del payload["network_info"][name]
            (c.state.get("network_status") or {}).pop(name, None)
            store.release(c.id, name)
        del nets[name]
        _save_config(rt, c)
