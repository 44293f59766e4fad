"""What every Quadlet conversion shares: key tables, unit names, the service skeleton, references.

The mapping follows Podman's pkg/systemd/quadlet (v5.x); where Podman iterates a Go map (random
order) berth uses the order the keys are declared in, so output is stable.
"""

from __future__ import annotations

import csv
import io
import os

from berth.systemd.unitfile import UnitFile
from berth.util.record import field, record

UNIT, SERVICE, INSTALL, QUADLET = "Unit", "Service", "Install", "Quadlet"
CONTAINER, VOLUME, NETWORK = "Container", "Volume", "Network"
# extension -> (group, service-name suffix, processing order)
EXTENSIONS = {".container": (CONTAINER, "", 4), ".volume": (VOLUME, "-volume", 2), ".network": (NETWORK, "-network", 2)}
# Podman knows these too; berth cannot convert them yet, but references to them are recognised
OTHER_EXTENSIONS = (".kube", ".image", ".build", ".pod", ".artifact")
RUNROOT_MOUNT = "%t/berth"     # Podman: %t/containers; berth's runroot is /run/berth or $XDG_RUNTIME_DIR/berth
USER_NETWORK_UNIT = "berth-user-wait-network-online.service"   # shipped in contrib/systemd/user/
AUTO_UPDATE_LABEL = "io.containers.autoupdate"

DEPENDENCY_KEYS = ("After", "Before", "BindsTo", "Conflicts", "OnFailure", "OnSuccess", "PartOf",
                   "PropagatesReloadTo", "PropagatesStopTo", "ReloadPropagatedFrom", "Requires", "Requisite",
                   "StopPropagatedFrom", "Upholds", "Wants")

CONTAINER_KEYS = frozenset("""
AddCapability AddDevice AddHost Annotation AutoUpdate CgroupsMode ContainerName ContainersConfModule DNS
DNSOption DNSSearch DropCapability Entrypoint Environment EnvironmentFile EnvironmentHost Exec ExposeHostPort
GIDMap GlobalArgs Group GroupAdd HealthCmd HealthInterval HealthLogDestination HealthMaxLogCount
HealthMaxLogSize HealthOnFailure HealthRetries HealthStartPeriod HealthStartupCmd HealthStartupInterval
HealthStartupRetries HealthStartupSuccess HealthStartupTimeout HealthTimeout HostName HttpProxy IP IP6 Image
Label LogDriver LogOpt Mask Memory Mount Network NetworkAlias NoNewPrivileges Notify PidsLimit Pod PodmanArgs
PublishPort Pull ReadOnly ReadOnlyTmpfs ReloadCmd ReloadSignal RemapGid RemapUid RemapUidSize RemapUsers Retry
RetryDelay Rootfs RunInit SeccompProfile Secret SecurityLabelDisable SecurityLabelFileType SecurityLabelLevel
SecurityLabelNested SecurityLabelType ServiceName ShmSize StartWithPod StopSignal StopTimeout SubGIDMap
SubUIDMap Sysctl Timezone Tmpfs UIDMap Ulimit Unmask User UserNS VolatileTmp Volume WorkingDir
""".split())
VOLUME_KEYS = frozenset("""
ContainersConfModule Copy Device Driver GlobalArgs Group Image Label Options PodmanArgs ServiceName Type User
VolumeName
""".split())
NETWORK_KEYS = frozenset("""
ContainersConfModule DNS DisableDNS Driver Gateway GlobalArgs IPAMDriver IPRange IPv6 InterfaceName Internal
Label NetworkDeleteOnStop NetworkName Options PodmanArgs ServiceName Subnet
""".split())
QUADLET_KEYS = frozenset({"DefaultDependencies"})
GROUP_KEYS = {CONTAINER: CONTAINER_KEYS, VOLUME: VOLUME_KEYS, NETWORK: NETWORK_KEYS}


class ConvertError(ValueError):
    pass


@record
class UnitInfo:
    service_name: str           # without .service
    resource_name: str          # container/volume/network name berth creates ("" if it has specifiers)

    @property
    def service_file(self) -> str:
        return self.service_name + ".service"


@record
class Context:
    binary: str
    is_user: bool = False
    units: dict = field(default_factory=dict)          # quadlet file name -> UnitInfo
    warnings: list = field(default_factory=list)


def base_name(filename: str) -> str:
    return filename.rsplit(".", 1)[0] if filename.rfind(".") > 0 else filename


def unit_info(unit: UnitFile) -> UnitInfo | None:
    """Service and resource names of a Quadlet file, known before any file is converted."""
    ext = os.path.splitext(unit.filename)[1]
    if ext not in EXTENSIONS:
        return None
    group, suffix, _ = EXTENSIONS[ext]
    svc = unit.lookup(group, "ServiceName")
    if svc is None:
        svc = base_name(unit.filename) + suffix
    if group == CONTAINER:
        resource = container_name(unit).replace("%N", svc)
        resource = "" if "%" in resource else resource
    else:
        key = "VolumeName" if group == VOLUME else "NetworkName"
        resource = unit.lookup(group, key) or "systemd-" + base_name(unit.filename)
    return UnitInfo(svc, resource)


def container_name(unit: UnitFile) -> str:
    name = unit.lookup(CONTAINER, "ContainerName")
    if not name:
        name = "systemd-%p_%i" if "@" in unit.filename else "systemd-%N"
    return name


class Cmd:
    """A command line under construction."""

    def __init__(self, *args: str) -> None:
        self.args = list(args)

    def add(self, *args: str) -> None:
        self.args += args

    def add_bool(self, flag: str, value: bool) -> None:
        self.args.append(flag if value else f"{flag}=false")

    def add_keys(self, flag: str, values: dict[str, str | None]) -> None:
        for k in sorted(values):
            v = values[k]
            self.args += [flag, k if v is None else f"{k}={v}"]


