""".container Quadlet files -> a Type=notify service running `berth run --rm --replace -d`.

Podman's ExecStart also carries --cgroups=split (split cgroups between conmon and the container).
berth's run has no --cgroups flag yet, so it is left out (CGROUPS_SUPPORTED) and CgroupsMode= only
produces a warning.
"""

from __future__ import annotations

import csv
import os
import re

from berth.systemd.quadlet_base import (
    AUTO_UPDATE_LABEL,
    CONTAINER,
    SERVICE,
    Cmd,
    Context,
    ConvertError,
    absolute_path,
    add_all_strings,
    add_bools,
    add_keyvals,
    add_strings,
    base_cmd,
    container_name,
    image_source,
    init_service,
    require,
    storage_source,
    to_csv,
)
from berth.systemd.unitfile import UnitFile

CGROUPS_SUPPORTED = False
STRING_KEYS = (("Timezone", "--tz"), ("PidsLimit", "--pids-limit"), ("ShmSize", "--shm-size"),
               ("Entrypoint", "--entrypoint"), ("WorkingDir", "--workdir"), ("IP", "--ip"), ("IP6", "--ip6"),
               ("HostName", "--hostname"), ("StopSignal", "--stop-signal"), ("StopTimeout", "--stop-timeout"),
               ("Pull", "--pull"), ("Memory", "--memory"), ("Retry", "--retry"), ("RetryDelay", "--retry-delay"))
ALL_STRING_KEYS = (("NetworkAlias", "--network-alias"), ("Ulimit", "--ulimit"), ("DNS", "--dns"),
                   ("DNSOption", "--dns-option"), ("DNSSearch", "--dns-search"), ("GroupAdd", "--group-add"),
                   ("AddHost", "--add-host"), ("Tmpfs", "--tmpfs"))
BOOL_KEYS = (("RunInit", "--init"), ("EnvironmentHost", "--env-host"), ("ReadOnlyTmpfs", "--read-only-tmpfs"),
             ("HttpProxy", "--http-proxy"))
KEYVAL_KEYS = (("Environment", "--env"), ("Label", "--label"), ("Annotation", "--annotation"))
HEALTH_KEYS = (("HealthCmd", "cmd"), ("HealthInterval", "interval"), ("HealthOnFailure", "on-failure"),
               ("HealthLogDestination", "log-destination"), ("HealthMaxLogCount", "max-log-count"),
               ("HealthMaxLogSize", "max-log-size"), ("HealthRetries", "retries"),
               ("HealthStartPeriod", "start-period"), ("HealthTimeout", "timeout"),
               ("HealthStartupCmd", "startup-cmd"), ("HealthStartupInterval", "startup-interval"),
               ("HealthStartupRetries", "startup-retries"), ("HealthStartupSuccess", "startup-success"),
               ("HealthStartupTimeout", "startup-timeout"))
SECURITY_LABELS = (("SecurityLabelType", "type"), ("SecurityLabelFileType", "filetype"),
                   ("SecurityLabelLevel", "level"))
_PORT_RANGE = re.compile(r"\d+(-\d+)?(/udp|/tcp)?$")


