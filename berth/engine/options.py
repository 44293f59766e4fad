"""Typed options for engine calls; the front ends (CLI, API, Python client) fill them in."""

from __future__ import annotations

from berth.util.record import asdict, field, record


@record
class CreateOptions:
    image: str
    command: list[str] = field(default_factory=list)
    name: str = ""
    entrypoint: list[str] | None = None      # None: the image's; [] : cleared with --entrypoint ""
    env: list[str] = field(default_factory=list)
    env_files: list[str] = field(default_factory=list)
    workdir: str = ""
    user: str = ""
    group_add: list[str] = field(default_factory=list)
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    networks: list[str] = field(default_factory=list)   # --network values: none, host, NAME[:opts], ...
    network_aliases: list[str] = field(default_factory=list)
    ip: str = ""
    mac_address: str = ""
    publish: list[str] = field(default_factory=list)
    publish_all: bool = False
    expose: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    add_hosts: list[str] = field(default_factory=list)
    no_hosts: bool = False
    userns: str = ""
    uidmap: list[str] = field(default_factory=list)
    gidmap: list[str] = field(default_factory=list)
    interactive: bool = False
    tty: bool = False
    detach: bool = False
    remove: bool = False
    replace: bool = False
    cidfile: str = ""
    stop_signal: str = ""
    stop_timeout: int | None = None
    init: bool = False
    read_only: bool = False
    read_only_tmpfs: bool = True             # --read-only also mounts tmpfs on /run, /tmp, /var/tmp
    tmpfs: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)       # -v [SRC:]DEST[:OPTS]
    mounts: list[str] = field(default_factory=list)        # --mount type=...,src=...,dst=...
    volumes_from: list[str] = field(default_factory=list)  # --volumes-from CTR[:ro|rw]
    image_volume: str = "bind"                             # the image's VOLUMEs: bind (anonymous), tmpfs, ignore
    ulimits: list[str] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)
    memory: int = 0                          # bytes
    cpus: float = 0.0
    pids_limit: int | None = None
    restart: str = ""
    log_driver: str = "k8s-file"
    pull: str = "missing"
    create_command: list[str] = field(default_factory=list)
    sig_proxy: bool = True
    sdnotify: str = "container"
    healthcheck: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@record
class ExecOptions:
    command: list[str]
    interactive: bool = False
    tty: bool = False
    detach: bool = False
    env: list[str] = field(default_factory=list)
    user: str = ""
    workdir: str = ""
    privileged: bool = False


_CTRL = {f"ctrl-{c}": ord(c) - 96 for c in "abcdefghijklmnopqrstuvwxyz"}
_CTRL.update({"ctrl-@": 0, "ctrl-[": 27, "ctrl-\\": 28, "ctrl-]": 29, "ctrl-^": 30, "ctrl-_": 31})


def parse_detach_keys(spec: str) -> bytes:
    """--detach-keys as the bytes to watch for (Docker's syntax: ctrl-<key> and single characters)."""
    from berth.errors import InvalidArgument

    if not spec:
        return b""
    out = bytearray()
    for part in spec.split(","):
        part = part.strip().lower()
        if part in _CTRL:
            out.append(_CTRL[part])
        elif len(part) == 1:
            out.append(ord(part))
        else:
            raise InvalidArgument(f"invalid detach keys: {spec}")
    return bytes(out)
