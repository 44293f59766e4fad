"""The OCI runtime driver (runc or crun): the only module that builds their command lines.

The runtime is chosen by probing what works on this host (crun preferred, it starts faster),
and the choice is cached in the runroot, which a reboot clears: a kernel or cgroup change is then
probed again.  crun cannot start containers on a cgroup v1/v2 hybrid host ("cgroups in hybrid mode
not supported"); runc can.
"""

from __future__ import annotations

import os

from berth.errors import (
    BerthError,
    CommandNotExecutable,
    CommandNotFound,
    InvalidArgument,
    NoSuchContainer,
    RuntimeFailure,
)
from berth.util import jsonc
from berth.util.record import record

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess

PREFERENCE = ("crun", "runc")
_SEARCH = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin", "/bin", "/sbin")


def find_binary(name: str) -> str | None:
    if "/" in name:
        return name if os.access(name, os.X_OK) else None
    for d in _SEARCH:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    import shutil

    return shutil.which(name)


@record
class OCIRuntime:
    name: str
    path: str
    state_root: str

    def _argv(self, *args: str) -> list[str]:
        return [self.path, "--root", self.state_root, *args]

    def global_args(self, restore: bool = False) -> list[str]:
        """Flags conmon passes to the runtime before the verb (--runtime-arg)."""
        if restore:
            from berth.oci.checkpoint import runtime_flags

            return ["--root", self.state_root, *runtime_flags()]
        return ["--root", self.state_root]

    def _run(self, *args: str, cid: str = "", check: bool = True) -> subprocess.CompletedProcess:
        import subprocess  # not at the top: `run` (fast start and delete) never needs it

        r = subprocess.run(self._argv(*args), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           env=runtime_env())
        if check and r.returncode != 0:
            raise self.error(r.stderr, cid)
        return r

    def error(self, stderr: str, cid: str = "") -> BerthError:
        msg = _last_error(stderr)
        low = msg.lower()
        if "does not exist" in low or "container not found" in low or "not exist" in low:
            return NoSuchContainer(f"{self.name}: {msg}: no such container" if cid else msg)
        return classify_start_error(f"{self.name}: {msg}")

    def start(self, cid: str) -> None:
        if self.name == "runc" and _release_exec_fifo(os.path.join(self.state_root, cid)):
            return
        self._run("start", cid, cid=cid)

    def kill(self, cid: str, sig: int, all_procs: bool = False) -> bool:
        """False if the container had already exited."""
        args = ["kill"] + (["--all"] if all_procs else []) + [cid, str(sig)]
        r = self._run(*args, cid=cid, check=False)
        if r.returncode == 0:
            return True
        low = r.stderr.lower()
        if "not running" in low or "process already finished" in low or "does not exist" in low \
                or "no such process" in low or "container not running" in low:
            return False
        raise self.error(r.stderr, cid)

    def has(self, cid: str) -> bool:
        return os.path.isdir(os.path.join(self.state_root, cid))

    def delete(self, cid: str) -> None:
        """Forget a container.  Once its init process is gone, deleting is removing its cgroup
        directories and its state dir, which we do here: a `runc delete` process costs ~13 ms,
        on every container exit.  Anything unexpected falls back to the runtime itself."""
        state_dir = os.path.join(self.state_root, cid)
        try:
            with open(os.path.join(state_dir, "state.json")) as f:
                st = jsonc.load(f)
        except FileNotFoundError:
            if os.path.isdir(state_dir):
                self._run("delete", "--force", cid, check=False)
            return
        except (OSError, ValueError):
            self._run("delete", "--force", cid, check=False)
            return
        pid = int(st.get("init_process_pid") or 0)
        if pid and _process_matches(pid, st.get("init_process_start")):
            self._run("delete", "--force", cid, check=False)
            return
        try:
            from berth.util import reaper

            for path in sorted(set((st.get("cgroup_paths") or {}).values()), key=len, reverse=True):
                if reaper.empty_dir(path):
                    continue  # a foreground `run --rm`: rmdir'd after it has answered
                try:
                    os.rmdir(path)
                except FileNotFoundError:
                    pass
            if not reaper.tree(state_dir):
                import shutil  # only here: shutil imports re, bz2 and lzma (~4 ms)

                shutil.rmtree(state_dir)
        except OSError:
            self._run("delete", "--force", cid, check=False)

    def state(self, cid: str) -> dict | None:
        r = self._run("state", cid, check=False)
        if r.returncode != 0:
            return None
        return jsonc.loads(r.stdout)

    def freeze(self, cid: str, timeout: float = 2.0) -> str:
        """Freeze the container's cgroup and wait until it is frozen; returns what thaw() needs
        ("" when there is no freezer to use: nothing to undo).

        For a checkpoint: CRIU freezes the cgroup itself, reads the state at once and, unless
        every task was already frozen, sleeps 100 ms before it looks again (criu/seize.c step_ms).
        A task in a sleep the kernel cannot freeze in place (a shell in wait4) must run to freeze,
        and on a busy host that is rarely immediate: ~1 checkpoint in 4 took 100 ms more.  Here the
        wait is polled every 0.2 ms.  CRIU leaves a cgroup it found frozen frozen again after
        `--leave-running` or a failure, so the caller thaws in every case."""
        try:
            with open(os.path.join(self.state_root, cid, "state.json")) as f:
                paths = jsonc.load(f).get("cgroup_paths") or {}
        except (OSError, ValueError):
            return ""
        v1 = paths.get("freezer")
        target = os.path.join(v1, "freezer.state") if v1 else ""
        if not target and paths.get(""):
            target = os.path.join(paths[""], "cgroup.freeze")
        if not target or not os.path.exists(target):
            return ""
        import time

        try:
            _write(target, "FROZEN" if v1 else "1")
            deadline = time.monotonic() + timeout
            while not _frozen(target):
                if time.monotonic() > deadline:
                    self.thaw(target)
                    return ""
                time.sleep(0.0002)
        except OSError:
            self.thaw(target)
            return ""
        return target

    def thaw(self, frozen: str) -> None:
        if frozen:
            try:
                _write(frozen, "THAWED" if frozen.endswith("freezer.state") else "0")
            except OSError:
                pass  # the cgroup is gone with its container

    def pause(self, cid: str) -> None:
        self._run("pause", cid, cid=cid)

    def resume(self, cid: str) -> None:
        self._run("resume", cid, cid=cid)

    def exec_argv(self, cid: str, process_file: str, *, tty: bool, detach: bool, pid_file: str = "") -> list[str]:
        args = ["exec", "--process", process_file]
        if tty:
            args.append("--tty")
        if detach:
            args.append("--detach")
        if pid_file:
            args += ["--pid-file", pid_file]
        return self._argv(*args, cid)

    def run_argv(self, bundle: str, cid: str) -> list[str]:
        return self._argv("run", "--bundle", bundle, cid)

    def version(self) -> str:
        import subprocess

        try:
            r = subprocess.run([self.path, "--version"], capture_output=True, text=True)
            return r.stdout.splitlines()[0] if r.stdout else ""
        except OSError:
            return ""


