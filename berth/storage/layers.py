"""The layer store: read-only image layers shared by every image and container that uses them,
and each container's own read-write layer.

overlay: <root>/storage/overlay/<layer>/diff holds a layer's files, extracted once.
  <root>/storage/overlay/l/<short> links to it, so the lowerdir= option stays short
  (the whole mount data string must fit in one page), as containers/storage does.
  A container's layer is <root>/storage/overlay/<cid>/{diff,work,merged}.
  With a mount program (fuse-overlayfs) the same directories are mounted in user space.
vfs: <root>/storage/vfs/dir/<layer> is a full copy of the rootfs up to that layer;
  a container's rootfs is one more copy.  Slow, but works on any filesystem.

The choice is probed once and recorded in <root>/storage/driver: kernel overlay (with userxattr
in a user namespace), else fuse-overlayfs, else vfs.
"""

from __future__ import annotations

import _thread  # the lock without threading's import (~1.5 ms of every command)
import os

from berth.engine.db import Database
from berth.errors import StorageError
from berth.storage import mount as m

TYPE_CHECKING = False  # typing costs ~3 ms to import, on every command that touches storage
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

DRIVERS = ("overlay", "vfs")
MOUNT_PROGRAM_KEYS = ("overlay.mount_program", "overlay2.mount_program", ".mount_program")


def parse_storage_opts(opts: list[str]) -> str | None:
    """--storage-opt values → the overlay mount program (None: not given, "": the kernel's overlay)."""
    program = None
    for o in opts:
        key, eq, value = o.partition("=")
        if not eq or key.strip().lower() not in MOUNT_PROGRAM_KEYS:
            raise StorageError(f'unknown storage option "{o}" (supported: overlay.mount_program=PATH)')
        program = value.strip()
    return program


def chain_id(diff_ids: list[str]) -> list[str]:
    """OCI ChainIDs: the layer IDs a stack of diff IDs gets (same as containers/storage)."""
    out: list[str] = []
    for d in diff_ids:
        if not out:
            out.append(d.split(":", 1)[1])
        else:
            out.append(_sha256(f"sha256:{out[-1]} {d}".encode()).hexdigest())
    return out


