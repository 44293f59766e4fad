""".volume and .network Quadlet files -> oneshot services running `volume create` / `network create`."""

from __future__ import annotations

from berth.systemd.quadlet_base import (
    NETWORK,
    SERVICE,
    UNIT,
    VOLUME,
    Context,
    ConvertError,
    add_all_strings,
    add_bools,
    add_keyvals,
    add_strings,
    base_cmd,
    image_source,
    init_service,
    oneshot_defaults,
)
from berth.systemd.unitfile import UnitFile


def convert_volume(unit: UnitFile, ctx: Context) -> UnitFile:
    service, info = init_service(unit, VOLUME, ctx)
    cmd = base_cmd(unit, VOLUME, ctx)
    cmd.add("volume", "create", "--ignore")
    driver = unit.lookup(VOLUME, "Driver")
    if driver is not None:
        cmd.add("--driver", driver)
    o: list[str] = []
    if driver == "image":
        image = unit.lookup(VOLUME, "Image")
        if image is None:
            raise ConvertError("the key Image is mandatory when using the image driver")
        cmd.add("--opt", "image=" + image_source(image, service, ctx))
    else:
        if unit.has_key(VOLUME, "User"):
            o.append(f"uid={_uint32(unit, 'User')}")
        if unit.has_key(VOLUME, "Group"):
            o.append(f"gid={_uint32(unit, 'Group')}")
        copy = unit.lookup_bool(VOLUME, "Copy")
        if copy is not None:
            cmd.add("--opt", "copy" if copy else "nocopy")
        device = unit.lookup(VOLUME, "Device") or ""
        if device:
            cmd.add("--opt", f"device={device}")
        dev_type = unit.lookup(VOLUME, "Type") or ""
        if dev_type:
            if not device:
                raise ConvertError("key Type can't be used without Device")
            cmd.add("--opt", f"type={dev_type}")
            if dev_type == "bind":
                service.add(UNIT, "RequiresMountsFor", device)
        mount_opts = unit.lookup(VOLUME, "Options") or ""
        if mount_opts:
            if not device:
                raise ConvertError("key Options can't be used without Device")
            o.append(mount_opts)
    if o:
        cmd.add("--opt", "o=" + ",".join(o))
    add_keyvals(unit, VOLUME, (("Label", "--label"),), cmd, ctx)
    cmd.add(*unit.lookup_all_args(VOLUME, "PodmanArgs"))
    cmd.add(info.resource_name)
    service.add_cmdline(SERVICE, "ExecStart", cmd.args)
    oneshot_defaults(service, True)
    return service


def _uint32(unit: UnitFile, key: str) -> int:
    v = unit.lookup_int(VOLUME, key, 0)
    return v if 0 <= v <= 0xFFFFFFFF else 0


def convert_network(unit: UnitFile, ctx: Context) -> UnitFile:
    service, info = init_service(unit, NETWORK, ctx)
    name = info.resource_name
    if unit.lookup_bool_default(NETWORK, "NetworkDeleteOnStop", False):
        stop = base_cmd(unit, NETWORK, ctx)
        stop.add("network", "rm", name)
        service.add_cmdline(SERVICE, "ExecStopPost", stop.args)
    cmd = base_cmd(unit, NETWORK, ctx)
    cmd.add("network", "create", "--ignore")
    add_bools(unit, NETWORK, (("DisableDNS", "--disable-dns"), ("Internal", "--internal"), ("IPv6", "--ipv6")), cmd)
    add_strings(unit, NETWORK, (("Driver", "--driver"), ("IPAMDriver", "--ipam-driver"),
                                ("InterfaceName", "--interface-name")), cmd)
    add_all_strings(unit, NETWORK, (("DNS", "--dns"),), cmd)
    subnets = unit.lookup_all(NETWORK, "Subnet")
    gateways = unit.lookup_all(NETWORK, "Gateway")
    ranges = unit.lookup_all(NETWORK, "IPRange")
    if subnets:
        if len(gateways) > len(subnets):
            raise ConvertError("cannot set more gateways than subnets")
        if len(ranges) > len(subnets):
            raise ConvertError("cannot set more ranges than subnets")
        for i, subnet in enumerate(subnets):
            cmd.add("--subnet", subnet)
            if i < len(gateways):
                cmd.add("--gateway", gateways[i])
            if i < len(ranges):
                cmd.add("--ip-range", ranges[i])
    elif gateways or ranges:
        raise ConvertError("cannot set gateway or range without subnet")
    add_keyvals(unit, NETWORK, (("Options", "--opt"), ("Label", "--label")), cmd, ctx)
    cmd.add(*unit.lookup_all_args(NETWORK, "PodmanArgs"))
    cmd.add(name)
    service.add_cmdline(SERVICE, "ExecStart", cmd.args)
    oneshot_defaults(service, True)
    return service
