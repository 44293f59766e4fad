"""A container's volumes and mounts, from create to removal.

create: -v, --mount, --volumes-from and the image's VOLUMEs are checked (`plan`, which makes
nothing), then named and anonymous volumes are created and everything is resolved into OCI mounts in
config["mounts"] (`apply`); config["volume_mounts"] keeps what inspect shows and config["volumes"]
the volume names (who uses a volume, what `rm -v` removes).
first start: volumes are mounted if their driver options say so, copied up from the image path while
still empty, and chowned the way Podman does (`prepare_for_start`).
stop / removal: mounts released (`release_all`); anonymous volumes go with `rm -v` and `--rm`.
"""

from __future__ import annotations

import os
import stat
import subprocess

from berth.engine import mountparse, volumes
from berth.engine.container import Container
from berth.engine.mountparse import MountSpec
from berth.engine.options import CreateOptions
from berth.engine.runtime import Runtime
from berth.errors import BerthError, InvalidArgument, NoSuchContainer, StorageError

DUPLICATE = "duplicate mount destination"


def plan(rt: Runtime, opts: CreateOptions, icfg: dict) -> list[MountSpec]:
    """Every mount the container asks for, validated; bind/volume options processed (Podman's
    ProcessOptions: rw, propagation, nosuid/nodev/noexec, rbind).  Creates nothing."""
    user: dict[str, MountSpec] = {}
    requested = [mountparse.parse_mount_flag(m) for m in opts.mounts]
    requested += [mountparse.parse_volume_flag(v) for v in opts.volumes]
    for spec in requested:
        seen = user.get(spec.destination)
        if seen is None:
            user[spec.destination] = spec
        elif not _same(seen, spec):
            raise InvalidArgument(f"{spec.destination}: {DUPLICATE}")
    for t in opts.tmpfs:
        spec = mountparse.parse_tmpfs_flag(t)
        seen = user.get(spec.destination)
        if seen is not None and seen.type != "tmpfs":
            raise InvalidArgument(f"{spec.destination}: {DUPLICATE}")
    taken = set(user) | {mountparse.parse_tmpfs_flag(t).destination for t in opts.tmpfs}
    out = list(user.values())
    for ref in opts.volumes_from:
        for spec in _volumes_from(rt, ref):
            if spec.destination not in taken:
                taken.add(spec.destination)
                out.append(spec)
    if opts.image_volume not in ("ignore",):
        for dest in sorted((icfg.get("Volumes") or {}).keys()):
            dest = mountparse.clean(dest)
            if dest in taken or not dest.startswith("/"):
                continue
            taken.add(dest)
            out.append(MountSpec("tmpfs", dest, "tmpfs", []) if opts.image_volume == "tmpfs"
                       else MountSpec("volume", dest, "", []))
    for spec in out:
        spec.given = list(spec.options)
        if spec.type == "volume":
            if spec.source and not mountparse.valid_volume_name(spec.source):
                raise InvalidArgument(mountparse.NAME_ERROR)
            if spec.volume_options:
                mountparse.local_driver_options(dict(spec.volume_options))
            spec.options = mountparse.process_options(spec.options, "")
        elif spec.type == "bind":
            spec.options = mountparse.process_options(spec.options, spec.source)
    return out


def _same(a: MountSpec, b: MountSpec) -> bool:
    """The same mount given twice is fine (Podman: same source and options; a named volume by name)."""
    if a.type != b.type or a.source != b.source:
        return False
    return a.type == "volume" or a.options == b.options


def _volumes_from(rt: Runtime, value: str) -> list[MountSpec]:
    ref, opts = mountparse.parse_volumes_from(value)
    try:
        src = rt.lookup(ref)
    except NoSuchContainer as e:
        raise NoSuchContainer(f'looking up container "{ref}": {e.message}') from None
    rorw = [o for o in opts if o in ("ro", "rw")]
    out = []
    for m in src.config.get("volume_mounts") or []:
        if m["type"] not in ("bind", "volume"):
            continue
        options = [o for o in m.get("user_options", []) if o not in ("ro", "rw")] + rorw if rorw \
            else list(m.get("user_options", []))
        out.append(MountSpec(m["type"], m["destination"], m["name"] if m["type"] == "volume" else m["source"],
                             options))
    return out


