"""Network definitions (Podman's JSON format, one file per network) and IP address management.

The default network `podman` is Podman's: bridge podman0, 10.88.0.0/16, no DNS; it is never
written to disk.  Other networks live in <root>/networks/<name>.json.  IPs are allocated by berth
(netavark gets them as static_ips, as from Podman) and recorded in the state DB.  Allocation starts
at a random address of the range: two stores sharing the default bridge (Podman's and berth's, or
two test stores) then rarely pick the same address, where Podman's sequential choice always would.
"""

from __future__ import annotations

import os
import time

from berth.engine.db import Database
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from berth.util import jsonc
from berth.util.ids import valid_name
from berth.util.timefmt import rfc3339

TYPE_CHECKING = False  # ipaddress costs ~1.5 ms: imported where a network is made or an address asked for
if TYPE_CHECKING:
    import ipaddress

DEFAULT_NAME = "podman"
DEFAULT_ID = "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9"


class NoSuchNetwork(NotFound):
    pass


def default_network() -> dict:
    return {"name": DEFAULT_NAME, "id": DEFAULT_ID, "driver": "bridge", "network_interface": "podman0",
            "created": "2024-01-01T00:00:00Z",
            "subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}],
            "ipv6_enabled": False, "internal": False, "dns_enabled": False,
            "ipam_options": {"driver": "host-local"}}


