"""Checkpoint, restore and migration of running containers (CRIU through runc).

A checkpoint archive holds what Podman's holds: config.dump (the container's config), spec.dump
(the OCI spec it ran with), network.status, checkpoint/ (the CRIU images), rootfs-diff.tar (the
container's own layer; overlay whiteouts travel as they are), deleted.files, volumes/<name>.tar,
ctr.log and stats-dump.  It restores on a store that never saw the container, as long as the image
is there.  Archives are written by GNU tar and compressed in Python (zstd by default, as Podman);
they are read back through the same hardened layer extractor as image layers, since an archive
from another host is untrusted input.  Speed: see "Checkpoint, restore, migration" in
docs/ARCHITECTURE.md (what runs in parallel, what is left to a background process).
"""

from __future__ import annotations

import os
import time

from berth.engine.container import Container, new_state
from berth.engine.runtime import Runtime
from berth.engine.state import Status
from berth.errors import AlreadyExists, BerthError, FailedPrecondition, InvalidArgument, NoSuchImage
from berth.util import jsonc
from berth.util.record import field, record
from berth.util.spawn import Piped, spawn

TYPE_CHECKING = False  # typing costs ~3.5 ms to import: annotations only
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

ARCHIVE_FILES = ("config.dump", "spec.dump", "network.status", "checkpoint", "rootfs-diff.tar", "deleted.files",
                 "volumes", "ctr.log", "stats-dump")


@record
class CheckpointOptions:
    export: str = ""                 # file path, "-" for stdout, or "" to keep it in place
    compress: str = "zstd"
    leave_running: bool = False
    tcp_established: bool = False
    file_locks: bool = False
    ignore_rootfs: bool = False
    ignore_volumes: bool = False
    keep: bool = False


@record
class RestoreOptions:
    name: str = ""
    publish: list[str] = field(default_factory=list)
    tcp_established: bool = False
    tcp_close: bool = False
    file_locks: bool = False
    ignore_rootfs: bool = False
    ignore_volumes: bool = False
    ignore_static_ip: bool = False
    ignore_static_mac: bool = False
    keep: bool = False


def _image_dir(rt: Runtime, c: Container) -> str:
    return os.path.join(rt.bundle(c.id), "checkpoint")


def checkpoint(rt: Runtime, c: Container, opts: CheckpointOptions, out: BinaryIO | None = None) -> dict:
    """Dump the container with CRIU; returns timing stats.  With export, write the archive."""
    from berth.oci.checkpoint import CONFIG_NAME, checkpoint_argv, dump_log_tail, write_config
    from berth.oci.runtime import runtime_env

    if opts.compress not in ("zstd", "gzip", "none"):
        raise InvalidArgument(f"selected compression algorithm ({opts.compress!r}) not supported. "
                              "Please select one from: gzip, none, zstd")
    with rt.lock(c.id):
        c = rt.reload(c)
        if c.status is not Status.RUNNING:
            raise FailedPrecondition(f"container {c.id} is not running: container state improper")
        if c.config.get("auto_remove") and not opts.export:
            raise InvalidArgument("cannot checkpoint containers that have been started with '--rm' unless "
                                  "'--export' is used")
        bundle = rt.bundle(c.id)
        img = _image_dir(rt, c)
        if os.path.lexists(img):  # shutil (~2.5 ms to import) only when there is something to remove
            import shutil

            shutil.rmtree(img, ignore_errors=True)
        os.makedirs(img)
        t0 = time.monotonic()
        prefetch = _prefetch(opts)
        write_config(os.path.join(bundle, CONFIG_NAME), tcp=opts.tcp_established)
        argv = checkpoint_argv(rt.oci.path, rt.oci.state_root, c.id, img, bundle,
                               leave_running=opts.leave_running, tcp_established=opts.tcp_established,
                               file_locks=opts.file_locks)
        frozen = rt.oci.freeze(c.id)  # see OCIRuntime.freeze: CRIU's own wait is 100 ms steps
        # spawn, not subprocess: its import (threading, selectors, signal) is ~4 ms of the command
        try:
            runc = Piped(argv, env=runtime_env())
            _, err = runc.communicate()
        finally:
            rt.oci.thaw(frozen)  # after --leave-running or a failure CRIU leaves it frozen
        if runc.returncode != 0:
            import shutil

            shutil.rmtree(img, ignore_errors=True)
            detail = dump_log_tail(bundle) or err.strip().splitlines()[-1:]
            raise BerthError(f"{rt.oci.name}: checkpointing container {c.id}: {detail}")
        dump_time = time.monotonic() - t0
        prefetch.acquire()
        from berth.engine import lifecycle  # imported by the prefetch thread while runc worked
        c.state["checkpointed_at"] = time.time()
        # the addresses it had: restore asks for them again (an established TCP connection needs them)
        c.state["checkpoint_network"] = {"status": c.state.get("network_status"),
                                         "payload": c.state.get("network_payload")}
        c.state["checkpoint_opts"] = {"tcp_established": opts.tcp_established, "file_locks": opts.file_locks}
        unmount: _Unmount | None = None
        if not opts.leave_running:
            # the process is gone; conmon's exit command finds the container already settled
            c.status = Status.EXITED
            c.state.update(checkpointed=True, finished_at=time.time(), pid=0, exit_code=0)
            rt.save(c)
            if opts.export:
                unmount = _Unmount(rt, c.id)  # started by write_archive once its small files exist
            lifecycle.cleanup_storage(rt, c, unmount_rootfs=unmount is None)
        else:
            rt.save(c)
        stats = {"runtime_checkpoint_duration": int(dump_time * 1e6)}
        if opts.export:
            t1 = time.monotonic()
            try:
                write_archive(rt, c, opts, out, staged=unmount.start if unmount is not None else None)
            finally:
                if unmount is not None:
                    unmount.join(rt, c)
            stats["export_duration"] = int((time.monotonic() - t1) * 1e6)
            if not opts.keep:
                _discard(img)
        return stats