def apply(rt: Runtime, planned: list[MountSpec], config: dict, created: list[str],
          opts: CreateOptions) -> None:
    """Create the volumes the plan needs (their names appended to `created`, for undoing) and record
    the OCI mounts and the inspect view in the container's config."""
    oci: list[dict] = []
    views: list[dict] = []
    names: list[str] = []
    tmpfs: list[str] = []
    for spec in planned:
        view = {"type": spec.type, "name": "", "source": spec.source, "destination": spec.destination,
                "options": list(spec.options), "user_options": list(spec.given), "anonymous": False}
        if spec.type == "tmpfs":
            kernel = mountparse.oci_options(spec.options)  # U on a tmpfs: not supported, dropped
            tmpfs.append(spec.destination + (":" + ",".join(kernel) if kernel else ""))
        elif spec.type == "bind":
            oci.append({"destination": spec.destination, "type": "bind", "source": spec.source,
                        "options": mountparse.oci_options(spec.options)})
        else:
            vol, made = volumes.create(rt, spec.source, options=spec.volume_options, ignore=True,
                                       anonymous=not spec.source)
            if made:
                created.append(vol.name)
            view.update(name=vol.name, source=volumes.mountpoint(rt, vol.name), anonymous=vol.anonymous)
            oci.append({"destination": spec.destination, "type": "bind", "source": view["source"],
                        "options": mountparse.oci_options(spec.options)})
            if vol.name not in names:
                names.append(vol.name)
        views.append(view)
    # parents before children, as Podman sorts them: /data must not hide /data/sub
    oci.sort(key=lambda m: m["destination"].rstrip("/").count("/"))
    claimed = {v["destination"] for v in views}
    # --read-only's default tmpfs give way to a mount the user put there, and --tmpfs to the same
    # tmpfs given with --mount (any other clash was refused by plan)
    config["tmpfs"] = [t for t in config.get("tmpfs", [])
                       if mountparse.clean(t.partition(":")[0]) not in claimed] + tmpfs
    config["mounts"] = list(config.get("mounts") or []) + oci
    config["volume_mounts"] = views
    config["volumes"] = names
    config["volumes_from"] = list(opts.volumes_from)
    config["image_volume"] = opts.image_volume


# first start -----------------------------------------------------------------------------------------


def prepare_for_start(rt: Runtime, c: Container, rootfs: str) -> None:
    """Mount, copy up and chown the container's volumes; `U` chowns bind sources too."""
    views = c.config.get("volume_mounts") or []
    if not views:
        return
    ids: list[tuple[int, int]] = []  # resolved once, on demand

    def owner() -> tuple[int, int]:
        if not ids:
            ids.append(_container_ids(c, rootfs))
        return ids[0]

    try:
        for m in views:
            if m["type"] == "volume":
                _prepare_volume(rt, c, rootfs, m, owner)
            elif m["type"] == "bind" and "U" in m["options"]:
                _chown_tree(m["source"], *owner(), always=not c.state.get("started_at"))
    except BaseException:
        release_all(rt, c)
        raise


def _container_ids(c: Container, rootfs: str) -> tuple[int, int]:
    """The container process's UID/GID as host IDs (through the user namespace mapping, if any)."""
    from berth.engine.idmap import _to_host
    from berth.oci.spec import resolve_user

    u = resolve_user(rootfs, c.config.get("user", ""), c.config.get("group_add"))
    uid, gid = u.uid, u.gid
    if c.config.get("uid_mappings"):
        uid, gid = _to_host(c.config["uid_mappings"], uid), _to_host(c.config["gid_mappings"], gid)
    return uid, gid


def _prepare_volume(rt: Runtime, c: Container, rootfs: str, m: dict, owner) -> None:
    name = m["name"]
    with volumes.locked(rt, name):
        try:
            vol = volumes.get(rt, name)
        except volumes.NoSuchVolume:
            # restored from a checkpoint on a host that never had it: make it again
            vol, _ = volumes.create(rt, name, ignore=True, anonymous=m.get("anonymous", False))
        volumes.acquire(rt, vol, c.id)
        data = volumes.mountpoint(rt, name)
        before = dict(vol.state)
        if vol.state.get("needs_copy_up") and "nocopy" not in m["options"] and "nocopy" not in vol.options:
            _copy_up(rt, vol, rootfs, m["destination"], data)
        _fix_permissions(rt, vol, rootfs, m, data, owner)
        if "U" in m["options"]:
            _chown_tree(data, *owner(), always=not c.state.get("started_at"))
        if vol.state != before:
            volumes.save_state(rt, vol)


def _copy_up(rt: Runtime, vol: volumes.Volume, rootfs: str, dest: str, data: str) -> None:
    """Podman's copy-up: the image's content at dest goes into the volume, once, only while the volume
    is empty (never over data someone put there: CVE-2020-1726)."""
    src = _secure_join(rootfs, dest)
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode) or not os.listdir(src) or os.listdir(data):
        return
    vol.state.update(needs_copy_up=False, copied_up=True)
    volumes.save_state(rt, vol)  # before copying: a failed copy is not retried into a half-filled volume
    r = subprocess.run(["cp", "-a", "--reflink=auto", "--", src + "/.", data + "/"], capture_output=True,
                       text=True, check=False)
    if r.returncode != 0:
        raise StorageError(f"copying up to volume {vol.name}: {r.stderr.strip()}")


