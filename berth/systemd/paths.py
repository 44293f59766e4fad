"""Where things are: the berth executable units call, Quadlet's search and install directories."""

from __future__ import annotations

import os
import re
import shutil
import sys

UNIT_DIR_TEMP = "/run/containers/systemd"        # sysadmin, volatile
UNIT_DIR_ADMIN = "/etc/containers/systemd"       # sysadmin
UNIT_DIR_DISTRO = "/usr/share/containers/systemd"  # distribution
QUADLET_EXTENSIONS = (".container", ".volume", ".network")


def berth_binary() -> str:
    """Absolute path of the `berth` executable generated units should run.

    $BERTH wins (as $PODMAN does for Quadlet); then the running `berth` itself; then the `berth`
    script beside this interpreter (a venv run as `python -m berth`); then $PATH.
    """
    env = os.environ.get("BERTH")
    if env:
        return env
    argv0 = sys.argv[0] if sys.argv else ""
    if os.path.basename(argv0) == "berth" and os.access(argv0, os.X_OK):
        return os.path.abspath(argv0)
    sibling = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "berth")
    if os.access(sibling, os.X_OK):
        return sibling
    found = shutil.which("berth")
    return os.path.abspath(found) if found else "/usr/bin/berth"


def systemd_running() -> bool:
    """True when systemd is PID 1 (sd_booted()): only then can units be reloaded or queried."""
    return os.path.isdir("/run/systemd/system")


def user_config_dir() -> str:
    return os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")


def install_dir(rootless: bool) -> str:
    """Where `berth quadlet install` puts files ($QUADLET_UNIT_DIRS's first entry when set)."""
    env = os.environ.get("QUADLET_UNIT_DIRS")
    if env:
        return env.split(":")[0]
    if rootless:
        return os.path.join(user_config_dir(), "containers", "systemd")
    return UNIT_DIR_ADMIN


class _Dirs:
    def __init__(self, recursive: bool) -> None:
        self.recursive = recursive
        self.out: list[str] = []

    def add_tree(self, path: str, keep=None) -> None:
        try:
            resolved = os.path.realpath(path, strict=True)
        except OSError:
            if path not in self.out:
                self.out.append(path)   # listed anyway, as Podman does, so messages name it
            return
        if resolved in self.out or resolved.endswith(".d") or (keep and not keep(resolved)):
            return
        if not os.path.isdir(resolved):
            return
        self.out.append(resolved)
        if self.recursive:
            for entry in sorted(os.listdir(resolved)):
                self.add_tree(os.path.join(resolved, entry), keep)


def unit_dirs(rootless: bool, recursive: bool = True) -> list[str]:
    """Quadlet's search path, most important first (a file name found earlier hides later ones)."""
    dirs = _Dirs(recursive)
    env = os.environ.get("QUADLET_UNIT_DIRS")
    if env:
        for d in env.split(":"):
            if not os.path.isabs(d):
                break
            dirs.add_tree(d)
        return dirs.out
    users = os.path.join(UNIT_DIR_ADMIN, "users")
    users_resolved = os.path.realpath(users)

    def not_users(p: str) -> bool:
        return not p.startswith(users_resolved)

    if not rootless:
        dirs.add_tree(UNIT_DIR_TEMP, not_users)
        dirs.add_tree(UNIT_DIR_ADMIN, not_users)
        dirs.add_tree(UNIT_DIR_DISTRO)
        return dirs.out
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        dirs.add_tree(os.path.join(xdg, "containers", "systemd"))
    dirs.add_tree(os.path.join(user_config_dir(), "containers", "systemd"))
    depth = len(users_resolved.split(os.sep))

    def non_numeric(p: str) -> bool:
        parts = p.split(os.sep)
        return len(parts) == depth or not re.fullmatch(r"[0-9]*", parts[depth])

    dirs.add_tree(users, non_numeric)
    dirs.add_tree(os.path.join(users, str(os.getuid())))
    return dirs.out
