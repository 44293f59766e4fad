"""Registry credentials in Podman's auth.json (and Docker's config.json, read as a fallback).

auth.json: {"auths": {"KEY": {"auth": base64("user:password")}}} where KEY is a registry host, or a
host with a repository path ("quay.io/org/repo") for credentials that apply only there; the most
specific key wins, as in containers/image.  The default file is ${XDG_RUNTIME_DIR}/containers/auth.json
(rootless) or /run/containers/0/auth.json (root); $REGISTRY_AUTH_FILE or --authfile replace it.
Lookups then fall back to ~/.config/containers/auth.json and ~/.docker/config.json (+ ~/.dockercfg).
Credential helpers (credHelpers/credsStore) are not run.
"""

from __future__ import annotations

import base64
import json
import os

from berth.errors import InvalidArgument


def default_auth_file() -> str:
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return env
    if os.geteuid() == 0:
        return "/run/containers/0/auth.json"
    xdg = os.environ.get("XDG_RUNTIME_DIR") or f"/run/user/{os.geteuid()}"
    return os.path.join(xdg, "containers", "auth.json")


def _fallback_files() -> list[str]:
    home = os.path.expanduser("~")
    cfg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    docker = os.environ.get("DOCKER_CONFIG") or os.path.join(home, ".docker")
    return [os.path.join(cfg, "containers", "auth.json"), os.path.join(docker, "config.json"),
            os.path.join(home, ".dockercfg")]


def _read(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as e:
        raise InvalidArgument(f"reading JSON file {path!r}: {e.strerror}") from None
    if not data.strip():
        return {}
    try:
        doc = json.loads(data)
    except ValueError as e:
        raise InvalidArgument(f"unmarshaling JSON at {path!r}: {e}") from None
    if not isinstance(doc, dict):
        return {}
    if path.endswith(".dockercfg"):
        return {"auths": doc}
    return doc


def _normalize_key(key: str) -> str:
    """Docker's legacy keys are URLs ("https://index.docker.io/v1/")."""
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix):].split("/", 1)[0]
    return "docker.io" if key in ("index.docker.io", "registry-1.docker.io") else key


def _decode(entry: dict) -> tuple[str, str] | None:
    raw = entry.get("auth")
    if not raw:
        return None
    try:
        user, _, password = base64.b64decode(raw).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    return user, password


def lookup(registry: str, repository: str = "", authfile: str | None = None) -> tuple[str, str] | None:
    """(user, password) for `registry`/`repository`, or None for anonymous access."""
    files = [authfile] if authfile else [default_auth_file()]
    files += _fallback_files()
    keys = []
    if repository:
        parts = repository.split("/")
        keys = [f"{registry}/{'/'.join(parts[:i])}" for i in range(len(parts), 0, -1)]
    keys.append(registry)
    for path in files:
        auths = {_normalize_key(k): v for k, v in (_read(path).get("auths") or {}).items()
                 if isinstance(v, dict)}
        for key in keys:
            if key in auths:
                creds = _decode(auths[key])
                if creds:
                    return creds
    return None


def _write(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def store(key: str, user: str, password: str, authfile: str | None = None) -> None:
    path = authfile or default_auth_file()
    doc = _read(path)
    auths = doc.setdefault("auths", {})
    auths[key] = {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    _write(path, doc)


def remove(key: str, authfile: str | None = None) -> bool:
    path = authfile or default_auth_file()
    doc = _read(path)
    auths = doc.get("auths") or {}
    found = [k for k in auths if _normalize_key(k) == key or k == key]
    for k in found:
        del auths[k]
    if found:
        _write(path, doc)
    return bool(found)


def remove_all(authfile: str | None = None) -> None:
    path = authfile or default_auth_file()
    doc = _read(path)
    if doc.get("auths"):
        doc["auths"] = {}
        _write(path, doc)


def username(key: str, authfile: str | None = None) -> str | None:
    registry, _, repo = key.partition("/")
    creds = lookup(registry, repo, authfile)
    return creds[0] if creds else None


def parse_creds(value: str) -> tuple[str, str]:
    """--creds USER[:PASSWORD]."""
    if not value:
        raise InvalidArgument("credentials can't be empty")
    user, sep, password = value.partition(":")
    if not user:
        raise InvalidArgument("username can't be empty")
    if not sep:
        import getpass

        password = getpass.getpass("Password: ")
    return user, password
