"""`berth quadlet list|print|install|rm`: manage the Quadlet files of the current user (or root).

Installed files go to /etc/containers/systemd (root) or ~/.config/containers/systemd (rootless).
As Podman does, each install is recorded as an "application" (`.<name>.app`, listing its files), so
removing one Quadlet of a directory install removes the whole application.  systemd is reloaded
(and asked for unit states) only when it runs on this host; elsewhere status is "Not loaded".
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from berth.errors import BerthError, NotFound
from berth.systemd.paths import QUADLET_EXTENSIONS, install_dir, systemd_running, unit_dirs
from berth.util.record import record


class NoSuchQuadlet(NotFound):
    pass


@record
class QuadletEntry:
    Name: str
    UnitName: str
    Path: str
    Status: str
    App: str

    def to_dict(self) -> dict:
        return {"Name": self.Name, "UnitName": self.UnitName, "Path": self.Path, "Status": self.Status,
                "App": self.App}


def supported(name: str) -> bool:
    return os.path.splitext(name)[1] in QUADLET_EXTENSIONS


def all_paths(rootless: bool) -> list[str]:
    out: list[str] = []
    for d in unit_dirs(rootless):
        try:
            names = sorted(os.listdir(d))
        except OSError:
            continue
        out += [os.path.join(d, n) for n in names if supported(n) and not os.path.isdir(os.path.join(d, n))]
    return out


def path_by_name(name: str, rootless: bool) -> str:
    if not supported(name):
        raise BerthError(f'"{os.path.splitext(name)[1]}" is not a supported quadlet file type')
    for d in unit_dirs(rootless):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    raise NoSuchQuadlet(f'could not locate quadlet "{name}" in any supported quadlet directory: no such quadlet')


def service_name(path: str) -> str:
    from berth.systemd.quadlet_base import unit_info
    from berth.systemd.unitfile import UnitFile

    info = unit_info(UnitFile.load(path))
    if info is None:
        raise BerthError(f'unsupported file type "{path}"')
    return info.service_file


def app_map(rootless: bool) -> tuple[dict[str, str], dict[str, list[str]]]:
    """(file -> .app it belongs to, .app -> its files) from the install directory."""
    reverse: dict[str, str] = {}
    apps: dict[str, list[str]] = {}
    d = install_dir(rootless)
    try:
        names = os.listdir(d)
    except OSError:
        return reverse, apps
    for n in names:
        if n.startswith(".") and n.endswith(".app"):
            with open(os.path.join(d, n)) as f:
                files = [ln.strip() for ln in f if ln.strip()]
            apps[n] = files
            for x in files:
                reverse[x] = n
    return reverse, apps


def _systemctl(rootless: bool, *args: str) -> subprocess.CompletedProcess:
    cmd = ["systemctl", *(["--user"] if rootless else []), *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def unit_states(units: list[str], rootless: bool) -> dict[str, str]:
    """unit -> "active/running"-style status, or "Not loaded"."""
    out = {u: "Not loaded" for u in units}
    if not units or not systemd_running():
        return out
    r = _systemctl(rootless, "show", "--property=Id,LoadState,ActiveState,SubState", *units)
    for block in r.stdout.strip().split("\n\n"):
        props = dict(ln.split("=", 1) for ln in block.splitlines() if "=" in ln)
        if props.get("Id") in out and props.get("LoadState") == "loaded":
            out[props["Id"]] = f"{props.get('ActiveState', '')}/{props.get('SubState', '')}"
    return out


def reload_systemd(rootless: bool) -> None:
    if systemd_running():
        r = _systemctl(rootless, "daemon-reload")
        if r.returncode != 0:
            raise BerthError(f"reloading systemd: {r.stderr.strip()}")


def list_quadlets(rootless: bool, filters: list[str]) -> list[QuadletEntry]:
    wanted: dict[str, list[str]] = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq:
            raise BerthError(f'invalid filter "{f}"')
        if k not in ("name", "status"):
            raise BerthError(f"{k} is not a valid filter")
        wanted.setdefault(k, []).append(v)
    reverse, _ = app_map(rootless)
    entries: list[QuadletEntry] = []
    for p in all_paths(rootless):
        name = os.path.basename(p)
        try:
            unit, status = service_name(p), ""
        except (BerthError, OSError, ValueError) as e:
            unit, status = "", str(e)
        entries.append(QuadletEntry(name, unit, p, status, reverse.get(name, "")))
    states = unit_states([e.UnitName for e in entries if e.UnitName], rootless)
    for e in entries:
        if e.UnitName:
            e.Status = states.get(e.UnitName, "Not loaded")

    def keep(e: QuadletEntry) -> bool:
        for k, pats in wanted.items():
            val = e.Name if k == "name" else e.Status
            if not any(re.search(p, val) for p in pats):
                return False
        return True

    return [e for e in entries if keep(e)]


def print_quadlet(name: str, rootless: bool) -> str:
    with open(path_by_name(name, rootless)) as f:
        return f.read()


def _append_line(path: str, text: str) -> None:
    try:
        with open(path) as f:
            if text in (ln.rstrip("\n") for ln in f):
                return
    except FileNotFoundError:
        pass
    with open(path, "a") as f:
        f.write(text + "\n")


def _copy_into(src: str, dest: str, replace: bool) -> None:
    if os.path.isdir(src):
        raise BerthError(f'quadlet to install "{src}" is not a file')
    if not replace and os.path.exists(dest):
        raise BerthError(f"a Quadlet with name {os.path.basename(dest)} already exists, refusing to overwrite")
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".quadlet-install-")
    try:
        with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
            shutil.copyfileobj(inp, out)
        os.chmod(tmp, 0o644)
        if replace:
            os.replace(tmp, dest)
        else:
            os.link(tmp, dest)      # fails if dest appeared meanwhile
            os.unlink(tmp)
    except FileExistsError:
        os.unlink(tmp)
        raise BerthError(f"a Quadlet with name {os.path.basename(dest)} already exists, refusing to overwrite") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def install(paths: list[str], rootless: bool, replace: bool = False,
            reload: bool = True) -> tuple[list[str], dict[str, str]]:
    """Copy Quadlet files (or a directory: one application) into the install dir."""
    dest_dir = install_dir(rootless)
    os.makedirs(dest_dir, mode=0o755, exist_ok=True)
    installed: list[str] = []
    errors: dict[str, str] = {}
    app = ""
    if paths and os.path.isdir(paths[0]):
        first = paths[0].rstrip("/")
        app = "." + os.path.basename(first) + ".app"
        paths = [os.path.join(first, n) for n in sorted(os.listdir(first))] + paths[1:]
    for p in paths:
        this_app = app or "." + os.path.basename(p) + ".app"
        if not os.path.exists(p):
            errors[p] = f"stat {p}: no such file or directory"
            continue
        if not supported(p) and not app:
            errors[p] = f'"{os.path.splitext(p)[1]}" is not a supported Quadlet file type'
            continue
        dest = os.path.join(dest_dir, os.path.basename(os.path.normpath(p)))
        try:
            _copy_into(p, dest, replace)
        except (BerthError, OSError) as e:
            errors[p] = e.message if isinstance(e, BerthError) else str(e)
            continue
        _append_line(os.path.join(dest_dir, this_app), os.path.basename(dest))
        installed.append(dest)
    if reload and installed:
        reload_systemd(rootless)
    return installed, errors


def remove(names: list[str], rootless: bool, force: bool = False, all_: bool = False, ignore: bool = False,
           reload: bool = True) -> tuple[list[str], dict[str, str]]:
    """Remove Quadlets (with the rest of their application); running units need force (then stopped)."""
    dest_dir = install_dir(rootless)
    reverse, apps = app_map(rootless)
    todo = [os.path.basename(p) for p in all_paths(rootless)] if all_ else list(names)
    removed: list[str] = []
    errors: dict[str, str] = {}
    extra: list[str] = []              # app files and non-Quadlet assets
    i = 0
    while i < len(todo):
        name = todo[i]
        i += 1
        if name.startswith(".") and name.endswith(".app"):
            todo += [x for x in apps.get(name, []) if supported(x) and x not in todo]
            extra += [x for x in apps.get(name, []) if not supported(x)] + [name]
            continue
        app = reverse.get(name)
        if app:
            todo += [x for x in apps.get(app, []) if supported(x) and x not in todo]
            extra += [x for x in apps.get(app, []) if not supported(x)] + [app]
    paths: dict[str, str] = {}
    for name in todo:
        try:
            paths[name] = path_by_name(name, rootless)
        except BerthError as e:
            if ignore or all_:
                removed.append(name)
            else:
                errors[name] = e.message
    units = {}
    for name, p in paths.items():
        try:
            units[name] = service_name(p)
        except (BerthError, OSError, ValueError):
            pass
    states = unit_states(list(units.values()), rootless)
    for name, p in paths.items():
        unit = units.get(name)
        if unit and states.get(unit, "").startswith("active/"):
            if not force:
                errors[name] = f"quadlet {name} is running and force is not set, refusing to remove"
                continue
            r = _systemctl(rootless, "stop", unit)
            if r.returncode != 0:
                errors[name] = f"stopping {unit}: {r.stderr.strip()}"
                continue
        try:
            os.unlink(p)
            removed.append(name)
        except OSError as e:
            errors[name] = f"removing {p}: {e.strerror}"
    for x in dict.fromkeys(extra):
        try:
            os.unlink(os.path.join(dest_dir, x))
        except FileNotFoundError:
            pass
    if reload and removed:
        reload_systemd(rootless)
    return removed, errors