def _prefetch(opts: CheckpointOptions):
    """Import what follows the dump while runc and CRIU work (0.2 s at least, the GIL free in the
    wait): the compressor and the cleanup path cost ~20 ms of a checkpoint's critical path otherwise.
    A bare _thread, so that threading itself (~1 ms) is imported there too; returns a lock that is
    released when the imports are done."""
    import _thread

    names = ["berth.engine.lifecycle", "berth.engine.network", "berth.storage.apply", "json", "shutil",
             "threading"]
    if opts.export and opts.compress == "zstd":
        names.append("zstandard")
    done = _thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            for name in names:
                try:
                    __import__(name)
                except ImportError:  # the main thread's own import reports it
                    pass
        finally:
            done.release()

    _thread.start_new_thread(run, ())
    return done


class _Unmount:
    """The container layer's unmount, in a thread while the archive is written: unmounting an overlay
    syncs its whole upper filesystem, where the CRIU images just landed (0.1-0.2 s for 200 MB of
    memory, disk-bound), and the archive is CPU-bound.  The layer's upper dir, which the archive
    reads, is a plain directory either way.  It starts once the archive's small files are written:
    creating files on the filesystem being synced waits for the sync (~5 ms here)."""

    def __init__(self, rt: Runtime, cid: str) -> None:
        import threading

        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(rt, cid), name="unmount", daemon=True)
        self.started = False

    def start(self) -> None:
        if not self.started:
            self.started = True
            self.thread.start()

    def _run(self, rt: Runtime, cid: str) -> None:
        try:
            rt.layers.unmount_container(cid)
        except BaseException as e:  # noqa: BLE001 - handed to the caller by join
            self.error = e

    def join(self, rt: Runtime, c: Container) -> None:
        self.start()  # the archive failed before it started it: the unmount is still due
        self.thread.join()
        if self.error is not None:
            c.state["mounted"] = True  # still mounted: a later cleanup or rm unmounts it
            rt.save(c)
            raise self.error


def _deleted(upper: str) -> list[str]:
    """The paths the container deleted from its image: the overlay whiteouts in its layer."""
    deleted = []
    for dirpath, dirnames, filenames in os.walk(upper):
        for n in filenames + dirnames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == 0:  # overlay whiteout
                deleted.append("/" + os.path.relpath(p, upper))
    return deleted


def _volume_sources(rt: Runtime, c: Container) -> dict[str, str]:
    """Named volumes of the container: name -> data dir."""
    base = os.path.join(rt.root, "volumes")
    out = {}
    for m in c.config.get("mounts") or []:
        src = m.get("source", "")
        if src.startswith(base + "/") and src.endswith("/_data"):
            out[os.path.basename(os.path.dirname(src))] = src
    return out


