"""conmon, the per-container monitor: launched exactly as Podman launches it.

Protocol (Podman's libpod/oci_conmon_common.go, conmon api-version 1):
- two SOCK_SEQPACKET socketpairs; conmon gets their child ends as _OCI_SYNCPIPE and _OCI_STARTPIPE;
- conmon blocks on the start pipe until we write a byte, then double-forks (our child exits) and
  runs `runtime create`; it then writes {"data": <pid>} (or {"data": -1, "message": ...}) to the
  sync pipe;
- when the container exits, conmon writes the exit code to <exit-dir>/<id> and runs the exit
  command (`berth ... container cleanup <id>`), which is how a daemonless engine cleans up and
  restarts containers.
"""

from __future__ import annotations

import _socket  # not socket.py: see engine/attach.py
import os
import select

from berth.errors import RuntimeFailure
from berth.oci.runtime import OCIRuntime, classify_start_error
from berth.util import jsonc
from berth.util.record import field, record

TYPE_CHECKING = False  # collections.abc imports collections (~2 ms); annotations only
if TYPE_CHECKING:
    from collections.abc import Callable

CONMON_PATHS = ("/usr/bin/conmon", "/usr/libexec/podman/conmon", "/usr/local/bin/conmon",
                "/usr/local/libexec/podman/conmon", "/usr/sbin/conmon")
CREATE_TIMEOUT = 240.0


def find_conmon() -> str:
    for p in CONMON_PATHS:
        if os.access(p, os.X_OK):
            return p
    import shutil

    p = shutil.which("conmon")
    if not p:
        raise RuntimeFailure("could not find a working conmon binary: install conmon (apt install conmon)")
    return p


@record
class ConmonLaunch:
    cid: str
    name: str
    bundle: str
    pidfile: str
    conmon_pidfile: str
    exit_dir: str
    persist_dir: str
    log_driver: str
    log_path: str
    oci_log: str
    tty: bool = False
    stdin: bool = False
    exit_command: list[str] = field(default_factory=list)
    log_level: str = "error"
    restore_from: str = ""                  # checkpoint image dir, for restore
    runtime_opts: list[str] = field(default_factory=list)
    sdnotify_socket: str = ""
    extra_env: dict[str, str] = field(default_factory=dict)
    pass_fds: list[int] = field(default_factory=list)
    warm_up: bool = False                   # the caller will clean up after the container itself


def build_argv(conmon: str, runtime: OCIRuntime, c: ConmonLaunch) -> list[str]:
    argv = [conmon, "--api-version", "1", "-c", c.cid, "-u", c.cid, "-r", runtime.path,
            "-b", c.bundle, "-p", c.pidfile, "-n", c.name, "--exit-dir", c.exit_dir,
            "--persist-dir", c.persist_dir, "--full-attach"]
    for a in runtime.global_args(restore=bool(c.restore_from)):
        argv += ["--runtime-arg", a]
    argv += ["--runtime-arg", "--log-format=json", "--runtime-arg", "--log", f"--runtime-arg={c.oci_log}"]
    if c.log_driver == "none":
        argv += ["-l", "none"]
    elif c.log_driver == "passthrough":
        argv += ["-l", "passthrough"]
    else:
        argv += ["-l", f"k8s-file:{c.log_path}"]
    argv += ["--log-level", c.log_level, "--syslog", "--conmon-pidfile", c.conmon_pidfile]
    if c.tty:
        argv.append("-t")
    elif c.stdin:
        argv.append("-i")
    if c.sdnotify_socket:
        argv.append(f"--sdnotify-socket={c.sdnotify_socket}")
    if c.restore_from:
        argv += ["--restore", c.restore_from]
    for o in c.runtime_opts:
        argv += ["--runtime-opt", o]
    if c.exit_command:
        argv += ["--exit-command", c.exit_command[0]]
        for a in c.exit_command[1:]:
            argv += ["--exit-command-arg", a]
    return argv


def launch(conmon: str, runtime: OCIRuntime, c: ConmonLaunch) -> tuple[int, int]:
    """Start conmon and have it create the container; returns (container pid, conmon pid)."""
    return begin(conmon, runtime, c).finish()


