"""Named volumes: one row each in the state DB, data under <root>/volumes/<name>/_data (Podman's layout).

The local driver's `-o type=,device=,o=` volumes are mounted with mount(8) on their _data directory the
first time a container needs them and unmounted when the last such container stops.  Who holds the
mount is recorded in <runroot>/volumes/<name> (a list of container IDs): the runroot is a tmpfs, so a
reboot, which takes the mounts away, takes that record with it.  One flock per volume serialises
mount/unmount and copy-up.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from berth.engine import mountparse
from berth.engine.runtime import Runtime
from berth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, StorageError
from berth.util import jsonc
from berth.util.record import record
from berth.util.timefmt import rfc3339


class NoSuchVolume(NotFound):
    exit_code = 125


class VolumeInUse(FailedPrecondition):
    exit_code = 2  # Podman's `volume rm` code for a volume containers still use


@record
class Volume:
    name: str
    created: float
    config: dict   # driver, labels, options, anonymous, uid, gid
    state: dict    # needs_copy_up, needs_chown, copied_up
    lock_number: int = 0

    @property
    def driver(self) -> str:
        return self.config.get("driver", "local")

    @property
    def options(self) -> dict[str, str]:
        return self.config.get("options") or {}

    @property
    def labels(self) -> dict[str, str]:
        return self.config.get("labels") or {}

    @property
    def anonymous(self) -> bool:
        return bool(self.config.get("anonymous"))


def mountpoint(rt: Runtime, name: str) -> str:
    return os.path.join(rt.root, "volumes", name, "_data")


@contextmanager
def locked(rt: Runtime, name: str) -> Iterator[None]:
    from berth.engine.locks import locked as flock

    with flock(os.path.join(rt.runroot, "locks", "volumes", name)):
        yield


def _row_to_volume(row: tuple) -> Volume:
    rowid, name, created, config, state = row
    return Volume(name, created, jsonc.loads(config), jsonc.loads(state), rowid)


_SELECT = "SELECT rowid, name, created, config, state FROM volumes"


def get(rt: Runtime, name: str) -> Volume:
    row = rt.db.conn.execute(_SELECT + " WHERE name=?", (name,)).fetchone()
    if row is None:
        raise NoSuchVolume(f'no volume with name "{name}" found: no such volume')
    return _row_to_volume(row)


def exists(rt: Runtime, name: str) -> bool:
    return rt.db.conn.execute("SELECT 1 FROM volumes WHERE name=?", (name,)).fetchone() is not None


def list_all(rt: Runtime) -> list[Volume]:
    return [_row_to_volume(r) for r in rt.db.conn.execute(_SELECT + " ORDER BY created, rowid")]


def save_state(rt: Runtime, v: Volume) -> None:
    with rt.db.write():
        rt.db.conn.execute("UPDATE volumes SET state=? WHERE name=?", (jsonc.dumps(v.state), v.name))


def create(rt: Runtime, name: str = "", driver: str = "local", labels: dict[str, str] | None = None,
           options: dict[str, str] | None = None, ignore: bool = False,
           anonymous: bool = False) -> tuple[Volume, bool]:
    """Create a volume; (volume, True) if made now, (existing, False) when ignore and it exists."""
    from berth.util.ids import new_id

    driver = driver or "local"
    if driver != "local":
        raise NotFound(f"volume {name or ''} uses volume plugin {driver} but it could not be retrieved: no volume "
                       f"plugin with name {driver} available: required plugin missing")
    if name and not mountparse.valid_volume_name(name):
        raise InvalidArgument(mountparse.NAME_ERROR)
    opts, uid, gid = mountparse.local_driver_options(dict(options or {}))
    name = name or new_id()
    config = {"driver": driver, "labels": dict(labels or {}), "options": opts, "anonymous": anonymous,
              "uid": uid or 0, "gid": gid or 0}
    # a volume created with an owner keeps it: Podman's WithVolumeNoChown
    state = {"needs_copy_up": True, "needs_chown": uid is None and gid is None, "copied_up": False}
    with rt.db.write():
        if exists(rt, name):
            if ignore:
                return get(rt, name), False
            raise AlreadyExists(f"volume with name {name} already exists: volume already exists")
        data = mountpoint(rt, name)
        os.makedirs(os.path.dirname(data), mode=0o700, exist_ok=True)
        os.makedirs(data, mode=0o755, exist_ok=True)
        os.chmod(data, 0o755)  # whatever the umask
        if uid is not None or gid is not None:
            os.chown(data, uid or 0, gid or 0)
        rt.db.conn.execute("INSERT INTO volumes (name, created, config, state) VALUES (?,?,?,?)",
                           (name, time.time(), jsonc.dumps(config), jsonc.dumps(state)))
    return get(rt, name), True


def users(rt: Runtime, name: str) -> list[str]:
    """IDs of every container (in any state) whose config names the volume."""
    out = []
    for cid, cfg in rt.db.conn.execute("SELECT id, config FROM containers ORDER BY created"):
        if name in (jsonc.loads(cfg).get("volumes") or []):
            out.append(cid)
    return out


def remove(rt: Runtime, name: str, force: bool = False, timeout: int | None = None) -> None:
    """Remove a volume; with force, first every container using it (Podman's `volume rm -f`)."""
    v = get(rt, name)
    deps = users(rt, name)
    if deps and not force:
        raise _in_use(name, deps)
    if deps:
        from berth.engine import lifecycle
        from berth.errors import NoSuchContainer

        for cid in deps:
            try:
                c = rt.lookup(cid)
                if timeout is not None and c.status.is_alive():
                    lifecycle.stop(rt, c, timeout)
                lifecycle.remove(rt, c, force=True)
            except NoSuchContainer:
                continue
    with locked(rt, name):
        with rt.db.write():
            deps = users(rt, name)  # checked again where no container can be created meanwhile
            if deps:
                raise _in_use(name, deps)
            rt.db.conn.execute("DELETE FROM volumes WHERE name=?", (name,))
        _unmount(rt, v.name)
        shutil.rmtree(os.path.dirname(mountpoint(rt, name)), ignore_errors=True)
    _forget_users(rt, name)


def _in_use(name: str, deps: list[str]) -> VolumeInUse:
    return VolumeInUse(f"volume {name} is being used by the following container(s): {', '.join(deps)}: "
                       "volume is being used")


def discard(rt: Runtime, names: list[str]) -> None:
    """Undo volumes a failed container creation made (no container refers to them yet)."""
    for name in names:
        with rt.db.write():
            if users(rt, name):
                continue  # another container, created meanwhile, took the new volume: it stays
            rt.db.conn.execute("DELETE FROM volumes WHERE name=?", (name,))
        shutil.rmtree(os.path.dirname(mountpoint(rt, name)), ignore_errors=True)


# mounting (local driver with type/device options) --------------------------------------------------


def needs_mount(v: Volume) -> bool:
    return bool(v.options.get("type") or v.options.get("device"))


def _users_path(rt: Runtime, name: str) -> str:
    return os.path.join(rt.runroot, "volumes", name)


def _read_users(rt: Runtime, name: str) -> list[str]:
    try:
        with open(_users_path(rt, name)) as f:
            return list(jsonc.load(f))
    except (OSError, ValueError):
        return []


def _write_users(rt: Runtime, name: str, cids: list[str]) -> None:
    path = _users_path(rt, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        jsonc.dump(cids, f)
    os.replace(path + ".tmp", path)


def _forget_users(rt: Runtime, name: str) -> None:
    try:
        os.unlink(_users_path(rt, name))
    except FileNotFoundError:
        pass


def _is_mounted(rt: Runtime, name: str) -> bool:
    from berth.storage.mount import is_mounted

    return is_mounted(mountpoint(rt, name))


def _mount(rt: Runtime, v: Volume) -> None:
    """mount(8), as Podman: it knows every filesystem's option syntax, mount(2) would not."""
    opts = v.options
    vtype, device = opts.get("type", ""), opts.get("device", "")
    argv = ["mount"]
    if opts.get("o"):
        argv += ["-o", opts["o"]]
    if vtype == "bind":
        argv += ["-o", "bind"]
    elif vtype:
        argv += ["-t", vtype]
    argv += [device or vtype, mountpoint(rt, v.name)]
    r = subprocess.run(argv, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        # mount(8)'s first line is the error; the next ones are hints ("dmesg(1) may have more ...")
        why = (r.stderr.strip().splitlines() or [f"mount exited {r.returncode}"])[0]
        raise StorageError(f"mounting volume {v.name}: {why}")


def _unmount(rt: Runtime, name: str) -> None:
    from berth.storage.mount import umount

    if _is_mounted(rt, name):
        umount(mountpoint(rt, name))


def acquire(rt: Runtime, v: Volume, cid: str) -> None:
    """Mount the volume for container cid if it needs a mount (call under the volume's lock)."""
    if not needs_mount(v):
        return
    holders = _read_users(rt, v.name)
    if not _is_mounted(rt, v.name):
        holders = []  # a reboot (or someone) unmounted it: nobody holds it any more
        _mount(rt, v)
    if cid not in holders:
        holders.append(cid)
    _write_users(rt, v.name, holders)


def release(rt: Runtime, name: str, cid: str) -> None:
    """Container cid no longer needs the volume mounted; the last one out unmounts."""
    try:
        v = get(rt, name)
    except NoSuchVolume:
        return
    if not needs_mount(v):
        return
    with locked(rt, name):
        holders = [h for h in _read_users(rt, name) if h != cid and rt.db.container_row(h) is not None]
        if holders:
            _write_users(rt, name, holders)
            return
        _unmount(rt, name)
        _forget_users(rt, name)


def mount_count(rt: Runtime, v: Volume) -> int:
    return len(_read_users(rt, v.name)) if needs_mount(v) and _is_mounted(rt, v.name) else 0


@contextmanager
def _accessible(rt: Runtime, v: Volume) -> Iterator[str]:
    """The volume's data, mounted for the time of an export or import if no container holds it."""
    with locked(rt, v.name):
        temporary = needs_mount(v) and not _is_mounted(rt, v.name)
        if temporary:
            _mount(rt, v)
        try:
            yield mountpoint(rt, v.name)
        finally:
            if temporary:
                _unmount(rt, v.name)


# documents, filters, archives -----------------------------------------------------------------------


def inspect_doc(rt: Runtime, v: Volume) -> dict:
    """Podman's InspectVolumeData (omitempty fields left out when empty, as its JSON does)."""
    doc: dict = {"Name": v.name, "Driver": v.driver, "Mountpoint": mountpoint(rt, v.name),
                 "CreatedAt": rfc3339(v.created), "Labels": v.labels, "Scope": "local", "Options": v.options}
    if v.config.get("uid"):
        doc["UID"] = v.config["uid"]
    if v.config.get("gid"):
        doc["GID"] = v.config["gid"]
    if v.anonymous:
        doc["Anonymous"] = True
    doc["MountCount"] = mount_count(rt, v)
    if v.state.get("needs_copy_up"):
        doc["NeedsCopyUp"] = True
    if v.state.get("needs_chown"):
        doc["NeedsChown"] = True
    doc["LockNumber"] = v.lock_number
    return doc


FILTERS = ("name", "label", "label!", "driver", "dangling", "opt", "scope", "until", "anonymous")


def parse_filters(filters: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for f in filters:
        k, sep, val = f.partition("=")
        if not sep:
            raise InvalidArgument(f'"{f}": invalid filter: filter must be of the form key=value')
        if k not in FILTERS:
            raise InvalidArgument(f'"{k}" is an invalid volume filter')
        if k in ("dangling", "anonymous") and val.lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f'"{val}" is not a valid value for the "{k}" filter - must be true or false')
        groups.setdefault(k, []).append(val)
    return groups


def _label_match(labels: dict[str, str], want: str) -> bool:
    k, sep, val = want.partition("=")
    return k in labels and (not sep or labels[k] == val)


def matches(rt: Runtime, v: Volume, groups: dict[str, list[str]], in_use: set[str] | None = None) -> bool:
    """Podman's volume filters: values of one key are ORed (label: ANDed), keys are ANDed."""
    from berth.util.timefmt import parse_time

    for k, vals in groups.items():
        if k == "name":
            ok = any(re.search(val, v.name) for val in vals)  # a regexp, as Podman's
        elif k == "label":
            ok = all(_label_match(v.labels, val) for val in vals)
        elif k == "label!":
            ok = not any(_label_match(v.labels, val) for val in vals)
        elif k == "driver":
            ok = v.driver in vals
        elif k == "scope":
            ok = "local" in vals
        elif k == "opt":
            ok = any(_label_match(v.options, val) for val in vals)
        elif k == "until":
            ok = all(v.created < parse_time(val) for val in vals)
        elif k == "anonymous":
            ok = v.anonymous == (vals[-1].lower() in ("true", "1"))
        else:  # dangling
            used = in_use if in_use is not None else names_in_use(rt)
            ok = (v.name not in used) == (vals[-1].lower() in ("true", "1"))
        if not ok:
            return False
    return True


def names_in_use(rt: Runtime) -> set[str]:
    out: set[str] = set()
    for (cfg,) in rt.db.conn.execute("SELECT config FROM containers"):
        out.update(jsonc.loads(cfg).get("volumes") or [])
    return out


def prune(rt: Runtime, filters: list[str]) -> list[str]:
    """Remove every volume no container uses (and that the filters select); their names."""
    groups = parse_filters(filters)
    groups.pop("dangling", None)
    used = names_in_use(rt)
    removed = []
    for v in list_all(rt):
        if v.name in used or not matches(rt, v, groups, used):
            continue
        try:
            remove(rt, v.name)
        except (VolumeInUse, NoSuchVolume):
            continue  # taken (or removed) meanwhile
        removed.append(v.name)
    return removed


def export(rt: Runtime, name: str, out: BinaryIO) -> None:
    from berth.storage.apply import tar_directory

    v = _get_for_archive(rt, name)
    with _accessible(rt, v) as data:
        tar_directory(data, out)


def import_(rt: Runtime, name: str, src: BinaryIO) -> None:
    """Unpack a tar into the volume, over what is there.

    The tar goes into an empty staging directory first (the safe layer extractor: nothing lands
    outside it), which is then merged in without following any symlink of the volume; a bad archive
    thus leaves the volume as it was."""
    from berth.storage.apply import apply_layer

    v = _get_for_archive(rt, name)
    with _accessible(rt, v) as data:
        stage = os.path.join(data, f".berth-import-{os.urandom(6).hex()}")
        try:
            apply_layer(src, stage, rootless=rt.rootless, whiteout_format="vfs")
            _merge_tree(stage, data)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _merge_tree(src: str, dst: str) -> None:
    """Move src's entries into dst (same filesystem), replacing what is there; directories merge."""
    sfd, dfd = os.open(src, _DIR), os.open(dst, _DIR)
    try:
        _merge_fds(sfd, dfd)
    finally:
        os.close(sfd)
        os.close(dfd)


def _merge_fds(sfd: int, dfd: int) -> None:
    import stat

    for name in os.listdir(sfd):
        st = os.lstat(name, dir_fd=sfd)
        try:
            dst = os.lstat(name, dir_fd=dfd)
        except FileNotFoundError:
            dst = None
        if dst is not None and stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(dst.st_mode):
            # O_NOFOLLOW on every step: a symlink the volume holds is never walked through
            sub_s, sub_d = os.open(name, _DIR, dir_fd=sfd), os.open(name, _DIR, dir_fd=dfd)
            try:
                _merge_fds(sub_s, sub_d)
                os.chown(sub_d, st.st_uid, st.st_gid)
                os.chmod(sub_d, stat.S_IMODE(st.st_mode))
                os.utime(sub_d, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(sub_s)
                os.close(sub_d)
            continue
        if dst is not None and stat.S_ISDIR(dst.st_mode):
            shutil.rmtree(name, dir_fd=dfd)
        elif dst is not None and stat.S_ISDIR(st.st_mode):
            os.unlink(name, dir_fd=dfd)
        os.rename(name, name, src_dir_fd=sfd, dst_dir_fd=dfd)  # replaces a file or symlink atomically


def _get_for_archive(rt: Runtime, name: str) -> Volume:
    try:
        return get(rt, name)
    except NoSuchVolume:
        raise NoSuchVolume(f"no such volume {name}") from None