def _fix_permissions(rt: Runtime, vol: volumes.Volume, rootfs: str, m: dict, data: str, owner) -> None:
    """Podman's fixVolumePermissions: a new volume takes the owner and mode of the directory it is
    mounted on (else the container user); root ownership, or content, ends the chowning."""
    st = vol.state
    if not st.get("needs_chown"):
        return
    if not st.get("copied_up") and os.listdir(data):
        st["needs_chown"] = False
        return
    uid, gid = owner()
    if st.get("copied_up"):
        st["needs_chown"] = False
    st["copied_up"] = False
    os.lchown(data, uid, gid)
    if "U" in m["options"]:
        return
    try:
        target = os.lstat(_secure_join(rootfs, m["destination"]))
    except FileNotFoundError:
        return
    os.lchown(data, target.st_uid, target.st_gid)
    if target.st_uid == 0 and target.st_gid == 0:
        st["needs_chown"] = False
    os.chmod(data, stat.S_IMODE(target.st_mode))


def _chown_tree(top: str, uid: int, gid: int, always: bool) -> None:
    """`U`: the source belongs to the container user, recursively (Podman: on the first start, or
    later when the top directory's owner changed)."""
    st = os.lstat(top)
    if not always and (st.st_uid, st.st_gid) == (uid, gid):
        return
    os.lchown(top, uid, gid)
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            os.lchown(os.path.join(dirpath, n), uid, gid)


def _secure_join(root: str, path: str, depth: int = 0) -> str:
    """root + path with symlinks resolved inside root (a link to /etc means root/etc, never the host's)."""
    if depth > 40:
        raise StorageError(f"too many levels of symbolic links resolving {path} in the container")
    parts = [p for p in path.split("/") if p and p != "."]
    cur = ""
    for i, part in enumerate(parts):
        if part == "..":
            cur = cur.rsplit("/", 1)[0]
            continue
        full = root + cur + "/" + part
        if os.path.islink(full):
            target = os.readlink(full)
            rest = "/".join(parts[i + 1:])
            base = target if target.startswith("/") else f"{cur}/{target}"
            return _secure_join(root, f"{base}/{rest}", depth + 1)
        cur += "/" + part
    return root + (cur or "/")


# stop and removal ------------------------------------------------------------------------------------


def release_all(rt: Runtime, c: Container) -> None:
    """The container stopped: volumes mounted for it are unmounted unless another container holds them."""
    for name in c.config.get("volumes") or []:
        try:
            volumes.release(rt, name, c.id)
        except BerthError:
            pass  # a volume that cannot be unmounted now is unmounted by its next user or `volume rm`


def on_remove(rt: Runtime, c: Container, anonymous: bool) -> None:
    """The container's record is gone: release its volumes; with `rm -v`/`--rm` remove its anonymous
    volumes, unless another container uses one (--volumes-from)."""
    release_all(rt, c)
    if not anonymous:
        return
    for m in c.config.get("volume_mounts") or []:
        if m["type"] == "volume" and m.get("anonymous"):
            try:
                volumes.remove(rt, m["name"])
            except (volumes.VolumeInUse, volumes.NoSuchVolume):
                continue


# what inspect and ps show ----------------------------------------------------------------------------


def inspect_mounts(c: Container) -> list[dict]:
    """Podman's InspectMount list: named volumes first, then bind mounts; tmpfs mounts are not shown."""
    views = c.config.get("volume_mounts") or []
    out = []
    for m in [v for v in views if v["type"] == "volume"] + [v for v in views if v["type"] == "bind"]:
        doc = {"Type": m["type"], "Name": m["name"], "Source": m["source"], "Destination": m["destination"],
               "Driver": "local" if m["type"] == "volume" else ""}
        doc.update(mountparse.inspect_fields(m["options"]))
        out.append(doc)
    return out


def binds(c: Container) -> list[str]:
    """HostConfig.Binds: NAME:DEST:OPTS for volumes, SRC:DEST:OPTS for bind mounts."""
    views = c.config.get("volume_mounts") or []
    return [f"{m['name'] if m['type'] == 'volume' else m['source']}:{m['destination']}:{','.join(m['options'])}"
            for m in [v for v in views if v["type"] == "volume"] + [v for v in views if v["type"] == "bind"]]
