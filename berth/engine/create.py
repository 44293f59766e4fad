"""Creating a container: merge the image's config with the user's options and record it."""

from __future__ import annotations

import os
import time

from berth.engine.container import Container, new_state
from berth.engine.envvars import _read_env_file, merge_env  # noqa: F401  (exec and create share them)
from berth.engine.options import CreateOptions
from berth.engine.runtime import Runtime
from berth.errors import AlreadyExists, BerthError, InvalidArgument, NoSuchImage
from berth.oci.spec import normalize_cap, parse_signal, parse_ulimit
from berth.util.ids import new_id, random_name, valid_name

RESTART_POLICIES = ("", "no", "always", "on-failure", "unless-stopped")


def parse_restart(value: str) -> tuple[str, int]:
    name, _, count = value.partition(":")
    if name not in RESTART_POLICIES:
        raise InvalidArgument(f'"{name}" is not a valid restart policy: invalid argument')
    retries = 0
    if count:
        if name != "on-failure":
            raise InvalidArgument("restart policy retries can only be specified with on-failure restart policy")
        if not count.isdigit():
            raise InvalidArgument(f'parsing restart policy retry count: strconv.Atoi: parsing "{count}": invalid syntax')
        retries = int(count)
    return name, retries


def _tmpfs(opts: CreateOptions) -> list[str]:
    """--read-only comes with writable tmpfs on /run, /tmp and /var/tmp, as Podman's --read-only-tmpfs."""
    out = list(opts.tmpfs)
    if opts.read_only and getattr(opts, "read_only_tmpfs", True):
        taken = {t.partition(":")[0].rstrip("/") for t in out}
        out += [d for d in ("/run", "/tmp", "/var/tmp") if d not in taken]
    return out


def validate(opts: CreateOptions) -> None:
    for c in opts.cap_add + opts.cap_drop:
        normalize_cap(c)
    for u in opts.ulimits:
        parse_ulimit(u)
    if opts.stop_signal:
        parse_signal(opts.stop_signal)
    if opts.restart:
        name, _ = parse_restart(opts.restart)
        if opts.remove and name not in ("", "no"):
            raise InvalidArgument("the --rm option conflicts with --restart, when the restartPolicy is not \"\" and \"no\"")
    for s in opts.security_opt:
        key = s.split("=", 1)[0].split(":", 1)[0]
        if key not in ("no-new-privileges", "seccomp", "label", "apparmor", "mask", "unmask"):
            raise InvalidArgument(f"invalid --security-opt 1: {s!r}")
    for t in opts.tmpfs:
        dest = t.partition(":")[0]
        if not dest.startswith("/"):
            raise InvalidArgument(f'invalid container path "{dest}", must be an absolute path')
    if opts.cpus < 0:
        raise InvalidArgument("invalid value for --cpus: must be positive")
    if opts.memory and opts.memory < 6 * 1024 * 1024:
        raise InvalidArgument("minimum memory limit allowed is 6MB")


def _network_config(rt: Runtime, opts: CreateOptions, config: dict, icfg: dict) -> None:
    from berth.engine.network import (
        USER_MODE,
        check_user_mode_tool,
        networks_of,
        parse_network_flag,
        rootless_network_cmd,
    )

    values = [v for v in opts.networks if v]
    if rt.rootless and (not values or values in (["bridge"], ["default"], ["private"])):
        # an ordinary user cannot create bridges: pasta (or slirp4netns) gives the container a user-mode stack
        values = [rootless_network_cmd(rt)]
    mode, nets = parse_network_flag(values, opts.network_aliases, opts.ip, opts.mac_address)
    if mode in USER_MODE:
        check_user_mode_tool(mode)
    if mode == "bridge":
        store = networks_of(rt)
        for name in nets:
            store.get(name)
    elif opts.network_aliases or opts.ip or opts.mac_address:
        raise InvalidArgument("--network-alias, --ip and --mac-address need a bridge network")
    ports: list[dict] = []
    if opts.publish:
        from berth.network.ports import parse_publish

        for spec in opts.publish:
            ports += parse_publish(spec)
    exposed = set(config["exposed_ports"]) | {p if "/" in p else f"{p}/tcp" for p in opts.expose}
    if opts.publish_all:
        for p in sorted(exposed):
            num, _, proto = p.partition("/")
            if not any(m["container_port"] <= int(num.split("-")[0]) < m["container_port"] + m["range"]
                       for m in ports):
                ports += [{"host_ip": "", "container_port": int(num.split("-")[0]), "host_port": 0, "range": 1,
                           "protocol": proto or "tcp"}]
    if ports and mode not in ("bridge", *USER_MODE):
        if mode == "host":
            ports = []  # Podman: published ports are ignored with the host network
        else:
            raise InvalidArgument(f"port mappings cannot be used with network mode {mode}")
    config.update(network=mode, networks=nets if mode == "bridge" else {}, ports=ports,
                  exposed_ports=sorted(exposed), dns=list(opts.dns), dns_search=list(opts.dns_search),
                  dns_option=list(opts.dns_option), add_hosts=list(opts.add_hosts), no_hosts=opts.no_hosts)
    for h in opts.add_hosts:
        if ":" not in h:
            raise InvalidArgument(f'invalid IP address in add-host: "{h}"')


