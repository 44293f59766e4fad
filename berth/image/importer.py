"""`berth import`: a rootfs tarball becomes a one-layer image."""

from __future__ import annotations

import json
import os
import shlex
import time
from typing import BinaryIO

from berth.errors import InvalidArgument
from berth.image.store import Image, ImageStore
from berth.util.timefmt import rfc3339

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x",
         "riscv64": "riscv64", "i686": "386"}
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host_arch() -> str:
    m = os.uname().machine
    return _ARCH.get(m, m)


def _json_or_shell(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        try:
            parsed = json.loads(value)
            if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
                return parsed
        except ValueError:
            pass
    return ["/bin/sh", "-c", value]


def apply_changes(cfg: dict, changes: list[str]) -> None:
    """Dockerfile instructions given with --change ('CMD=/bin/sh' or 'CMD ["sh"]')."""
    for change in changes:
        sep = min((i for i in (change.find("="), change.find(" ")) if i > 0), default=-1)
        if sep < 0:
            raise InvalidArgument(f"invalid change {change!r}: must be formatted as KEY VALUES")
        key, value = change[:sep].strip().upper(), change[sep + 1:].strip()
        if key == "CMD":
            cfg["Cmd"] = _json_or_shell(value)
        elif key == "ENTRYPOINT":
            cfg["Entrypoint"] = _json_or_shell(value)
        elif key == "ENV":
            k, _, v = value.partition("=") if "=" in value else value.partition(" ")
            env = [e for e in cfg.get("Env", []) if not e.startswith(k + "=")]
            cfg["Env"] = env + [f"{k}={v}"]
        elif key == "WORKDIR":
            cfg["WorkingDir"] = value
        elif key == "USER":
            cfg["User"] = value
        elif key == "LABEL":
            for item in shlex.split(value):
                k, _, v = item.partition("=")
                cfg.setdefault("Labels", {})[k] = v
        elif key == "EXPOSE":
            for p in value.split():
                cfg.setdefault("ExposedPorts", {})[p if "/" in p else p + "/tcp"] = {}
        elif key == "VOLUME":
            for v in _json_or_shell(value) if value.startswith("[") else value.split():
                cfg.setdefault("Volumes", {})[v] = {}
        elif key == "STOPSIGNAL":
            cfg["StopSignal"] = value
        elif key == "ONBUILD":
            cfg.setdefault("OnBuild", []).append(value)
        else:
            raise InvalidArgument(f"invalid change {change!r}: unsupported instruction {key}")


def import_rootfs(store: ImageStore, stream: BinaryIO, names: list[str], changes: list[str],
                  message: str = "", source: str = "", arch: str = "", os_name: str = "") -> Image:
    layer_id, diff_id, size = store.layers.create(stream, None)
    now = time.time()
    created = rfc3339(now).replace("+00:00", "Z")
    run_cfg: dict = {"Env": [DEFAULT_PATH]}
    apply_changes(run_cfg, changes)
    history = {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:{diff_id[7:]} in / "}
    history["comment"] = message or "imported from tarball"  # Podman's default comment
    config = {
        "created": created,
        "architecture": arch or host_arch(),
        "os": os_name or "linux",
        "config": run_cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [history],
    }
    blob = json.dumps(config, separators=(",", ":")).encode()
    return store.add(blob, [layer_id], [diff_id], names)