class NetworkStore:
    def __init__(self, root: str, db: Database) -> None:
        self.dir = os.path.join(root, "networks")
        self.db = db
        self.db.conn.execute("CREATE TABLE IF NOT EXISTS ip_allocations (network TEXT NOT NULL, ip TEXT NOT NULL, "
                             "container TEXT NOT NULL, PRIMARY KEY (network, ip))")

    # definitions ------------------------------------------------------------------------------

    def list(self) -> list[dict]:
        nets = [default_network()]
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            names = []
        for n in names:
            if n.endswith(".json"):
                try:
                    with open(os.path.join(self.dir, n)) as f:
                        nets.append(jsonc.load(f))
                except (OSError, ValueError):
                    continue
        return nets

    def get(self, ref: str) -> dict:
        nets = self.list()
        for n in nets:
            if n["name"] == ref or n["id"] == ref:
                return n
        matches = [n for n in nets if ref and n["id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NoSuchNetwork(f"unable to find network with name or ID {ref}: network not found")

    def exists(self, ref: str) -> bool:
        try:
            self.get(ref)
            return True
        except NoSuchNetwork:
            return False

    def create(self, name: str, *, subnet: str = "", gateway: str = "", ip_range: str = "", internal: bool = False,
               disable_dns: bool = False, labels: dict | None = None, driver: str = "bridge",
               options: dict | None = None, interface_name: str = "", ignore: bool = False) -> dict:
        import ipaddress

        if driver != "bridge":
            raise InvalidArgument(f"unsupported driver {driver}: unsupported network driver")
        if not name:
            name = self._free_name()
        if not valid_name(name):
            raise InvalidArgument(f"network name {name} invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: "
                                  "invalid argument")
        if self.exists(name):
            if ignore:
                return self.get(name)
            raise AlreadyExists(f"network name {name} already used: network already exists")
        used = [ipaddress.ip_network(s["subnet"]) for n in self.list() for s in n.get("subnets", [])]
        if subnet:
            try:
                net = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                raise InvalidArgument(f'invalid CIDR address: {subnet}') from None
            for u in used:
                if net.overlaps(u):
                    raise InvalidArgument(f"subnet {net} is already used on the host or by another config")
        else:
            net = self._free_subnet(used)
        gw = gateway or str(next(net.hosts()))
        if ipaddress.ip_address(gw) not in net:
            raise InvalidArgument(f"gateway {gw} not in subnet {net}")
        sub: dict = {"subnet": str(net), "gateway": gw}
        if ip_range:
            rng = ipaddress.ip_network(ip_range, strict=False)
            if not rng.subnet_of(net):
                raise InvalidArgument(f"ip range {rng} is not in subnet {net}")
            hosts = list(rng.hosts()) or [rng.network_address]
            sub["lease_range"] = {"start_ip": str(hosts[0]), "end_ip": str(hosts[-1])}
        doc = {"name": name, "id": os.urandom(32).hex(), "driver": driver,
               "network_interface": interface_name or self._free_interface(),
               "created": rfc3339(time.time()), "subnets": [sub], "ipv6_enabled": False,
               "internal": internal, "dns_enabled": not disable_dns,
               "ipam_options": {"driver": "host-local"}}
        if labels:
            doc["labels"] = labels
        if options:
            doc["options"] = options
        os.makedirs(self.dir, exist_ok=True)
        path = os.path.join(self.dir, f"{name}.json")
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            import json  # only to write a definition, indented as Podman does

            json.dump(doc, f, indent=5)
        os.replace(tmp, path)
        return doc

    def remove(self, name: str) -> None:
        if name == DEFAULT_NAME:
            raise FailedPrecondition(f"default network {name} cannot be removed")
        self.get(name)
        os.unlink(os.path.join(self.dir, f"{name}.json"))
        with self.db.write():
            self.db.conn.execute("DELETE FROM ip_allocations WHERE network=?", (name,))

    def _free_name(self) -> str:
        names = {n["name"] for n in self.list()}
        i = 1
        while f"podman{i}" in names:
            i += 1
        return f"podman{i}"

    def _free_interface(self) -> str:
        taken = {n.get("network_interface") for n in self.list()}
        try:
            taken |= set(os.listdir("/sys/class/net"))
        except OSError:
            pass
        i = 1
        while f"podman{i}" in taken:
            i += 1
        return f"podman{i}"

    @staticmethod
    def _free_subnet(used: list) -> ipaddress.IPv4Network:
        import ipaddress

        host_routes = _host_routes()
        for third in range(0, 256):
            cand = ipaddress.ip_network(f"10.89.{third}.0/24")
            if not any(cand.overlaps(u) for u in used + host_routes):
                return cand
        raise FailedPrecondition("could not find free subnet from subnet pools")

    # IPAM ---------------------------------------------------------------------------------------

    def allocate(self, net: dict, cid: str, wanted: str = "") -> str:
        sub = net["subnets"][0]
        with self.db.write():
            taken = {r[0] for r in self.db.conn.execute("SELECT ip FROM ip_allocations WHERE network=?",
                                                        (net["name"],))}
            if wanted:
                import ipaddress

                network = ipaddress.ip_network(sub["subnet"])
                ip = ipaddress.ip_address(wanted)
                if ip not in network or ip == ipaddress.ip_address(sub["gateway"]):
                    raise InvalidArgument(f"requested static ip {wanted} not in any subnet on network "
                                          f"{net['name']}")
                if wanted in taken:
                    raise AlreadyExists(f"requested ip address {wanted} is already allocated to container "
                                        f"ID {self._owner(net['name'], wanted)[:12]}")
                chosen = wanted
            else:
                chosen = _pick(sub, taken)
                if not chosen:
                    raise FailedPrecondition(f"IPAM error: failed to find free IP in range: {sub['subnet']}")
            self.db.conn.execute("INSERT INTO ip_allocations (network, ip, container) VALUES (?,?,?)",
                                 (net["name"], chosen, cid))
        return chosen

    def _owner(self, network: str, ip: str) -> str:
        row = self.db.conn.execute("SELECT container FROM ip_allocations WHERE network=? AND ip=?",
                                   (network, ip)).fetchone()
        return row[0] if row else ""

    def release(self, cid: str, network: str | None = None) -> None:
        with self.db.write():
            if network:
                self.db.conn.execute("DELETE FROM ip_allocations WHERE container=? AND network=?", (cid, network))
            else:
                self.db.conn.execute("DELETE FROM ip_allocations WHERE container=?", (cid,))


def _host_routes() -> list:
    import ipaddress

    out = []
    try:
        with open("/proc/net/route") as f:
            next(f)
            for line in f:
                p = line.split()
                dest, mask = int(p[1], 16), int(p[7], 16)
                if dest == 0:
                    continue
                d = ipaddress.ip_address(dest.to_bytes(4, "little"))
                m = ipaddress.ip_address(mask.to_bytes(4, "little"))
                out.append(ipaddress.ip_network(f"{d}/{m}", strict=False))
    except (OSError, StopIteration, ValueError):
        pass
    return out


def _pick(sub: dict, taken: set[str]) -> str:
    """A free address of the subnet's range (its lease_range if it has one), from a random start:
    "" if there is none.  IPv4 in plain integers (every start on a bridge asks; ipaddress and
    random cost ~2 ms to import), anything else through ipaddress."""
    import _socket

    try:
        base, _, bits = sub["subnet"].partition("/")
        net = int.from_bytes(_socket.inet_pton(_socket.AF_INET, base), "big")
        prefix = int(bits)
        lr = sub.get("lease_range")

        def n(a: str) -> int:
            return int.from_bytes(_socket.inet_pton(_socket.AF_INET, a), "big")

        gw = n(sub["gateway"]) if sub.get("gateway") else -1
        lo = n(lr["start_ip"]) if lr else net + 1
        hi = n(lr["end_ip"]) if lr else net + (1 << (32 - prefix)) - 2

        def text(i: int) -> str:
            return _socket.inet_ntop(_socket.AF_INET, i.to_bytes(4, "big"))
    except (OSError, ValueError):  # not IPv4
        import ipaddress

        network = ipaddress.ip_network(sub["subnet"])
        gw = int(ipaddress.ip_address(sub["gateway"])) if sub.get("gateway") else -1
        lr = sub.get("lease_range")
        lo = int(ipaddress.ip_address(lr["start_ip"])) if lr else int(network.network_address) + 1
        hi = int(ipaddress.ip_address(lr["end_ip"])) if lr else int(network.broadcast_address) - 1

        def text(i: int) -> str:
            return str(ipaddress.ip_address(i))
    size = hi - lo + 1
    if size <= 0:
        return ""
    start = int.from_bytes(os.urandom(8), "big") % size
    for k in range(size):
        cand = lo + (start + k) % size
        if cand != gw and text(cand) not in taken:
            return text(cand)
    return ""