def convert_container(unit: UnitFile, ctx: Context) -> UnitFile:
    service, _ = init_service(unit, CONTAINER, ctx)
    image = unit.lookup(CONTAINER, "Image") or ""
    rootfs = unit.lookup(CONTAINER, "Rootfs") or ""
    if not image and not rootfs:
        raise ConvertError("no Image or Rootfs key specified")
    if image and rootfs:
        raise ConvertError("the Image And Rootfs keys conflict can not be specified together")
    if image:
        image = image_source(image, service, ctx)
    name = container_name(unit)
    service.add(SERVICE, "Environment", "PODMAN_SYSTEMD_UNIT=%n")
    kill_mode = service.lookup(SERVICE, "KillMode")
    if kill_mode not in (None, "mixed", "control-group"):
        raise ConvertError(f"invalid KillMode '{kill_mode}'")
    if kill_mode is None:
        service.set(SERVICE, "KillMode", "mixed")   # lets conmon do its thing
    stop = base_cmd(unit, CONTAINER, ctx)
    stop.add("rm", "-v", "-f", "-i", name)
    service.add_cmdline(SERVICE, "ExecStop", stop.args)
    # ExecStopPost runs even when the main PID (conmon) was killed and ExecStop was skipped
    stop.args[0] = "-" + stop.args[0]
    service.add_cmdline(SERVICE, "ExecStopPost", stop.args)
    _exec_reload(unit, service, name, ctx)

    cmd = base_cmd(unit, CONTAINER, ctx)
    cmd.add("run", "--name", name, "--replace", "--rm")
    log_driver = unit.lookup(CONTAINER, "LogDriver")
    if log_driver is not None:
        cmd.add("--log-driver", log_driver)
    for opt in unit.lookup_all_strv(CONTAINER, "LogOpt"):
        cmd.add("--log-opt", opt)
    service.add(SERVICE, "Delegate", "yes")
    cgroups = unit.lookup(CONTAINER, "CgroupsMode")
    if CGROUPS_SUPPORTED:
        cmd.add(*(("--cgroups", cgroups) if cgroups else ("--cgroups=split",)))
    elif cgroups:
        ctx.warnings.append(f"{unit.filename}: CgroupsMode={cgroups} ignored: berth run has no --cgroups flag")
    add_strings(unit, CONTAINER, STRING_KEYS, cmd)
    add_all_strings(unit, CONTAINER, ALL_STRING_KEYS, cmd)
    add_bools(unit, CONTAINER, BOOL_KEYS, cmd)
    _networks(unit, service, cmd, ctx)

    service_type = service.lookup(SERVICE, "Type")
    if service_type not in (None, "notify", "oneshot"):
        raise ConvertError(f"invalid service Type '{service_type}'")
    if service_type != "oneshot":
        notify = unit.lookup(CONTAINER, "Notify")
        if notify is not None and notify.lower() == "healthy":
            cmd.add("--sdnotify=healthy")
        elif unit.lookup_bool_default(CONTAINER, "Notify", False):
            cmd.add("--sdnotify=container")
        else:
            cmd.add("--sdnotify=conmon")
        service.set(SERVICE, "Type", "notify")
        service.set(SERVICE, "NotifyAccess", "all")
        cmd.add("-d")   # the unit's main process is conmon, not the berth CLI
    if service.lookup(SERVICE, "SyslogIdentifier") is None:
        service.set(SERVICE, "SyslogIdentifier", "%N")

    _security(unit, cmd)
    read_only = unit.lookup_bool(CONTAINER, "ReadOnly")
    if read_only is not None:
        cmd.add_bool("--read-only", read_only)
    if unit.lookup_bool_default(CONTAINER, "VolatileTmp", False) and not read_only:
        cmd.add("--tmpfs", "/tmp:rw,size=512M,mode=1777")
    _user(unit, cmd)
    _user_mappings(unit, cmd)
    _volumes(unit, service, cmd, ctx)
    update = unit.lookup(CONTAINER, "AutoUpdate")
    if update:
        cmd.add_keys("--label", {AUTO_UPDATE_LABEL: update})
    for port in unit.lookup_all(CONTAINER, "ExposeHostPort"):
        port = port.strip()
        if not _PORT_RANGE.search(port):
            raise ConvertError(f"invalid port format '{port}'")
        cmd.add("--expose", port)
    for port in unit.lookup_all(CONTAINER, "PublishPort"):
        cmd.add("--publish", port)
    add_keyvals(unit, CONTAINER, KEYVAL_KEYS, cmd, ctx)
    for mask in unit.lookup_all_args(CONTAINER, "Mask"):
        cmd.add("--security-opt", f"mask={mask}")
    for unmask in unit.lookup_all_args(CONTAINER, "Unmask"):
        cmd.add("--security-opt", f"unmask={unmask}")
    for env_file in unit.lookup_all_args(CONTAINER, "EnvironmentFile"):
        cmd.add("--env-file", absolute_path(unit, env_file))
    for secret in unit.lookup_all_args(CONTAINER, "Secret"):
        cmd.add("--secret", secret)
    for mount in unit.lookup_all_args(CONTAINER, "Mount"):
        cmd.add("--mount", _mount(unit, service, mount, ctx))
    for key, arg in HEALTH_KEYS:
        v = unit.lookup(CONTAINER, key)
        if v:
            cmd.add(f"--health-{arg}", v)
    _pod(unit)
    cmd.add(*unit.lookup_all_args(CONTAINER, "PodmanArgs"))
    cmd.add(image if image else "--rootfs", *([] if image else [rootfs]))
    exec_args = unit.lookup_last_args(CONTAINER, "Exec")
    if exec_args:
        cmd.add(*exec_args)
    service.add_cmdline(SERVICE, "ExecStart", cmd.args)
    return service