def runtime_env() -> dict[str, str]:
    """Our environment minus NOTIFY_SOCKET: with it set, runc sets up sd-notify itself."""
    return {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}


def _release_exec_fifo(state_dir: str) -> bool:
    """`runc start` is a Go process (~10 ms) that does one thing for a created container: read
    the exec.fifo its init blocks on (the init writes one byte, then execs the command) and remove
    the fifo, which marks the container running.  Done here when the fifo is where runc keeps it;
    False (use `runc start`) when it is not or the init is gone, so runc reports the error."""
    fifo = os.path.join(state_dir, "exec.fifo")
    try:
        with open(os.path.join(state_dir, "state.json")) as f:
            st = jsonc.load(f)
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError):
        return False
    import select

    pid = int(st.get("init_process_pid") or 0)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        got = b""
        while True:
            if not poller.poll(100):
                if not (pid and _process_matches(pid, st.get("init_process_start"))):
                    return False
                continue
            chunk = os.read(fd, 64)
            if not chunk:
                break  # the init closed its end: it has exec'd the command
            got += chunk
        if got != b"0":
            return False
        os.unlink(fifo)
        return True
    finally:
        os.close(fd)


def _process_matches(pid: int, start: object) -> bool:
    """Is pid still the process the runtime started (same start time, not a reused pid)?"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    if fields[0] == "Z":
        return False
    return str(start) == fields[19] if start is not None else True


def _last_error(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "unknown error"
    line = lines[-1]
    if line.startswith("{"):
        try:
            return jsonc.loads(line).get("msg", line)
        except ValueError:
            pass
    if line.startswith("time=") and 'msg="' in line:
        line = line.split('msg="', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
    if line.startswith("ERRO["):
        line = line.split("]", 1)[1].strip()
    return line


def classify_start_error(msg: str) -> BerthError:
    """Podman's wording and exit codes for a process that cannot be started."""
    low = msg.lower()
    if "executable file not found" in low or "no such file or directory" in low and "exec" in low \
            or "not found in $path" in low:
        return CommandNotFound(f"{msg}: OCI runtime attempted to invoke a command that was not found")
    if "permission denied" in low and ("exec" in low or "start container process" in low):
        return CommandNotExecutable(f"{msg}: OCI permission denied")
    return RuntimeFailure(msg)