def create_container(rt: Runtime, opts: CreateOptions) -> Container:
    validate(opts)
    local = rt.images.resolve_id(opts.image)
    if local is None or opts.pull in ("always", "newer"):
        # the registry client (urllib3 and ~150 modules) is only loaded when a registry is needed
        from berth.image.pull import ensure_image

        ensure_image(rt, opts.image, opts.pull)
        local = rt.images.resolve_id(opts.image)
    image = rt.images.get(local) if local else None
    if image is None:
        raise NoSuchImage(f"{opts.image}: image not known")
    icfg = image.run_config
    mount_plan = None
    if opts.volumes or opts.mounts or opts.volumes_from or icfg.get("Volumes"):
        from berth.engine import volmounts  # only then: a plain `run` does not pay for the import

        mount_plan = volmounts.plan(rt, opts, icfg)  # checks every mount before anything is made
    entrypoint = icfg.get("Entrypoint") or [] if opts.entrypoint is None else opts.entrypoint
    cmd = opts.command or ([] if opts.entrypoint is not None and opts.entrypoint else icfg.get("Cmd") or [])
    if opts.entrypoint is not None and not opts.command and opts.entrypoint:
        cmd = []
    args = list(entrypoint) + list(cmd)
    if not args:
        raise InvalidArgument("no command or entrypoint provided, and no CMD or ENTRYPOINT from image")
    user_env: list[str] = []
    for f in opts.env_files:
        user_env += _read_env_file(f)
    user_env += opts.env
    env = merge_env(list(icfg.get("Env") or []), user_env)
    cid = new_id()
    name = opts.name or ""
    if name:
        if not valid_name(name):
            raise InvalidArgument(f"container name \"{name}\" does not match the required pattern "
                                  "[a-zA-Z0-9][a-zA-Z0-9_.-]*: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: "
                                  "invalid argument")
    if name and opts.replace:
        existing = rt.db.name_taken(name)
        if existing:
            from berth.engine.lifecycle import remove

            remove(rt, rt.lookup(existing), force=True)
    if not name:
        for _ in range(100):
            name = random_name()
            if not rt.db.name_taken(name):
                break
    restart, retries = parse_restart(opts.restart) if opts.restart else ("", 0)
    stop_signal = parse_signal(opts.stop_signal or icfg.get("StopSignal") or "SIGTERM")
    nnp = any(s.split("=", 1)[0].split(":", 1)[0] == "no-new-privileges" and not s.endswith("=false")
              for s in opts.security_opt)
    seccomp = ""
    for s in opts.security_opt:
        if s.startswith(("seccomp=", "seccomp:")):
            seccomp = s[8:]
    labels = dict(icfg.get("Labels") or {})
    labels.update(opts.labels)
    image_name = image.names[0] if image.names else image.id
    if rt.images.resolve_id(opts.image) and opts.image not in (image.id, image.id[:12]) \
            and not image.id.startswith(opts.image):
        from berth.image.store import qualify

        try:
            q = qualify(opts.image)
            if q in image.names:
                image_name = q
        except BerthError:
            pass
    config = {
        "id": cid, "name": name, "image_id": image.id, "image_name": image_name, "raw_image": opts.image,
        "entrypoint": list(entrypoint), "command": list(cmd), "args": args, "env": env,
        "workdir": opts.workdir or icfg.get("WorkingDir") or "/",
        "user": opts.user or icfg.get("User") or "", "group_add": list(opts.group_add),
        "hostname": opts.hostname or cid[:12], "labels": labels, "annotations": dict(opts.annotations),
        "network": "none",
        "tty": opts.tty, "interactive": opts.interactive, "stop_signal": stop_signal,
        "stop_timeout": opts.stop_timeout if opts.stop_timeout is not None else rt.conf.stop_timeout,
        "init": opts.init, "read_only": opts.read_only, "tmpfs": _tmpfs(opts), "ulimits": list(opts.ulimits),
        "cap_add": list(opts.cap_add), "cap_drop": list(opts.cap_drop), "privileged": opts.privileged,
        "no_new_privileges": nnp, "seccomp_profile": "" if seccomp == "unconfined" else seccomp,
        "seccomp_unconfined": seccomp == "unconfined", "security_opt": list(opts.security_opt),
        "memory": opts.memory, "cpus": opts.cpus,
        "pids_limit": opts.pids_limit if opts.pids_limit is not None else None,
        "restart_policy": restart, "restart_retries": retries, "auto_remove": opts.remove,
        "log_driver": "k8s-file" if opts.log_driver in ("json-file", "k8s-file", "") else opts.log_driver,
        "create_command": list(opts.create_command), "driver": rt.layers.driver,
        "exposed_ports": sorted((icfg.get("ExposedPorts") or {}).keys()),
        "cidfile": opts.cidfile,
        "sdnotify": opts.sdnotify, "healthcheck": opts.healthcheck,
    }
    if opts.sdnotify == "healthy" and not opts.healthcheck:
        raise InvalidArgument("SDNotify policy healthy requires a healthcheck to be set")
    _network_config(rt, opts, config, icfg)
    if rt.rootless and (opts.memory or opts.cpus or opts.pids_limit):
        # no cgroup delegation for ordinary users here: say so, do not fail (Podman's wording)
        import sys

        sys.stderr.write('time="' + time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()) + '" level=warning '
                         'msg="Resource limits are not supported and ignored on cgroups V1 rootless systems"\n')
    from berth.engine.idmap import resolve

    uid_maps, gid_maps, default_user = resolve(rt, opts.userns, opts.uidmap, opts.gidmap, rt.opts.host_uid,
                                               rt.opts.host_gid)
    config.update(userns=opts.userns, uid_mappings=uid_maps, gid_mappings=gid_maps)
    if default_user and not opts.user:
        config["user"] = default_user
    now = time.time()
    if opts.cidfile and os.path.exists(opts.cidfile):
        raise AlreadyExists(f"container id file exists. Ensure another container is not using it or "
                            f"delete {opts.cidfile}")
    bundle = rt.bundle(cid)
    os.makedirs(bundle, exist_ok=True)
    made: list[str] = []  # volumes this creation made, removed again if it fails
    try:
        rt.layers.create_container_layer(cid, image.top_layer)
        if mount_plan is not None:
            volmounts.apply(rt, mount_plan, config, made, opts)
        with rt.db.write():
            other = rt.db.name_taken(name)
            if other:
                raise AlreadyExists(
                    f"creating container storage: the container name \"{name}\" is already in use by {other}. "
                    "You have to remove that container to be able to reuse that name: that name is already in use")
            rt.db.add_container(cid, name, image.id, now, config, new_state())
        if opts.cidfile:
            with open(opts.cidfile, "w") as f:
                f.write(cid)
    except BaseException:
        rt.layers.remove_container_layer(cid)
        import shutil

        shutil.rmtree(os.path.dirname(bundle), ignore_errors=True)
        if made:
            from berth.engine.volumes import discard

            discard(rt, made)
        raise
    return Container(cid, name, image.id, now, config, new_state())