def _exec_reload(unit: UnitFile, service: UnitFile, name: str, ctx: Context) -> None:
    signal = unit.lookup(CONTAINER, "ReloadSignal") or ""
    reload_cmd = unit.lookup_last_args(CONTAINER, "ReloadCmd") or []
    if not signal and not reload_cmd:
        return
    if signal and reload_cmd:
        raise ConvertError("ReloadCmd and ReloadSignal are mutually exclusive but both are set")
    cmd = base_cmd(unit, CONTAINER, ctx)
    if reload_cmd:
        cmd.add("exec", name, *reload_cmd)
    else:
        cmd.add("kill", "--signal", signal, name)
    service.add_cmdline(SERVICE, "ExecReload", cmd.args)


def _networks(unit: UnitFile, service: UnitFile, cmd: Cmd, ctx: Context) -> None:
    """Network=foo.network / bar.container become dependencies and the created resource's name."""
    for network in unit.lookup_all(CONTAINER, "Network"):
        ref, colon, options = network.partition(":")
        is_network, is_container = ref.endswith(".network"), ref.endswith(".container")
        if is_network or is_container:
            info = ctx.units.get(ref)
            if info is None:
                raise ConvertError(f"requested Quadlet unit {ref} was not found")
            if not info.resource_name:
                raise ConvertError(f"cannot get the resource name of {ref}")
            require(service, info)
            if colon and is_container:
                raise ConvertError("extra options are not supported when joining another container's network")
            if colon:
                network = f"{info.resource_name}:{options}"
            else:
                network = f"container:{info.resource_name}" if is_container else info.resource_name
        cmd.add("--network", network)


def _security(unit: UnitFile, cmd: Cmd) -> None:
    if unit.lookup_bool_default(CONTAINER, "NoNewPrivileges", False):
        cmd.add("--security-opt=no-new-privileges")
    if unit.lookup_bool_default(CONTAINER, "SecurityLabelDisable", False):
        cmd.add("--security-opt", "label=disable")
    if unit.lookup_bool_default(CONTAINER, "SecurityLabelNested", False):
        cmd.add("--security-opt", "label=nested")
    for key, kind in SECURITY_LABELS:
        v = unit.lookup(CONTAINER, key)
        if v:
            cmd.add("--security-opt", f"label={kind}:{v}")
    for device in unit.lookup_all_strv(CONTAINER, "AddDevice"):
        if device.startswith("-"):          # optional: only if the host has it
            device = device[1:]
            if not os.path.exists(device.split(":")[0]):
                continue
        cmd.add("--device", device)
    seccomp = unit.lookup(CONTAINER, "SeccompProfile")
    if seccomp is not None:
        cmd.add("--security-opt", f"seccomp={seccomp}")
    for cap in unit.lookup_all_strv(CONTAINER, "DropCapability"):
        cmd.add("--cap-drop", cap.lower())
    for cap in unit.lookup_all_strv(CONTAINER, "AddCapability"):
        cmd.add("--cap-add", cap.lower())
    for sysctl in unit.lookup_all_strv(CONTAINER, "Sysctl"):
        cmd.add("--sysctl", sysctl)


def _user(unit: UnitFile, cmd: Cmd) -> None:
    user = unit.lookup(CONTAINER, "User") or ""
    group = unit.lookup(CONTAINER, "Group") or ""
    if not user:
        if group:
            raise ConvertError("invalid Group set without User")
        return
    cmd.add("--user", f"{user}:{group}" if group else user)