def begin(conmon: str, runtime: OCIRuntime, c: ConmonLaunch) -> Launching:
    """Start conmon, which waits on its start pipe: the bundle's config.json need not exist yet.
    Its exec and start-up (~4 ms) then overlap the rootfs mount and the spec; finish() lets it
    run the runtime, abort() kills it (it has forked nothing before the start byte)."""
    return Launching(conmon, runtime, c)


class Launching:
    def __init__(self, conmon: str, runtime: OCIRuntime, c: ConmonLaunch) -> None:
        self.c = c
        self.runtime_name = runtime.name
        self.sync_parent, sync_child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        self.start_parent, start_child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
        env["_OCI_SYNCPIPE"] = str(sync_child.fileno())
        env["_OCI_STARTPIPE"] = str(start_child.fileno())
        env.setdefault("XDG_RUNTIME_DIR", os.environ.get("XDG_RUNTIME_DIR", ""))
        env.update(c.extra_env)
        argv = build_argv(conmon, runtime, c)
        try:
            self.pid = _spawn(argv, env, [sync_child.fileno(), start_child.fileno(), *c.pass_fds])
        except OSError as e:
            self._close()
            raise RuntimeFailure(f"starting conmon: {e}") from e
        finally:
            sync_child.close()
            start_child.close()

    def finish(self, while_waiting: Callable[[], None] | None = None) -> tuple[int, int]:
        """Let conmon run the runtime and wait for the container's pid.  while_waiting runs once
        the start byte is sent: conmon and the runtime take ~50 ms from there, with this process idle."""
        c = self.c
        try:
            self.start_parent.send(b"0")
            if while_waiting is not None:
                while_waiting()
            # conmon's monitor keeps running; only its first process exits here, after the double fork
            rc = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
            self.pid = 0
            if rc != 0:
                raise RuntimeFailure(f"conmon failed with exit code {rc}")
            pid, message = _read_sync(self.sync_parent, c.oci_log)
            if pid <= 0:
                raise classify_start_error(_runtime_message(message, c.oci_log, self.runtime_name))
        finally:
            self._close()
        conmon_pid = 0
        try:
            with open(c.conmon_pidfile) as f:
                conmon_pid = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
        return pid, conmon_pid

    def abort(self) -> None:
        """Before finish(): end the waiting conmon.  Killed first, then its pipes closed: at the end
        of its start pipe conmon would go on and run the runtime."""
        if self.pid:
            import signal

            try:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0
        self._close()

    def _close(self) -> None:
        self.sync_parent.close()
        self.start_parent.close()


def _spawn(argv: list[str], env: dict[str, str], pass_fds: list[int]) -> int:
    from berth.util.spawn import spawn

    return spawn(argv, env, pass_fds=pass_fds, new_group=True)


def _read_sync(sock: _socket.socket, oci_log: str) -> tuple[int, str]:
    ready, _, _ = select.select([sock], [], [], CREATE_TIMEOUT)
    if not ready:
        raise RuntimeFailure("container creation timeout: conmon did not answer")
    data = sock.recv(65536)
    if not data:
        return -1, ""
    line = data.decode(errors="replace").strip().splitlines()[0]
    try:
        msg = jsonc.loads(line)
    except ValueError:
        return -1, line
    return int(msg.get("data", -1)), msg.get("message", "")


def _runtime_message(message: str, oci_log: str, runtime_name: str) -> str:
    """Prefer the runtime's own JSON error (its --log file) over conmon's summary."""
    try:
        with open(oci_log) as f:
            lines = [ln for ln in f.read().splitlines() if ln.strip()]
        for ln in reversed(lines):
            try:
                d = jsonc.loads(ln)
            except ValueError:
                continue
            if d.get("level") in ("error", "fatal"):
                return f"{runtime_name}: {d.get('msg', '')}"
    except OSError:
        pass
    return message or f"{runtime_name}: container creation failed"


def write_ctl(bundle: str, event: int, a: int = 0, b: int = 0) -> None:
    """conmon's ctl FIFO: event 1 = resize (height width), event 2 = reopen logs."""
    try:
        fd = os.open(os.path.join(bundle, "ctl"), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, f"{event} {a} {b}\n".encode())
    except OSError:
        pass
    finally:
        os.close(fd)
