"""berth port CONTAINER [PRIVATE_PORT[/PROTO]]."""

from __future__ import annotations

from berth.cli import flagparse


def add_arguments(p: flagparse.ArgumentParser, cmd: str) -> None:
    p.add_argument("-a", "--all", action="store_true", help="Display port information for all containers")
    p.add_argument("-l", "--latest", action="store_true", help="Act on the latest container")
    p.add_argument("container", nargs="?", metavar="CONTAINER")
    p.add_argument("port", nargs="?", metavar="PRIVATE_PORT[/PROTO]")


def _lines(c, want: str | None) -> list[str]:
    from berth.engine.inspect import _ps_ports

    out = []
    for pm in _ps_ports(c):
        for k in range(pm["range"]):
            key = f"{pm['container_port'] + k}/{pm['protocol']}"
            if want and want not in (key, str(pm["container_port"] + k)):
                continue
            host = f"{pm['host_ip'] or '0.0.0.0'}:{pm['host_port'] + k}"
            out.append(host if want else f"{key} -> {host}")
    return out


def run(args: flagparse.Namespace) -> int:
    from berth.cli.main import engine
    from berth.errors import InvalidArgument

    rt = engine(args)
    if args.all:
        for c in rt.containers():
            if c.status.is_alive():
                for line in _lines(c, None):
                    print(f"{c.short_id}\t{line}")
        return 0
    ref = rt.latest().id if args.latest else args.container
    if not ref:
        raise InvalidArgument("you must supply a running container name or id")
    c = rt.lookup(ref)
    lines = _lines(c, args.port) if c.status.is_alive() else []
    if args.port and not lines:
        raise InvalidArgument(f'failed to find published port "{args.port}"')
    for line in lines:
        print(line)
    return 0