class LayerStore:
    def __init__(self, root: str, db: Database, driver: str = "", rootless: bool = False,
                 mount_program: str | None = None) -> None:
        self.root = os.path.join(root, "storage")
        self.db = db
        self.rootless = rootless
        os.makedirs(self.root, exist_ok=True)
        self.mount_program = ""  # fuse-overlayfs (or another overlay in user space) instead of the kernel's
        self.driver = self._pick_driver(driver, mount_program)
        self.base = os.path.join(self.root, self.driver)
        os.makedirs(os.path.join(self.base, "l"), exist_ok=True)
        # Pulls apply layers from several threads; their commits share one SQLite connection.
        self._commit_lock = _thread.allocate_lock()

    # driver ---------------------------------------------------------------------------------

    def _pick_driver(self, wanted: str, program: str | None) -> str:
        marker = os.path.join(self.root, "driver")
        try:
            with open(marker) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            lines = []
        recorded = lines[0].strip() if lines else ""
        recorded_program = next((ln.partition("=")[2] for ln in lines[1:] if ln.startswith("mount_program=")), "")
        if wanted and wanted not in DRIVERS:
            raise StorageError(f'unknown storage driver "{wanted}" (supported: overlay, vfs)')
        if program:
            from berth.storage import fuse_overlay

            program = fuse_overlay.check_program(program)
        if recorded:
            if wanted and wanted != recorded:
                raise StorageError(
                    f'database storage graph driver "{recorded}" does not match our storage graph driver '
                    f'"{wanted}": database configuration mismatch')
            if recorded == "overlay":
                # overlay.mount_program may change between commands, as with Podman: both mounts read
                # the same layers; the latest choice is kept for the commands that do not repeat it
                self.mount_program = recorded_program if program is None else program
                if self.mount_program != recorded_program:
                    self._record(marker, recorded)
            return recorded
        if wanted == "vfs":
            driver = "vfs"  # overlay.* options do not apply to vfs, as in containers/storage
        elif program is not None:
            driver, self.mount_program = "overlay", program
        elif self._overlay_works():
            driver = "overlay"
        else:
            from berth.storage import fuse_overlay  # only here and for a mount_program: not per start

            if (prog := fuse_overlay.find()) and fuse_overlay.fuse_usable() and self._overlay_works(prog):
                driver, self.mount_program = "overlay", prog
            else:
                driver = "overlay" if wanted == "overlay" else "vfs"
        self._record(marker, driver)
        return driver

    def _record(self, marker: str, driver: str) -> None:
        tmp = f"{marker}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(driver + "\n" + (f"mount_program={self.mount_program}\n" if self.mount_program else ""))
        os.replace(tmp, marker)

    def _overlay_works(self, program: str = "") -> bool:
        """Can an overlay be mounted here: the kernel's, or with `program` (fuse-overlayfs)?"""
        import shutil

        probe = os.path.join(self.root, f".probe-{os.getpid()}")
        dirs = [os.path.join(probe, d) for d in ("lower", "upper", "work", "merged")]
        try:
            for d in dirs:
                os.makedirs(d)
            if program:
                from berth.storage import fuse_overlay

                fuse_overlay.mount(program, [dirs[0]], dirs[1], dirs[2], dirs[3])
                m.umount(dirs[3])
                return True
            opts = f"lowerdir={dirs[0]},upperdir={dirs[1]},workdir={dirs[2]}"
            if self.rootless:
                opts += ",userxattr"
            m.mount("overlay", dirs[3], "overlay", 0, opts)
            m.umount(dirs[3])
            return True
        except (StorageError, OSError):
            return False
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    # image layers -----------------------------------------------------------------------------

    def layer_dir(self, layer_id: str) -> str:
        if self.driver == "vfs":
            return os.path.join(self.base, "dir", layer_id)
        return os.path.join(self.base, layer_id, "diff")

    def exists(self, layer_id: str) -> bool:
        return self.db.layer(layer_id) is not None and os.path.isdir(self.layer_dir(layer_id))

    def create(self, stream: BinaryIO, parent: str | None, expected_diff_id: str | None = None) -> tuple[str, str, int]:
        """Extract a layer tar on top of parent; returns (layer id, diff id, size)."""
        import shutil

        from berth.storage.apply import apply_layer

        tmp = os.path.join(self.base, f".tmp-{os.urandom(6).hex()}")
        dest = os.path.join(tmp, "diff")
        try:
            if self.driver == "vfs" and parent:
                os.makedirs(tmp)
                _copy_tree(self.layer_dir(parent), dest)
            else:
                os.makedirs(dest)
            split = os.path.join(tmp, "tar-split")
            res = apply_layer(stream, dest, rootless=self.rootless, expected_diff_id=expected_diff_id,
                              whiteout_format="vfs" if self.driver == "vfs" else "overlay", tar_split=split)
            layer_id = (res.diff_id.split(":", 1)[1] if parent is None else
                        _sha256(f"sha256:{parent} {res.diff_id}".encode()).hexdigest())
            if self.exists(layer_id):
                return layer_id, res.diff_id, res.size
            os.makedirs(os.path.dirname(self.split_path(layer_id)), exist_ok=True)
            os.replace(split, self.split_path(layer_id))
            with self._commit_lock:
                self._commit_layer(tmp, dest, layer_id, parent, res.diff_id, res.size)
            return layer_id, res.diff_id, res.size
        finally:
            if os.path.exists(tmp):
                shutil.rmtree(tmp, ignore_errors=True)

    def _commit_layer(self, tmp: str, dest: str, layer_id: str, parent: str | None, diff_id: str,
                      size: int) -> None:
        import shutil

        link = os.urandom(13).hex()[:26].upper()
        if self.driver == "vfs":
            final = self.layer_dir(layer_id)
            os.makedirs(os.path.dirname(final), exist_ok=True)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.rename(dest, final)
        else:
            final = os.path.join(self.base, layer_id)
            if os.path.exists(final):
                shutil.rmtree(final)
            with open(os.path.join(tmp, "link"), "w") as f:
                f.write(link)
            os.rename(tmp, final)
            lpath = os.path.join(self.base, "l", link)
            if os.path.lexists(lpath):
                os.unlink(lpath)
            os.symlink(f"../{layer_id}/diff", lpath)
        with self.db.write():
            self.db.add_layer(layer_id, parent, diff_id, link, size)

    def split_path(self, layer_id: str) -> str:
        """The layer's tar-split record (storage/tarsplit.py), written when it was applied."""
        return os.path.join(self.root, "tar-split", f"{layer_id}.gz")

    def diff_tar(self, layer_id: str) -> Iterator[bytes]:
        """The layer's original tar stream (its sha256 is the diff ID), rebuilt from tar-split."""
        from berth.storage.tarsplit import rebuild

        split = self.split_path(layer_id)
        if not os.path.exists(split):
            raise StorageError(f"layer {layer_id[:12]} has no tar-split data (it was stored by an older "
                               "berth): its tar cannot be reproduced")
        return rebuild(split, self.layer_dir(layer_id))

    def remove(self, layer_id: str) -> None:
        try:
            os.unlink(self.split_path(layer_id))
        except FileNotFoundError:
            pass
        row = self.db.layer(layer_id)
        if row and self.driver == "overlay":
            try:
                os.unlink(os.path.join(self.base, "l", row[3]))
            except FileNotFoundError:
                pass
        target = self.layer_dir(layer_id) if self.driver == "vfs" else os.path.join(self.base, layer_id)
        _remove_tree(target)
        with self.db.write():
            self.db.remove_layer(layer_id)

    def chain(self, top: str) -> list[str]:
        """Layer IDs from top down to the base."""
        out = []
        cur: str | None = top
        while cur:
            row = self.db.layer(cur)
            if row is None:
                raise StorageError(f"layer not known: {cur}")
            out.append(cur)
            cur = row[1]
        return out

    # container layers ---------------------------------------------------------------------------

    def container_dir(self, cid: str) -> str:
        return os.path.join(self.base, cid) if self.driver == "overlay" else os.path.join(self.base, "dir", cid)

    def mountpoint(self, cid: str) -> str:
        if self.driver == "vfs":
            return self.container_dir(cid)
        return os.path.join(self.base, cid, "merged")

    def create_container_layer(self, cid: str, top_layer: str | None) -> None:
        d = self.container_dir(cid)
        if self.driver == "vfs":
            if top_layer:
                _copy_tree(self.layer_dir(top_layer), d)
            else:
                os.makedirs(d)
            return
        for sub in ("diff", "work", "merged"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        with open(os.path.join(d, "lower"), "w") as f:
            f.write(top_layer or "")

    def mount_container(self, cid: str, volatile: bool = False) -> str:
        """volatile: overlay's `volatile` option, which skips every sync to the upper dir (the
        unmount's included), for a container that is removed when it exits, as Podman's --rm."""
        target = self.mountpoint(cid)
        if self.driver == "vfs":
            return target
        d = self.container_dir(cid)
        with open(os.path.join(d, "lower")) as f:
            top = f.read().strip()
        # overlay and fuse-overlayfs both put their own device under the mount point: two stats,
        # not a read of the whole mountinfo
        if os.path.ismount(target):
            return target
        links = []
        for lid in self.chain(top) if top else []:
            row = self.db.layer(lid)
            links.append(f"l/{row[3]}")
        diff, work = os.path.join(d, "diff"), os.path.join(d, "work")
        if self.mount_program:
            from berth.storage import fuse_overlay

            lowers = [os.path.join(self.base, ln) for ln in links]
            if not lowers:
                lowers = [os.path.join(d, "empty")]
                os.makedirs(lowers[0], exist_ok=True)
            fuse_overlay.mount(self.mount_program, lowers, diff, work, target)
            return target
        if links:
            opts = f"lowerdir={':'.join(links)},upperdir={diff},workdir={work}"
        else:
            # overlay needs a lower dir; an empty image gets an empty one.
            empty = os.path.join(d, "empty")
            os.makedirs(empty, exist_ok=True)
            opts = f"lowerdir={empty},upperdir={diff},workdir={work}"
        if self.rootless:
            opts += ",userxattr"
        # a volatile mount leaves work/incompat/volatile behind, and the kernel refuses any later
        # mount of the same upper dir while it is there (it stands for "maybe not synced")
        marker = os.path.join(work, "work", "incompat", "volatile")
        if os.path.isdir(marker):
            import shutil

            shutil.rmtree(marker, ignore_errors=True)
        cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if links else -1
        try:
            if links:
                os.chdir(self.base)  # lowerdir paths are relative to the store
            try:
                m.mount("overlay", target, "overlay", 0, opts + (",volatile" if volatile else ""))
            except StorageError:
                if not volatile:
                    raise
                m.mount("overlay", target, "overlay", 0, opts)  # a kernel before 5.10 has no volatile
        finally:
            if cwd >= 0:
                os.fchdir(cwd)
                os.close(cwd)
        return target

    def unmount_container(self, cid: str) -> None:
        # umount(2) for both mounts: berth is root of the mount namespace holding a FUSE mount too
        if self.driver == "overlay":
            m.umount(self.mountpoint(cid))

    def remove_container_layer(self, cid: str) -> None:
        self.unmount_container(cid)
        _remove_tree(self.container_dir(cid))

    def container_changes_dir(self, cid: str) -> str:
        """Where the container's own changes live (its upper dir for overlay)."""
        if self.driver == "overlay":
            return os.path.join(self.container_dir(cid), "diff")
        return self.container_dir(cid)


def _copy_tree(src: str, dest: str) -> None:
    import subprocess

    r = subprocess.run(["cp", "-a", "--reflink=auto", src, dest], capture_output=True, text=True)
    if r.returncode != 0:
        raise StorageError(f"copying {src}: {r.stderr.strip()}")


def _remove_tree(path: str) -> None:
    """Rename first so a half-removed tree is never seen under its real name."""
    if not os.path.lexists(path):
        return
    from berth.util import reaper

    if reaper.tree(path):
        return
    trash = f"{path}.removing-{os.getpid()}"
    try:
        os.rename(path, trash)
    except OSError:
        trash = path
    import shutil  # only here: shutil imports re, bz2 and lzma (~4 ms)

    shutil.rmtree(trash, ignore_errors=True)
    if os.path.exists(trash):
        import subprocess

        subprocess.run(["rm", "-rf", "--one-file-system", trash], check=False)


def _sha256(data: bytes):
    import hashlib

    return hashlib.sha256(data)