def _user_mappings(unit: UnitFile, cmd: Cmd) -> None:
    defined = False
    userns = unit.lookup(CONTAINER, "UserNS")
    if userns:
        cmd.add("--userns", userns)
        defined = True
    for key, flag in (("UIDMap", "--uidmap"), ("GIDMap", "--gidmap")):
        for m in unit.lookup_all_strv(CONTAINER, key):
            cmd.add(flag, m)
            defined = True
    for key, flag in (("SubUIDMap", "--subuidname"), ("SubGIDMap", "--subgidname")):
        v = unit.lookup(CONTAINER, key)
        if v:
            cmd.add(flag, v)
            defined = True
    uid_maps = unit.lookup_all_strv(CONTAINER, "RemapUid")
    gid_maps = unit.lookup_all_strv(CONTAINER, "RemapGid")
    remap = unit.lookup_last(CONTAINER, "RemapUsers")
    if defined:
        if uid_maps or gid_maps or remap is not None:
            raise ConvertError("deprecated Remap keys are set along with explicit mapping keys")
        return
    remap = remap or ""
    if remap == "":
        if uid_maps:
            raise ConvertError("UidMap set without RemapUsers")
        if gid_maps:
            raise ConvertError("GidMap set without RemapUsers")
    elif remap == "manual":
        for m in uid_maps:
            cmd.add("--uidmap", m)
        for m in gid_maps:
            cmd.add("--gidmap", m)
    elif remap == "auto":
        opts = [f"uidmapping={m}" for m in uid_maps] + [f"gidmapping={m}" for m in gid_maps]
        size = unit.lookup_int(CONTAINER, "RemapUidSize", 0)
        if size > 0:
            opts.append(f"size={size}")
        cmd.add("--userns", "auto" + (":" + ",".join(opts) if opts else ""))
    elif remap == "keep-id":
        if len(uid_maps) > 1:
            raise ConvertError("RemapUsers=keep-id supports only a single value for UID mapping")
        if len(gid_maps) > 1:
            raise ConvertError("RemapUsers=keep-id supports only a single value for GID mapping")
        opts = [f"uid={m}" for m in uid_maps] + [f"gid={m}" for m in gid_maps]
        cmd.add("--userns", "keep-id" + (":" + ",".join(opts) if opts else ""))
    else:
        raise ConvertError(f"unsupported RemapUsers option '{remap}'")


def _volumes(unit: UnitFile, service: UnitFile, cmd: Cmd, ctx: Context) -> None:
    for volume in unit.lookup_all(CONTAINER, "Volume"):
        parts = volume.split(":", 2)
        source, dest = (parts[0], parts[1]) if len(parts) >= 2 else ("", parts[0])
        options = ":" + parts[2] if len(parts) == 3 else ""
        if source:
            source = storage_source(unit, service, source, ctx, check_image=False)
        cmd.add("-v", f"{source}:{dest}{options}" if source else dest)


def _mount(unit: UnitFile, service: UnitFile, mount: str, ctx: Context) -> str:
    rows = list(csv.reader([mount]))
    if len(rows) != 1:
        raise ConvertError(f"invalid mount {mount!r}")
    mount_type, tokens = "volume", []
    for tok in rows[0]:
        k, eq, v = tok.partition("=")
        if k == "type" and eq:
            mount_type = v
        else:
            tokens.append(tok)
    if mount_type not in ("volume", "bind", "glob", "image"):
        return mount
    for i, tok in enumerate(tokens):
        k, eq, v = tok.partition("=")
        if k in ("source", "src"):
            if not eq:
                raise ConvertError("source parameter does not include a value")
            tokens[i] = "source=" + storage_source(unit, service, v, ctx, check_image=True)
    return to_csv([f"type={mount_type}", *tokens])


def _pod(unit: UnitFile) -> None:
    pod = unit.lookup(CONTAINER, "Pod")
    if not pod:
        return
    if not pod.endswith(".pod"):
        raise ConvertError(f"pod {pod} is not Quadlet based")
    raise ConvertError(f"quadlet pod unit {pod} does not exist")   # berth has no pods yet