def _mkdtemp(parent: str, prefix: str) -> str:
    """tempfile.mkdtemp without importing tempfile (~3 ms of every checkpoint and restore)."""
    while True:
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def write_archive(rt: Runtime, c: Container, opts: CheckpointOptions, out: BinaryIO | None,
                  staged: Callable[[], None] | None = None) -> None:
    """Write the archive to out (or opts.export); staged() is called once every member is in place
    but the outer tar stream is not yet written."""
    import shutil

    from berth.oci.checkpoint import CONFIG_NAME
    from berth.storage.apply import gnu_tar

    bundle = rt.bundle(c.id)
    stage = _mkdtemp(bundle, "ckpt-")
    try:
        # the layer and volume tars are processes of their own: they run while the rest is written
        tars: list[tuple[str, Piped]] = []
        if not opts.ignore_rootfs:
            upper = rt.layers.container_changes_dir(c.id)
            tars.append((upper, _tar_dir(upper, os.path.join(stage, "rootfs-diff.tar"))))
        if not opts.ignore_volumes:
            vols = _volume_sources(rt, c)
            if vols:
                os.makedirs(os.path.join(stage, "volumes"))
                for name, src in vols.items():
                    tars.append((src, _tar_dir(src, os.path.join(stage, "volumes", f"{name}.tar"))))
        doc = {"id": c.id, "name": c.name, "image_id": c.image_id, "created": c.created, "config": c.config}
        _dump(os.path.join(stage, "config.dump"), doc)
        with open(os.path.join(bundle, "config.json")) as f:
            spec = jsonc.load(f)
        ann = spec.get("annotations") or {}
        if ann.get("org.criu.config") == os.path.join(bundle, CONFIG_NAME):
            del ann["org.criu.config"]  # a path on this host only: whoever restores sets their own
        _dump(os.path.join(stage, "spec.dump"), spec)
        _dump(os.path.join(stage, "network.status"), c.state.get("checkpoint_network") or {})
        # links, not copies: tar -h below follows them (the CRIU images do not change any more)
        os.symlink(_image_dir(rt, c), os.path.join(stage, "checkpoint"))
        if os.path.exists(os.path.join(_image_dir(rt, c), "stats-dump")):
            os.symlink(os.path.join(_image_dir(rt, c), "stats-dump"), os.path.join(stage, "stats-dump"))
        if os.path.exists(os.path.join(bundle, "ctr.log")):
            # a copy: conmon may still append what the container wrote last
            shutil.copy(os.path.join(bundle, "ctr.log"), os.path.join(stage, "ctr.log"))
        if not opts.ignore_rootfs:
            _dump(os.path.join(stage, "deleted.files"), _deleted(rt.layers.container_changes_dir(c.id)))
        if staged is not None:
            staged()
        for src, tar in tars:
            _, err = tar.communicate()
            if tar.returncode != 0:
                raise BerthError(f"archiving {src}: {err.strip()}")
        names = [n for n in ARCHIVE_FILES if os.path.lexists(os.path.join(stage, n))]
        target = out if out is not None else open(opts.export, "wb")  # noqa: SIM115
        try:
            if opts.compress == "none" and _has_fd(out):
                # uncompressed into a file: GNU tar writes it itself, no copy through Python; -h
                # follows the checkpoint/ link to the CRIU images without copying them first
                if out is not None:
                    out.flush()
                argv = [gnu_tar(), "-C", stage, "-h", "--numeric-owner", "-cf", "-", *names]
                rc, err = _run_to(argv, target.fileno())
                if rc != 0:
                    raise BerthError(f"writing the checkpoint archive failed: {err}")
            else:
                from berth.storage import tarwrite

                # the page images go from the page cache into the compressor, not through a pipe
                try:
                    members = tarwrite.plan(stage, names)  # the checkpoint/ link followed, as tar -h
                except tarwrite.TarUnsupported as e:
                    raise BerthError(f"writing the checkpoint archive failed: {e}") from None
                with _compressor(target, opts.compress) as w:
                    tarwrite.write(members, w)
        finally:
            if out is None:
                target.close()
    finally:
        _discard(stage)


def _run_to(argv: list[str], stdout_fd: int) -> tuple[int, str]:
    """argv with stdout on stdout_fd; (exit code, what it said on stderr)."""
    r, w = os.pipe()
    try:
        pid = spawn(argv, stdio=(-1, stdout_fd, w))
    finally:
        os.close(w)
    with open(r, "rb") as f:
        err = f.read().decode(errors="replace").strip()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


def _has_fd(out: BinaryIO | None) -> bool:
    if out is None:
        return True
    try:
        out.fileno()
        return True
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both of the last two
        return False


def _dump(path: str, obj: object) -> None:
    with open(path, "w") as f:
        jsonc.dump(obj, f)


