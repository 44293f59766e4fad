"""-p/--publish parsing (every Docker form) and host port reservations.

Podman keeps each published host port bound by conmon while the container runs, so a second
container cannot take the same port and gets a clear error; berth binds them here and hands the
sockets to conmon.
"""

from __future__ import annotations

import _socket as socket  # not socket.py: building its enums costs ~2 ms of every `run -p`

from berth.errors import InvalidArgument


def _port_range(s: str, what: str) -> tuple[int, int]:
    lo, sep, hi = s.partition("-")
    try:
        a = int(lo)
        b = int(hi) if sep else a
    except ValueError:
        raise InvalidArgument(f"invalid {what} port: {s!r}") from None
    if not (0 < a <= 65535 and 0 < b <= 65535) or b < a:
        raise InvalidArgument(f"invalid {what} port range: {s!r}")
    return a, b


def parse_publish(spec: str) -> list[dict]:
    """[[ip:][hostport]:]containerport[/proto]; ranges on both sides; `:80` = a random host port."""
    proto = "tcp"
    body = spec
    if "/" in spec:
        body, proto = spec.rsplit("/", 1)
    protos = proto.split(",")
    for p in protos:
        if p not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f'invalid protocol "{p}" for port mapping {spec}')
    host_ip = ""
    if body.startswith("["):
        end = body.index("]")
        host_ip, body = body[1:end], body[end + 2:]
    parts = body.split(":")
    if len(parts) == 3:
        host_ip, host, ctr = parts
    elif len(parts) == 2:
        host, ctr = parts
    elif len(parts) == 1:
        host, ctr = "", parts[0]
    else:
        raise InvalidArgument(f"invalid port format: {spec}")
    if host_ip:
        import ipaddress  # only here: ~1.5 ms to import

        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise InvalidArgument(f"invalid IP address {host_ip!r} in port mapping {spec}") from None
    clo, chi = _port_range(ctr, "container")
    n = chi - clo + 1
    if host:
        hlo, hhi = _port_range(host, "host")
        if hhi - hlo + 1 != n:
            raise InvalidArgument(f"host and container port ranges have different lengths: {spec}")
    else:
        hlo = 0
    return [{"host_ip": host_ip, "container_port": clo, "host_port": hlo, "range": n, "protocol": p}
            for p in protos]


def free_port(proto: str) -> int:
    """A host port nobody holds right now, for `-p CTR_PORT` where a helper (pasta, slirp4netns)
    binds the host side itself."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.bind(("", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def reserve(mappings: list[dict]) -> list[socket.socket]:
    """Bind every published host port now (picking free ones for random ports, in place)."""
    socks: list[socket.socket] = []
    try:
        for pm in mappings:
            kind = socket.SOCK_DGRAM if pm["protocol"] == "udp" else socket.SOCK_STREAM
            fam = socket.AF_INET6 if ":" in pm["host_ip"] else socket.AF_INET
            if pm["host_port"] == 0:
                if pm["range"] != 1:
                    raise InvalidArgument("a random host port needs a single container port")
                s = socket.socket(fam, kind)
                s.bind((pm["host_ip"] or "", 0))
                pm["host_port"] = s.getsockname()[1]
                socks.append(s)
                continue
            for port in range(pm["host_port"], pm["host_port"] + pm["range"]):
                s = socket.socket(fam, kind)
                if kind == socket.SOCK_STREAM:  # for UDP it would let a second socket share the port
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind((pm["host_ip"] or "", port))
                except OSError as e:
                    s.close()
                    what = "TCP" if kind == socket.SOCK_STREAM else "UDP"
                    addr = f"{pm['host_ip']}:{port}" if pm["host_ip"] else f":{port}"
                    raise InvalidArgument(f"cannot listen on the {what} port: listen {what.lower()}4 {addr}: "
                                          f"bind: {e.strerror.lower() if e.strerror else e}") from None
                socks.append(s)
        for s in socks:
            if s.type == socket.SOCK_STREAM:
                s.listen(1)
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise


def format_ports(mappings: list[dict]) -> str:
    """ps PORTS column: 0.0.0.0:8080->80/tcp."""
    out = []
    for pm in mappings:
        ip = pm["host_ip"] or "0.0.0.0"
        if pm["range"] > 1:
            out.append(f"{ip}:{pm['host_port']}-{pm['host_port'] + pm['range'] - 1}->"
                       f"{pm['container_port']}-{pm['container_port'] + pm['range'] - 1}/{pm['protocol']}")
        else:
            out.append(f"{ip}:{pm['host_port']}->{pm['container_port']}/{pm['protocol']}")
    return ", ".join(out)
