"""Runtime: the one entry object of the engine.

Every front end (CLI, API, Python client) builds a Runtime from EngineOptions and calls its
methods.  Heavier parts (layer store, OCI runtime probe, containers.conf) are created on first
use, so `ps` pays only for SQLite.
"""

from __future__ import annotations

import os
import time

from berth.config import ContainersConf, EngineOptions, load_containers_conf
from berth.engine.container import Container
from berth.engine.db import Database
from berth.engine.locks import container_lock
from berth.engine.state import Status
from berth.errors import InvalidArgument, NoSuchContainer
from berth.util.record import cached_property


class Runtime:
    def __init__(self, opts: EngineOptions | None = None) -> None:
        self.opts = opts or EngineOptions()
        self.root = self.opts.root
        self.runroot = self.opts.runroot
        self.rootless = self.opts.rootless
        self.exit_dir = os.path.join(self.runroot, "exits")
        self.db = Database(os.path.join(self.root, "db.sql"))
        self._check_boot()

    # lazily built parts ------------------------------------------------------------------------

    @cached_property
    def conf(self) -> ContainersConf:
        return load_containers_conf(self.runroot)

    @cached_property
    def layers(self):
        from berth.storage.layers import LayerStore, parse_storage_opts

        return LayerStore(self.root, self.db, self.opts.storage_driver, rootless=self.rootless,
                          mount_program=parse_storage_opts(self.opts.storage_opts))

    @cached_property
    def images(self):
        from berth.image.store import ImageStore

        return ImageStore(self.root, self.db, self.layers)

    @cached_property
    def oci(self):
        from berth.oci.runtime import pick_runtime

        return pick_runtime(self.opts.runtime, self.conf.runtime, self.runroot)

    # paths --------------------------------------------------------------------------------------

    def bundle(self, cid: str) -> str:
        return os.path.join(self.root, "containers", cid, "userdata")

    def rundir(self, cid: str) -> str:
        return os.path.join(self.runroot, "containers", cid)

    def exit_file(self, cid: str) -> str:
        return os.path.join(self.exit_dir, cid)

    def lock(self, cid: str):
        return container_lock(self.runroot, cid)

    # boot detection -----------------------------------------------------------------------------

    def _check_boot(self) -> None:
        """An empty runroot means the host rebooted (tmpfs cleared): reset what was running."""
        alive = os.path.join(self.runroot, "alive")
        if os.path.exists(alive):
            return
        os.makedirs(self.exit_dir, exist_ok=True)
        from berth.engine.locks import locked

        with locked(os.path.join(self.runroot, "alive.lck")):
            if os.path.exists(alive):
                return
            rows = self.db.container_rows()
            if rows:
                from berth.storage import mount as m

                for row in rows:
                    c = Container.from_row(row)
                    if c.status in (Status.RUNNING, Status.PAUSED, Status.STOPPED):
                        c.status = Status.EXITED
                        c.state.update(pid=0, conmon_pid=0, finished_at=c.state.get("finished_at") or time.time())
                    c.state.update(mounted=False, initialized=False, netns="", network_payload=None,
                                   network_status=None, health_pid=0)
                    for sub in ("overlay", "vfs/dir"):
                        m.umount(os.path.join(self.root, "storage", sub, c.id, "merged"), detach=True)
                    with self.db.write():
                        self.db.save_state(c.id, c.state)
                from berth.engine.db import OperationalError

                try:  # addresses die with the namespaces a reboot took away
                    with self.db.write():
                        self.db.conn.execute("DELETE FROM ip_allocations")
                except OperationalError:
                    pass
            with open(alive, "w"):
                pass

    # lookup -------------------------------------------------------------------------------------

    def lookup(self, ref: str) -> Container:
        ids = self.db.find_container_ids(ref)
        if not ids:
            raise NoSuchContainer(f"no container with name or ID \"{ref}\" found: no such container")
        if len(ids) > 1:
            raise InvalidArgument(f"more than one result for container \"{ref}\": ambiguous ID prefix")
        row = self.db.container_row(ids[0])
        if row is None:
            raise NoSuchContainer(f"no container with name or ID \"{ref}\" found: no such container")
        return self.sync(Container.from_row(row))

    def reload(self, c: Container) -> Container:
        row = self.db.container_row(c.id)
        if row is None:
            raise NoSuchContainer(f"no container with name or ID \"{c.id}\" found: no such container")
        return self.sync(Container.from_row(row))

    def containers(self) -> list[Container]:
        return [self.sync(Container.from_row(r)) for r in self.db.container_rows()]

    def latest(self) -> Container:
        rows = self.db.container_rows()
        if not rows:
            raise NoSuchContainer("no containers to act on with --latest: no such container")
        return self.sync(Container.from_row(rows[-1]))

    def sync(self, c: Container) -> Container:
        """Running -> Stopped when conmon has written the exit file (there is no daemon to tell us)."""
        if not c.status.is_alive():
            return c
        path = self.exit_file(c.id)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            if _pid_alive(c.state.get("conmon_pid", 0)) or _pid_alive(c.state.get("pid", 0)):
                return c
            # conmon is gone without an exit file (killed): the container is gone too.
            if os.path.exists(path):
                return self.sync(c)
            c.status = Status.STOPPED
            c.state.update(exit_code=c.state.get("exit_code") or 137, finished_at=time.time(), pid=0)
            self._save(c)
            return c
        try:
            with open(path) as f:
                code = int(f.read().strip() or "0")
        except (OSError, ValueError):
            code = -1
        c.status = Status.STOPPED
        c.state.update(exit_code=code, finished_at=st.st_mtime, pid=0)
        c.state["oom_killed"] = os.path.exists(os.path.join(self.runroot, "persist", c.id, "oom"))
        self._save(c)
        return c

    def _save(self, c: Container) -> None:
        with self.db.write():
            self.db.save_state(c.id, c.state)

    def save(self, c: Container) -> None:
        self._save(c)


def _pid_alive(pid: int) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