def _tar_dir(src: str, dest: str) -> Piped:
    """Start archiving src into dest; communicate() waits for it."""
    from berth.storage.apply import gnu_tar

    return Piped([gnu_tar(), "-C", src, "--numeric-owner", "--xattrs", "--xattrs-include=*", "-cf", dest, "."])


class _Deflate:
    """gzip (ISA-L's where installed, level 1) as a writer: write(), then close() on exit."""

    def __init__(self, dst: BinaryIO) -> None:
        try:
            from isal import isal_zlib as zlib  # type: ignore[import-not-found]
        except ImportError:
            import zlib
        self.dst = dst
        self.co = zlib.compressobj(1, zlib.DEFLATED, 31)

    def write(self, data) -> None:
        self.dst.write(self.co.compress(data))

    def __enter__(self) -> _Deflate:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.dst.write(self.co.flush())
            self.dst.flush()


class _Plain:
    def __init__(self, dst: BinaryIO) -> None:
        self.write = dst.write
        self.dst = dst

    def __enter__(self) -> _Plain:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None:
            self.dst.flush()


def _compressor(dst: BinaryIO, algo: str):
    """A writer that compresses into dst with algo (zstd level 3 as Podman, gzip, none); use it
    as a context manager: leaving it finishes the stream."""
    if algo == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3, threads=-1).stream_writer(dst, closefd=False)
    if algo == "gzip":
        return _Deflate(dst)
    return _Plain(dst)


# restore --------------------------------------------------------------------------------------------


def restore_in_place(rt: Runtime, c: Container, opts: RestoreOptions) -> Container:
    with rt.lock(c.id):
        c = rt.reload(c)
        if c.status.is_alive():
            raise FailedPrecondition(f"container {c.id} is running: cannot restore a running container")
        if not os.path.exists(os.path.join(_image_dir(rt, c), "inventory.img")):
            raise FailedPrecondition(f"container {c.id} is not checkpointed: cannot restore it")
        return _restore(rt, c, opts, old_status=(c.state.get("checkpoint_network") or {}).get("status"))


def import_and_restore(rt: Runtime, src: BinaryIO, opts: RestoreOptions) -> Container:
    """Restore from an archive, on this store or one that never saw the container."""
    import shutil

    from berth.storage.apply import apply_layer

    os.makedirs(os.path.join(rt.root, "containers"), exist_ok=True)
    stage = _mkdtemp(os.path.join(rt.root, "containers"), "import-")
    created: Container | None = None
    try:
        try:
            apply_layer(src, stage, digest=False)
        except BerthError as e:
            raise InvalidArgument(f"failed to read the checkpoint archive: {e}") from None
        try:
            with open(os.path.join(stage, "config.dump")) as f:
                doc = jsonc.load(f)
            cfg = doc["config"]
        except (OSError, ValueError, KeyError):
            raise InvalidArgument("failed to read the checkpoint archive: config.dump is missing or corrupt") \
                from None
        if not os.path.exists(os.path.join(stage, "checkpoint", "inventory.img")):
            raise InvalidArgument("failed to read the checkpoint archive: it holds no checkpoint images")
        created = _recreate(rt, doc, opts)
        bundle = rt.bundle(created.id)
        os.rename(os.path.join(stage, "checkpoint"), os.path.join(bundle, "checkpoint"))
        if os.path.exists(os.path.join(stage, "ctr.log")):
            shutil.copy(os.path.join(stage, "ctr.log"), os.path.join(bundle, "ctr.log"))
        if not opts.ignore_rootfs and os.path.exists(os.path.join(stage, "rootfs-diff.tar")):
            with open(os.path.join(stage, "rootfs-diff.tar"), "rb") as f:
                apply_layer(f, rt.layers.container_changes_dir(created.id), digest=False)
        if not opts.ignore_volumes and os.path.isdir(os.path.join(stage, "volumes")):
            for tarname in os.listdir(os.path.join(stage, "volumes")):
                name = tarname.removesuffix(".tar")
                dest = os.path.join(rt.root, "volumes", name, "_data")
                os.makedirs(dest, exist_ok=True)
                with open(os.path.join(stage, "volumes", tarname), "rb") as f:
                    apply_layer(f, dest, digest=False)
        status = None
        try:
            with open(os.path.join(stage, "network.status")) as f:
                status = jsonc.load(f).get("status")
        except (OSError, ValueError):
            pass
        del cfg
        return _restore(rt, created, opts, old_status=status)
    except BaseException:
        if created is not None:
            from berth.engine import lifecycle

            try:
                lifecycle.remove(rt, created, force=True)
            except BerthError:
                pass
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _recreate(rt: Runtime, doc: dict, opts: RestoreOptions) -> Container:
    cfg = dict(doc["config"])
    image_id = doc["image_id"]
    if rt.db.image_row(image_id) is None:
        iid = rt.images.resolve_id(cfg.get("image_name", "")) if cfg.get("image_name") else None
        if iid is None:
            raise NoSuchImage(f"image {cfg.get('image_name') or image_id} needed by the checkpoint is not known on "
                              "this host: pull or load it first")
        image_id = iid
    cid, name = doc["id"], doc["name"]
    if opts.name:
        from berth.util.ids import new_id

        cid, name = new_id(), opts.name
    elif rt.db.container_row(cid):
        raise AlreadyExists(f"container with ID {cid[:12]} already exists: use --name to restore a copy")
    if rt.db.name_taken(name):
        raise AlreadyExists(f"the container name \"{name}\" is already in use by {rt.db.name_taken(name)}. "
                            "You have to remove that container to be able to reuse that name: that name is "
                            "already in use")
    cfg.update(id=cid, name=name, image_id=image_id)
    if opts.name and cfg.get("hostname") == doc["id"][:12]:
        cfg["hostname"] = cid[:12]
    img = rt.images.get(image_id)
    os.makedirs(rt.bundle(cid), exist_ok=True)
    rt.layers.create_container_layer(cid, img.top_layer)
    state = new_state()
    with rt.db.write():
        rt.db.add_container(cid, name, image_id, doc.get("created") or time.time(), cfg, state)
    return Container(cid, name, image_id, doc.get("created") or time.time(), cfg, state)


