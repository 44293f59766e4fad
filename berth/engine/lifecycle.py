"""Start, stop, kill, cleanup, remove, wait: the container state machine's verbs.

Each verb takes the container lock, refreshes the state and checks the transition it needs
(youki's can_* guards).  No lock is held while waiting on a user process.
"""

from __future__ import annotations

import _signal as signal  # the C module: signal.py's enums cost ~0.5 ms at every start
import os
import time

from berth.engine.container import Container
from berth.engine.runtime import Runtime
from berth.engine.state import Status
from berth.errors import BerthError, FailedPrecondition, NoSuchContainer
from berth.util import jsonc

TYPE_CHECKING = False  # collections.abc imports collections (~2 ms); annotations only
if TYPE_CHECKING:
    from collections.abc import Callable


def _write(path: str, data: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def _etc_files(rt: Runtime, c: Container) -> tuple[str, str, str, str]:
    from berth.engine.network import hosts_and_resolv

    rd = rt.rundir(c.id)
    os.makedirs(rd, exist_ok=True)
    cfg = c.config
    if cfg.get("network", "").startswith("container:"):
        # joined containers share the owner's view of the network
        other = rt.lookup(cfg["network"].split(":", 1)[1])
        ord_ = rt.rundir(other.id)
        hosts_path, resolv_path = os.path.join(ord_, "hosts"), os.path.join(ord_, "resolv.conf")
    else:
        hosts, resolv = hosts_and_resolv(rt, c)
        hosts_path, resolv_path = os.path.join(rd, "hosts"), os.path.join(rd, "resolv.conf")
        _write(hosts_path, hosts)
        _write(resolv_path, resolv)
    paths = (hosts_path if not cfg.get("no_hosts") else "", os.path.join(rd, "hostname"), resolv_path,
             os.path.join(rd, ".containerenv"))
    _write(paths[1], cfg["hostname"] + "\n")
    _write(paths[3], f'engine="berth-{_version()}"\nname="{c.name}"\nid="{c.id}"\n'
                     f'image="{cfg.get("image_name", "")}"\nimageid="{c.image_id}"\n'
                     f'rootless={1 if rt.rootless else 0}\n')
    return paths


def _refresh_etc_files(rt: Runtime, c: Container, hosts_path: str, resolv_path: str) -> None:
    """Once netavark has answered: its DNS servers and search domains go into resolv.conf (and the
    address into hosts).  Rewritten in place, not replaced: the runtime has bind-mounted these
    inodes already, and the container's process has not started yet."""
    if not c.state.get("network_status") or c.config.get("network", "").startswith("container:"):
        return
    from berth.engine.network import hosts_and_resolv

    hosts, resolv = hosts_and_resolv(rt, c)
    for path, data in ((hosts_path, hosts), (resolv_path, resolv)):
        if not path:
            continue
        with open(path, "r+") as f:
            if f.read() != data:
                f.seek(0)
                f.write(data)
                f.truncate()


def _version() -> str:
    from berth import __version__

    return __version__


def _init_path(rt: Runtime) -> str:
    for p in (rt.conf.init_path, "/usr/bin/catatonit", "/usr/libexec/podman/catatonit", "/usr/bin/tini-static",
              "/usr/bin/tini"):
        if p and os.access(p, os.X_OK):
            return p
    return ""


# conmon's exit command.  A foreground `run`/`start -a` cleans up itself the moment the exit file
# appears, so a second Python process doing the same work would only compete for the CPU; the CLI
# leaves its pid in <rundir>/attached and removes the file once it has cleaned up.  This shell
# (~1 ms) waits while that CLI lives and calls `berth container cleanup` only when no CLI is there
# to do it, or when the CLI died before it could (its file is left behind): cleanup is idempotent
# under the container lock, so a rare double call costs time, never correctness.
_EXIT_SH = ('m="$1"; shift; '
            'if [ -f "$m" ]; then '
            'while read -r p 2>/dev/null <"$m" && kill -0 "$p" 2>/dev/null; do sleep 0.02; done; '
            '[ -f "$m" ] || exit 0; '
            'fi; exec "$@"')


def exit_command(rt: Runtime, cid: str) -> list[str]:
    return ["/bin/sh", "-c", _EXIT_SH, "berth-exit", attached_marker(rt, cid),
            *berth_command(), *rt.opts.global_args(), "container", "cleanup", cid]


def attached_marker(rt: Runtime, cid: str) -> str:
    return os.path.join(rt.rundir(cid), "attached")


def mark_attached(rt: Runtime, cid: str) -> None:
    """Tell the exit command that this process will clean up after the container itself."""
    os.makedirs(rt.rundir(cid), exist_ok=True)
    with open(attached_marker(rt, cid), "w") as f:
        f.write(f"{os.getpid()}\n")


def unmark_attached(rt: Runtime, cid: str) -> None:
    try:
        os.unlink(attached_marker(rt, cid))
    except FileNotFoundError:
        pass


def berth_command() -> list[str]:
    """How conmon and schedulers call berth back: the venv's entry script if there is one (no runpy,
    ~5 ms less per exit), else this interpreter with -m."""
    import sys

    script = os.path.join(os.path.dirname(sys.executable), "berth")
    if os.access(script, os.X_OK):
        return [script]
    return [sys.executable, "-m", "berth"]


def init(rt: Runtime, c: Container, restore_from: str = "", runtime_opts: list[str] | None = None) -> None:
    """Mount the rootfs, write config.json and have conmon run `runtime create` (state Created),
    or `runtime restore` from a checkpoint image dir (then the container runs when this returns)."""
    from berth.config import SECCOMP_PATHS
    from berth.oci import conmon
    from berth.oci.spec import CRIU_CONFIG_NAME, SpecInputs, build_spec

    if c.status is Status.STOPPED:
        cleanup_storage(rt, c)
    from berth.engine import network

    socks: list = []
    finish_network = None
    pending = None
    try:
        # a restore needs its addresses before CRIU runs (TCP connections); otherwise netavark
        # works while berth mounts the rootfs and conmon and the runtime create the container: it
        # is the longest step of a start on a bridge (~25 iptables runs), so it goes first
        netns_path, socks, finish_network = network.setup(rt, c, background=not restore_from)
        bundle = rt.bundle(c.id)
        rd = rt.rundir(c.id)
        for stale in (rt.exit_file(c.id), os.path.join(rd, "oci-log"), os.path.join(rd, "pidfile")):
            try:
                os.unlink(stale)
            except FileNotFoundError:
                pass
        persist = os.path.join(rt.runroot, "persist", c.id)
        if os.path.isdir(persist):  # a restart's: a new container has none (and no shutil to import)
            import shutil

            shutil.rmtree(persist, ignore_errors=True)
        os.makedirs(persist, exist_ok=True)
        if rt.oci.has(c.id):
            rt.oci.delete(c.id)
        notify = c.config.get("sdnotify") == "container" and bool(os.environ.get("NOTIFY_SOCKET"))
        os.makedirs(os.path.join(bundle, "notify") if notify else bundle, exist_ok=True)
        launch = conmon.ConmonLaunch(
            cid=c.id, name=c.name, bundle=bundle, pidfile=os.path.join(rd, "pidfile"),
            conmon_pidfile=os.path.join(rd, "conmon.pid"), exit_dir=rt.exit_dir, persist_dir=persist,
            log_driver=c.config.get("log_driver", "k8s-file"), log_path=os.path.join(bundle, "ctr.log"),
            oci_log=os.path.join(rd, "oci-log"), tty=bool(c.config.get("tty")),
            stdin=bool(c.config.get("interactive")), exit_command=exit_command(rt, c.id),
            log_level="debug" if rt.opts.log_level == "debug" else "error",
            sdnotify_socket=os.environ["NOTIFY_SOCKET"] if notify else "",
            pass_fds=[s.fileno() for s in socks], restore_from=restore_from,
            warm_up=os.path.exists(attached_marker(rt, c.id)),
            runtime_opts=list(runtime_opts or []))  # conmon holds the published ports while the container runs
        # conmon starts now and waits for its start byte while the rootfs and config.json are made
        pending = conmon.begin(conmon.find_conmon(), rt.oci, launch)
        rootfs = rt.layers.mount_container(c.id, volatile=bool(c.config.get("auto_remove")))
        c.state["mounted"] = True
        if c.config.get("uid_mappings") and not c.state.get("rootfs_shifted"):
            from berth.engine.idmap import shift_rootfs

            shift_rootfs(rootfs, c.config["uid_mappings"], c.config["gid_mappings"])
            c.state["rootfs_shifted"] = True
        if c.config.get("volume_mounts"):
            from berth.engine.volmounts import prepare_for_start

            prepare_for_start(rt, c, rootfs)  # volume mounts, copy-up from the image, chown
        hosts, hostname, resolv, cenv = _etc_files(rt, c)
        seccomp = next((p for p in SECCOMP_PATHS if os.path.exists(p)), "")
        inputs = SpecInputs(rootfs=rootfs, hosts_path=hosts, hostname_path=hostname, resolv_path=resolv,
                            containerenv_path=cenv, default_caps=rt.conf.default_capabilities,
                            default_ulimits=rt.conf.default_ulimits, default_sysctls=rt.conf.default_sysctls,
                            seccomp_path=seccomp, init_path=_init_path(rt) if c.config.get("init") else "",
                            cgroups=not rt.rootless, rootless=rt.rootless, netns_path=netns_path,
                            uid_mappings=c.config.get("uid_mappings") or [],
                            gid_mappings=c.config.get("gid_mappings") or [])
        spec = build_spec(c.config, inputs)
        if not rt.rootless:
            # CRIU's settings for a later checkpoint and this restore: berth writes the file each
            # time (berth/oci/checkpoint.py write_config); a user's own annotation wins
            criu_conf = os.path.join(bundle, CRIU_CONFIG_NAME)
            ann = spec.setdefault("annotations", {})
            ann.setdefault("org.criu.config", criu_conf)
            if restore_from and ann["org.criu.config"] == criu_conf:
                from berth.oci.checkpoint import write_config

                write_config(criu_conf, tcp=bool({"--tcp-established", "--tcp-close"} & set(runtime_opts or [])))
        if notify:
            # conmon creates <bundle>/notify/notify.sock and relays what the container says to systemd
            spec["mounts"].append({"destination": "/run/notify", "type": "bind",
                                   "source": os.path.join(bundle, "notify"), "options": ["bind", "rprivate"]})
            spec["process"]["env"].append("NOTIFY_SOCKET=/run/notify/notify.sock")
        with open(os.path.join(bundle, "config.json"), "w") as f:
            f.write(jsonc.dumps(spec))
        launching, pending = pending, None
        pid, conmon_pid = launching.finish(while_waiting=_warm_up if launch.warm_up else None)
        finish_network()
        _refresh_etc_files(rt, c, hosts, resolv)
    except BaseException as e:
        if pending is not None:
            pending.abort()
        if finish_network is not None:
            try:
                finish_network()
            except BaseException:  # the first error is the one to report
                pass
        rt.oci.delete(c.id)
        network.teardown(rt, c)
        rt.layers.unmount_container(c.id)
        c.state["mounted"] = False
        c.state["error"] = str(e)
        rt.save(c)
        raise
    finally:
        for sock in socks:
            sock.close()
    c.state.update(pid=pid, conmon_pid=conmon_pid, error="", stopped_by_user=False)
    c.status = Status.CREATED
    c.state["initialized"] = True
    rt.save(c)


def _warm_up() -> None:
    """For a CLI that waits for its container (an attached run): import what streaming its output,
    its exit and its removal will need while conmon and runc create it.  Not for a detached start:
    there it would only take CPU from runc and netavark on a small machine."""
    from berth.engine import attach  # noqa: F401
    from berth.util import reaper  # noqa: F401


def start(rt: Runtime, ref: Container | str, before_start: Callable[[Container], None] | None = None) -> Container:
    """Create (if needed) and start; before_start runs between create and start (attach there)."""
    c = ref if isinstance(ref, Container) else rt.lookup(ref)
    with rt.lock(c.id):
        c = rt.reload(c)
        _start_unless_alive_locked(rt, c, before_start)
    return c


def _start_unless_alive_locked(rt: Runtime, c: Container,
                               before_start: Callable[[Container], None] | None = None) -> None:
    if c.status.is_alive():
        return
    if not c.status.can_start():
        raise FailedPrecondition(f"container {c.id} in state {c.status.value} cannot be started")
    _start_locked(rt, c, before_start)


def _start_locked(rt: Runtime, c: Container, before_start: Callable[[Container], None] | None = None) -> None:
    if not (c.status is Status.CREATED and c.state.get("initialized")):
        init(rt, c)
    if before_start:
        before_start(c)
    try:
        rt.oci.start(c.id)
    except BerthError as e:
        cleanup_storage(rt, c)
        c.state["error"] = str(e)
        c.state["initialized"] = False
        c.status = Status.EXITED
        rt.save(c)
        raise
    c.status = Status.RUNNING
    c.state["started_at"] = time.time()
    c.state["finished_at"] = 0.0
    c.state["exit_code"] = 0
    if c.config.get("healthcheck"):
        from berth.engine import health

        c.state["health"] = health.initial_state()
        c.state["health_pid"] = health.start_scheduler(rt, c)
    rt.save(c)
    if c.config.get("sdnotify") == "conmon":
        sd_notify(f"MAINPID={c.state.get('conmon_pid', 0)}\nREADY=1")


def sd_notify(message: str) -> None:
    """Tell systemd (NOTIFY_SOCKET) the unit's state; nothing to do outside a notify unit."""
    import socket

    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return
    if path.startswith("@"):
        path = "\0" + path[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(path)
        s.send(message.encode())
    except OSError:
        pass
    finally:
        s.close()


def cleanup_storage(rt: Runtime, c: Container, unmount_rootfs: bool = True) -> None:
    """Unmount and delete the runtime's record: Stopped -> Exited.  unmount_rootfs=False: the caller
    unmounts the container's layer itself (checkpoint does it while it writes the archive)."""
    if c.state.get("health_pid"):
        from berth.engine.health import stop_scheduler

        stop_scheduler(c)
    if rt.oci.has(c.id):
        rt.oci.delete(c.id)
    if c.state.get("netns"):
        from berth.engine import network

        network.teardown(rt, c)
    if unmount_rootfs:
        rt.layers.unmount_container(c.id)
    if c.config.get("volumes"):
        from berth.engine.volmounts import release_all

        release_all(rt, c)  # a tmpfs/device volume is unmounted when its last container stops
    c.state["mounted"] = False
    c.state["initialized"] = False
    if c.status in (Status.STOPPED, Status.RUNNING, Status.PAUSED):
        c.status = Status.EXITED
    rt.save(c)


def cleanup(rt: Runtime, ref: str, remove_after: bool = False) -> None:
    """conmon's exit command: tear down after the container's process ended."""
    try:
        c = rt.lookup(ref)
    except NoSuchContainer:
        return
    with rt.lock(c.id):
        try:
            c = rt.reload(c)
        except NoSuchContainer:
            return
        if c.status.is_alive():
            return
        was_stopped = c.status is Status.STOPPED
        restart = was_stopped and should_restart(c)
        if not restart and (remove_after or c.config.get("auto_remove")) and not c.state.get("netns"):
            # exit record, teardown and removal in one write transaction, not four (~0.7 ms); not with
            # a netns, whose netavark teardown (~30 ms) would hold every other writer of the store
            with rt.db.write():
                _teardown(rt, c, was_stopped)
                if c.status is Status.EXITED:
                    _remove_locked(rt, c, volumes=True)
            return
        _teardown(rt, c, was_stopped)
        if restart:
            # the restart happens here, in conmon's exit command: there is no daemon to do it
            c.state["restart_count"] = c.state.get("restart_count", 0) + 1
            rt.save(c)
            _start_locked(rt, c)
            return
        if (remove_after or c.config.get("auto_remove")) and c.status is Status.EXITED:
            _remove_locked(rt, c, volumes=True)  # --rm takes the anonymous volumes along, as Podman's


def _teardown(rt: Runtime, c: Container, was_stopped: bool) -> None:
    if was_stopped or c.state.get("mounted") or c.state.get("initialized"):
        _record_exit(rt, c)
        cleanup_storage(rt, c)


def should_restart(c: Container) -> bool:
    """Podman's shouldRestart: the policy, the exit code, the retry count, and never after a stop
    (or a checkpoint, which ends the process on purpose)."""
    if c.state.get("stopped_by_user") or c.state.get("checkpointed"):
        return False
    policy = c.config.get("restart_policy") or "no"
    if policy in ("always", "unless-stopped"):
        return True
    if policy == "on-failure" and c.state.get("exit_code", 0) != 0:
        retries = c.config.get("restart_retries", 0)
        return retries == 0 or c.state.get("restart_count", 0) < retries
    return False


def should_start_on_boot(c: Container) -> bool:
    policy = c.config.get("restart_policy") or "no"
    return policy == "always" or (policy == "unless-stopped" and not c.state.get("stopped_by_user"))


def _record_exit(rt: Runtime, c: Container) -> None:
    with rt.db.write():
        rt.db.record_exit(c.id, c.name, c.state.get("finished_at") or time.time(), c.state.get("exit_code", 0))


def stop(rt: Runtime, c: Container, timeout: int | None = None) -> Container:
    with rt.lock(c.id):
        c = rt.reload(c)
        if not _mark_stopping(rt, c):
            return c
    _signal_and_wait(rt, c, timeout)
    with rt.lock(c.id):
        return _after_stop_locked(rt, c)


def _mark_stopping(rt: Runtime, c: Container) -> bool:
    """Under the container's lock: False if there is nothing to stop."""
    if not c.status.can_stop():
        if c.status in (Status.CREATED, Status.STOPPED, Status.EXITED):
            return False
        raise FailedPrecondition(f"can only stop running containers: {c.id} is in state {c.status.value}")
    c.state["stopped_by_user"] = True
    rt.save(c)
    return True


def _signal_and_wait(rt: Runtime, c: Container, timeout: int | None) -> None:
    """The stop signal, then SIGKILL after the timeout; returns once conmon has seen the exit."""
    t = c.config.get("stop_timeout", 10) if timeout is None else timeout
    sig = int(c.config.get("stop_signal") or signal.SIGTERM)
    if c.status is Status.PAUSED:
        rt.oci.resume(c.id)
    if t > 0 and rt.oci.kill(c.id, sig):
        if _wait_exit(rt, c, t):
            return
        import signal as signals
        import sys

        sys.stderr.write(f'time="{time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}" level=warning '
                         f'msg="StopSignal {signals.Signals(sig).name if sig < 32 else sig} failed to stop container '
                         f'{c.name} in {t} seconds, resorting to SIGKILL"\n')
    rt.oci.kill(c.id, signal.SIGKILL, all_procs=False)
    _wait_exit(rt, c, None)


def _after_stop_locked(rt: Runtime, c: Container) -> Container:
    c = rt.reload(c)
    if c.status is Status.STOPPED:
        _record_exit(rt, c)
        cleanup_storage(rt, c)
    return c


def _wait_exit(rt: Runtime, c: Container, timeout: float | None) -> bool:
    """Wait for conmon's exit file; polling is cheap and needs no daemon."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.001
    path = rt.exit_file(c.id)
    while True:
        if os.path.exists(path):
            return True
        if not _alive(c):
            time.sleep(0.005)
            return True
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.05)


def _alive(c: Container) -> bool:
    from berth.engine.runtime import _pid_alive

    return _pid_alive(c.state.get("conmon_pid", 0)) or _pid_alive(c.state.get("pid", 0))


def kill(rt: Runtime, c: Container, sig: int) -> Container:
    c = rt.reload(c)
    if not c.status.can_kill():
        raise FailedPrecondition(f"can only kill running containers. {c.id} is in state {c.shown_state()}: "
                                 "container state improper")
    rt.oci.kill(c.id, sig)
    return c


def wait(rt: Runtime, c: Container, conditions: tuple[str, ...] = ("stopped", "exited")) -> int:
    """Block until the container is in one of the conditions; returns its exit code."""
    delay = 0.002
    while True:
        try:
            c = rt.reload(c)
        except NoSuchContainer:
            code = rt.db.exit_code_of(c.id)
            if code is None:
                raise
            return code
        state = c.shown_state()
        if state in conditions or ("stopped" in conditions and state == "exited"):
            if c.status is Status.STOPPED:
                return c.state.get("exit_code", 0)
            return c.state.get("exit_code", 0)
        if "running" in conditions and state == "running":
            return 0
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


def remove(rt: Runtime, c: Container, force: bool = False, volumes: bool = False) -> None:
    c = rt.reload(c)
    if c.status.is_alive():
        if not force:
            raise FailedPrecondition(
                f"cannot remove container {c.id} as it is {c.status.value} - running or paused containers "
                "cannot be removed without force: container state improper")
        stop(rt, c, timeout=0)
    with rt.lock(c.id):
        try:
            c = rt.reload(c)
        except NoSuchContainer:
            return
        if c.status.is_alive():
            raise FailedPrecondition(f"container {c.id} is running again: container state improper")
        if c.status is Status.STOPPED:
            _record_exit(rt, c)
        _remove_locked(rt, c, volumes)


def _remove_locked(rt: Runtime, c: Container, volumes: bool = False) -> None:
    c.status = Status.REMOVING
    rt.save(c)
    if rt.oci.has(c.id):
        rt.oci.delete(c.id)
    if c.state.get("netns"):
        from berth.engine import network

        network.teardown(rt, c)
    rt.layers.remove_container_layer(c.id)
    from berth.util import reaper

    for tree in (os.path.dirname(rt.bundle(c.id)), rt.rundir(c.id), os.path.join(rt.runroot, "persist", c.id)):
        if not reaper.tree(tree):
            import shutil  # only here: shutil imports re, bz2 and lzma (~4 ms)

            shutil.rmtree(tree, ignore_errors=True)
    try:
        os.unlink(rt.exit_file(c.id))
    except FileNotFoundError:
        pass
    with rt.db.write():
        rt.db.remove_container(c.id)
    if c.config.get("volumes"):
        from berth.engine.volmounts import on_remove

        on_remove(rt, c, anonymous=volumes)  # after the record is gone: the volume has one user less
    try:
        os.unlink(os.path.join(rt.runroot, "locks", c.id))
    except FileNotFoundError:
        pass


def restart(rt: Runtime, c: Container, timeout: int | None = None) -> Container:
    """Stop and start under one hold of the container's lock, as Podman does: the exit command
    conmon runs when the old process ends waits for the lock and then finds the container running
    again, so it neither removes a --rm container nor cleans up after the new process."""
    with rt.lock(c.id):
        c = rt.reload(c)
        if c.status.is_alive():
            if _mark_stopping(rt, c):
                _signal_and_wait(rt, c, timeout)
                c = _after_stop_locked(rt, c)
        _start_unless_alive_locked(rt, c)
    return c


def update_restart_policy(rt: Runtime, c: Container, policy: str) -> None:
    from berth.engine.create import parse_restart

    name, retries = parse_restart(policy)
    with rt.lock(c.id):
        c = rt.reload(c)
        if c.config.get("auto_remove") and name not in ("", "no"):
            from berth.errors import InvalidArgument

            raise InvalidArgument("the --rm option conflicts with --restart, when the restartPolicy is not \"\" and \"no\"")
        c.config["restart_policy"] = name
        c.config["restart_retries"] = retries
        with rt.db.write():
            rt.db.save_config(c.id, c.name, c.config)


def rename(rt: Runtime, c: Container, new: str) -> None:
    from berth.errors import AlreadyExists, InvalidArgument
    from berth.util.ids import valid_name

    if not valid_name(new):
        raise InvalidArgument('names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument')
    with rt.lock(c.id):
        c = rt.reload(c)
        with rt.db.write():
            other = rt.db.name_taken(new)
            if other and other != c.id:
                raise AlreadyExists(f"name {new} is in use: container already exists")
            c.config["name"] = new
            rt.db.save_config(c.id, new, c.config)
