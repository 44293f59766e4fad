"""Manifest media types, and choosing an instance of a manifest list / OCI index by platform."""

from __future__ import annotations

import json
import os

from berth.errors import InvalidArgument
from berth.image.registry.errors import RegistryError
from berth.util.record import record

DOCKER_V2S2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_V2S1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
LISTS = (DOCKER_LIST, OCI_INDEX)
IMAGES = (DOCKER_V2S2, OCI_MANIFEST)
ACCEPT = ", ".join((OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_V2S2))

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
FOREIGN = ("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
           "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip")

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64", "i686": "386", "i386": "386"}


@record(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    machine = os.uname().machine
    arch = _ARCH.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", arch, variant)


def parse_platform(value: str = "", os_name: str = "", arch: str = "", variant: str = "") -> Platform:
    """--platform OS/ARCH[/VARIANT], or --os/--arch/--variant, over the host's."""
    host = host_platform()
    if value:
        parts = value.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise InvalidArgument(f'invalid platform syntax for --platform="{value}": use OS/ARCH[/VARIANT]')
        return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "")
    a = arch or host.architecture
    return Platform(os_name or host.os, a, variant or (host.variant if a == host.architecture else ""))


def media_type(data: bytes, header: str | None) -> str:
    header = (header or "").split(";")[0].strip()
    if header in LISTS + IMAGES:
        return header
    try:
        doc = json.loads(data)
    except ValueError:
        raise RegistryError("manifest is not valid JSON") from None
    mt = doc.get("mediaType") if isinstance(doc, dict) else None
    if mt:
        return mt
    if isinstance(doc, dict) and doc.get("schemaVersion") == 1:
        return DOCKER_V2S1
    if isinstance(doc, dict) and "manifests" in doc:
        return OCI_INDEX
    return OCI_MANIFEST


def _norm_variant(arch: str, variant: str) -> str:
    if arch == "arm64" and variant in ("", "v8"):
        return "v8"
    if arch == "arm" and variant == "":
        return "v7"
    return variant


def choose(index: dict, want: Platform, where: str) -> dict:
    """The descriptor of `index` for `want`; an exact variant beats a missing one."""
    best = None
    for d in index.get("manifests") or []:
        p = d.get("platform") or {}
        if p.get("os") != want.os or p.get("architecture") != want.architecture:
            continue
        if d.get("mediaType") not in (*IMAGES, None):
            continue
        have = _norm_variant(want.architecture, p.get("variant", ""))
        wanted = _norm_variant(want.architecture, want.variant)
        if want.variant and have != wanted:
            continue
        if have == wanted:
            return d
        best = best or d
    if best is None:
        raise RegistryError(f"choosing an image from manifest list {where}: no image found in manifest list "
                            f'for architecture "{want.architecture}", variant "{want.variant}", OS "{want.os}"')
    return best


def layer_compression(mt: str) -> str:
    if mt.endswith("+zstd"):
        return "zstd"
    if mt.endswith("gzip"):
        return "gzip"
    return ""