def _restore(rt: Runtime, c: Container, opts: RestoreOptions, old_status: dict | None) -> Container:
    from berth.engine import lifecycle
    from berth.oci.checkpoint import restore_runtime_opts

    copy = bool(opts.name)
    if opts.publish:
        from berth.network.ports import parse_publish  # here: ipaddress and socket cost ~4 ms

        ports: list[dict] = []
        for p in opts.publish:
            ports += parse_publish(p)
        c.config["ports"] = ports
    # same addresses as before (needed for --tcp-established), unless asked otherwise or a copy
    nets = {k: dict(v) for k, v in (c.config.get("networks") or {}).items()}
    for name, st in (old_status or {}).items():
        if name not in nets:
            continue
        for iface in (st.get("interfaces") or {}).values():
            sub = (iface.get("subnets") or [{}])[0]
            if sub.get("ipnet") and not (opts.ignore_static_ip or copy):
                nets[name]["static_ips"] = [sub["ipnet"].split("/")[0]]
            if iface.get("mac_address") and not (opts.ignore_static_mac or copy):
                nets[name]["static_mac"] = iface["mac_address"]
    saved_nets = c.config.get("networks")
    c.config["networks"] = nets
    ropts = restore_runtime_opts(opts.tcp_established, opts.file_locks)
    if opts.tcp_close:
        ropts.append("--tcp-close")
    try:
        lifecycle.init(rt, c, restore_from=_image_dir(rt, c), runtime_opts=ropts)
    finally:
        c.config["networks"] = saved_nets
    c.status = Status.RUNNING
    c.state.update(started_at=time.time(), finished_at=0.0, exit_code=0, checkpointed=False,
                   restored_at=time.time())
    rt.save(c)
    if not opts.keep:
        _discard(_image_dir(rt, c))
    return c


def _discard(path: str) -> None:
    """Remove a CRIU image dir without making the command wait for it: unlinking 200 MB of pages
    that were just written takes 50-150 ms (their page cache is freed page by page), and nothing
    needs them gone.  The dir is renamed first, so its name is free at once (a new checkpoint of
    the container can go there) and a half-removed tree is never seen under it; then a detached
    grandchild, which keeps none of our descriptors (no stdout of a caller waiting for EOF, no
    container lock), removes it.  Should that never happen, it goes with the container's bundle."""
    from berth.util import reaper

    if reaper.tree(path):  # the CLI: one child after the answer, not waited for
        return
    import shutil

    trash = f"{path}.removing-{os.urandom(4).hex()}"
    try:
        os.rename(path, trash)
    except FileNotFoundError:
        return
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return
    try:
        pid = os.fork()
    except OSError:
        shutil.rmtree(trash, ignore_errors=True)
        return
    if pid == 0:  # pragma: no cover - the child leaves with os._exit
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            if os.fork() == 0:  # the grandchild is init's: never a zombie of a long-lived caller
                shutil.rmtree(trash, ignore_errors=True)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