def base_cmd(unit: UnitFile, group: str, ctx: Context) -> Cmd:
    cmd = Cmd(ctx.binary)
    for mod in unit.lookup_all(group, "ContainersConfModule"):
        cmd.add(f"--module={mod}")
    cmd.add(*unit.lookup_all_args(group, "GlobalArgs"))
    return cmd


def add_strings(unit: UnitFile, group: str, keys: tuple[tuple[str, str], ...], cmd: Cmd) -> None:
    for key, flag in keys:
        v = unit.lookup(group, key)
        if v:
            cmd.add(flag, v)


def add_all_strings(unit: UnitFile, group: str, keys: tuple[tuple[str, str], ...], cmd: Cmd) -> None:
    for key, flag in keys:
        for v in unit.lookup_all(group, key):
            cmd.add(flag, v)


def add_bools(unit: UnitFile, group: str, keys: tuple[tuple[str, str], ...], cmd: Cmd) -> None:
    for key, flag in keys:
        v = unit.lookup_bool(group, key)
        if v is not None:
            cmd.add_bool(flag, v)


def add_keyvals(unit: UnitFile, group: str, keys: tuple[tuple[str, str], ...], cmd: Cmd, ctx: Context) -> None:
    for key, flag in keys:
        values, warnings = unit.lookup_all_keyval(group, key)
        ctx.warnings += [f"{unit.filename}: {w}" for w in warnings]
        cmd.add_keys(flag, values)


def absolute_path(unit: UnitFile, path: str) -> str:
    """Relative paths are relative to the Quadlet file; a leading systemd specifier is left alone."""
    if (path.startswith("%") and not path.startswith("%%")) or os.path.isabs(path):
        return path
    if unit.path:
        return os.path.normpath(os.path.join(os.path.dirname(unit.path), path))
    return os.path.abspath(path)


def require(service: UnitFile, info: UnitInfo) -> None:
    service.add(UNIT, "Requires", info.service_file)
    service.add(UNIT, "After", info.service_file)


def storage_source(unit: UnitFile, service: UnitFile, source: str, ctx: Context, check_image: bool) -> str:
    """A Volume=/Mount= source: paths become RequiresMountsFor=, foo.volume the volume's name."""
    if source.startswith("."):
        source = absolute_path(unit, source)
    if source.startswith("/"):
        service.add(UNIT, "RequiresMountsFor", source)
    elif source.endswith(".volume") or (check_image and source.endswith(".image")):
        info = ctx.units.get(source)
        if info is None:
            raise ConvertError(f"requested Quadlet source {source} was not found")
        require(service, info)
        source = info.resource_name
    return source


def image_source(image: str, service: UnitFile, ctx: Context) -> str:
    if image.endswith((".build", ".image")):
        info = ctx.units.get(image)
        if info is None:
            raise ConvertError(f"requested Quadlet image {image} was not found")
        require(service, info)
        return info.resource_name
    return image


def to_csv(fields: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(fields)
    return buf.getvalue().removesuffix("\n")


def init_service(unit: UnitFile, group: str, ctx: Context) -> tuple[UnitFile, UnitInfo]:
    """The service skeleton: a copy of the Quadlet file with [Unit] completed and [group] renamed X-group."""
    info = ctx.units.get(unit.filename)
    if info is None:
        raise ConvertError(f"internal error while processing {unit.filename}")
    for g, known in ((group, GROUP_KEYS[group]), (QUADLET, QUADLET_KEYS)):
        for key in unit.keys(g):
            if key not in known:
                raise ConvertError(f"unsupported key '{key}' in group '{g}' in {unit.path or unit.filename}")
    service = unit.dup()
    service.filename = info.service_file
    _translate_dependencies(service, ctx)
    if service.lookup_bool_default(QUADLET, "DefaultDependencies", True):
        net = USER_NETWORK_UNIT if ctx.is_user else "network-online.target"
        service.prepend_line(UNIT, "After", net)
        service.prepend_line(UNIT, "Wants", net)
    if unit.path:
        service.add(UNIT, "SourcePath", unit.path)
    service.add(UNIT, "RequiresMountsFor", RUNROOT_MOUNT)
    service.rename_group(group, "X-" + group)
    service.rename_group(QUADLET, "X-" + QUADLET)
    return service, info


def _translate_dependencies(service: UnitFile, ctx: Context) -> None:
    """After=db.container in [Unit] means After=db.service."""
    for key in DEPENDENCY_KEYS:
        deps = service.lookup_all_strv(UNIT, key)
        if not deps:
            continue
        out, changed = [], False
        for dep in deps:
            ext = os.path.splitext(dep)[1]
            if ext in EXTENSIONS or ext in OTHER_EXTENSIONS:
                info = ctx.units.get(dep)
                if info is None:
                    raise ConvertError(f"unable to translate dependency for {dep}")
                out.append(info.service_file)
                changed = True
            else:
                out.append(dep)
        if changed:
            service.unset(UNIT, key)
            service.add(UNIT, key, " ".join(out))


def oneshot_defaults(service: UnitFile, remain_after_exit: bool) -> None:
    if service.lookup(SERVICE, "SyslogIdentifier") is None:
        service.set(SERVICE, "SyslogIdentifier", "%N")
    if service.lookup(SERVICE, "Type") is None:
        service.set(SERVICE, "Type", "oneshot")
    if remain_after_exit and service.lookup(SERVICE, "RemainAfterExit") is None:
        service.set(SERVICE, "RemainAfterExit", "yes")