def pick_runtime(wanted: str, conf_runtime: str, runroot: str) -> OCIRuntime:
    """--runtime, then containers.conf, then the cached probe, then a fresh probe."""
    state_root = os.path.join(runroot, "runtime")
    choice = wanted or conf_runtime
    if choice:
        path = find_binary(choice)
        if path is None:
            raise InvalidArgument(f'could not find a working binary (used by runtime "{choice}")')
        return OCIRuntime(os.path.basename(path), path, state_root)
    cache = os.path.join(runroot, "runtime.json")
    try:
        with open(cache) as f:
            d = jsonc.load(f)
        if os.access(d["path"], os.X_OK):
            return OCIRuntime(d["name"], d["path"], state_root)
    except (OSError, ValueError, KeyError):
        pass
    found = None
    candidates = [(n, p) for n in PREFERENCE if (p := find_binary(n))]
    if not candidates:
        raise BerthError("no OCI runtime found: install runc or crun (apt install runc)")
    for name, path in candidates[:-1]:
        if probe(path, runroot):
            found = (name, path)
            break
    found = found or candidates[-1]
    os.makedirs(runroot, exist_ok=True)
    tmp = f"{cache}.{os.getpid()}"
    with open(tmp, "w") as f:
        jsonc.dump({"name": found[0], "path": found[1]}, f)
    os.replace(tmp, cache)
    return OCIRuntime(found[0], found[1], state_root)


def probe(path: str, runroot: str) -> bool:
    """Run /bin/true from the host's /usr in a throw-away container: does this runtime work here?"""
    import shutil
    import subprocess
    import tempfile

    base = tempfile.mkdtemp(prefix="probe-", dir=runroot if os.path.isdir(runroot) else None)
    try:
        rootfs = os.path.join(base, "rootfs")
        os.makedirs(os.path.join(rootfs, "usr"))
        for d in ("proc", "dev", "sys", "tmp"):
            os.makedirs(os.path.join(rootfs, d))
        mounts = [{"destination": "/proc", "type": "proc", "source": "proc"},
                  {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
                  {"destination": "/usr", "type": "bind", "source": "/usr", "options": ["rbind", "ro"]}]
        for d in ("bin", "lib", "lib64", "sbin"):
            host = os.path.join("/", d)
            if os.path.islink(host):
                os.symlink(os.readlink(host), os.path.join(rootfs, d))
            elif os.path.isdir(host):
                os.makedirs(os.path.join(rootfs, d))
                mounts.append({"destination": "/" + d, "type": "bind", "source": host, "options": ["rbind", "ro"]})
        spec = {
            "ociVersion": "1.0.2-dev",
            "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/true"], "cwd": "/",
                        "env": ["PATH=/usr/bin:/bin"]},
            "root": {"path": rootfs, "readonly": True},
            "mounts": mounts,
            "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}],
                      "cgroupsPath": f"/berth_probe/probe-{os.getpid()}"},
        }
        if os.geteuid() != 0:
            spec["linux"].pop("cgroupsPath")
        with open(os.path.join(base, "config.json"), "w") as f:
            jsonc.dump(spec, f)
        cid = f"berth-probe-{os.getpid()}"
        r = subprocess.run([path, "--root", os.path.join(base, "state"), "run", "--bundle", base, cid],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        return r.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _frozen(target: str) -> bool:
    if target.endswith("freezer.state"):
        with open(target) as f:
            return f.read().strip() == "FROZEN"
    with open(os.path.join(os.path.dirname(target), "cgroup.events")) as f:
        return "frozen 1" in f.read()
