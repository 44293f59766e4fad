"""Environment variables: --env-file parsing and the image/user merge, shared by create and exec
(exec imports this, not engine/create.py and the image store it pulls in)."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument


def _read_env_file(path: str) -> list[str]:
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                if "=" not in line:
                    val = os.environ.get(line)
                    if val is not None:
                        out.append(f"{line}={val}")
                    continue
                out.append(line)
    except OSError as e:
        raise InvalidArgument(f"open {path}: {e.strerror.lower() if e.strerror else e}") from e
    return out


def merge_env(image_env: list[str], user_env: list[str]) -> list[str]:
    env: dict[str, str] = {}
    for e in image_env + user_env:
        k, sep, v = e.partition("=")
        if not sep:
            if k in os.environ:
                env[k] = os.environ[k]
            continue
        if k.endswith("*") and not sep:
            continue
        env[k] = v
    if "PATH" not in env:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **env}
    return [f"{k}={v}" for k, v in env.items()]
