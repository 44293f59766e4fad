"""Engine settings: global flags over containers.conf over built-in defaults.

Podman users already have /usr/share/containers/containers.conf, /etc/containers/containers.conf
and ~/.config/containers/containers.conf; berth reads the same files.  Parsing TOML costs ~17 ms
(tomllib import), more than the rest of a `ps`, so the merged result is cached as JSON in the
runroot, keyed by each source file's mtime and size.
"""

from __future__ import annotations

import os

from berth.util import jsonc
from berth.util.record import field, record

DEFAULT_CAPABILITIES = [
    "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
]
CONF_FILES = ["/usr/share/containers/containers.conf", "/etc/containers/containers.conf"]
SECCOMP_PATHS = ["/usr/share/containers/seccomp.json", "/etc/containers/seccomp.json"]


def in_userns() -> bool:
    """Inside a user namespace other than the initial one (a rootless berth's own, after joining)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split()[:3] != ["0", "0", "4294967295"]
    except OSError:
        return False


def is_rootless() -> bool:
    return os.geteuid() != 0 or in_userns()


def _user_conf_files() -> list[str]:
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return [os.path.join(home, "containers", "containers.conf")]


def default_root() -> str:
    if not is_rootless():
        return "/var/lib/berth"
    data = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "berth")


def default_runroot() -> str:
    if not is_rootless():
        return "/run/berth"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        return os.path.join(xdg, "berth")
    return f"/tmp/berth-run-{os.getuid()}"


@record
class ContainersConf:
    """The part of containers.conf berth uses."""

    default_capabilities: list[str] = field(default_factory=lambda: list(DEFAULT_CAPABILITIES))
    default_ulimits: list[str] = field(default_factory=list)
    default_sysctls: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)
    runtime: str = ""
    seccomp_profile: str = ""
    init_path: str = ""
    stop_timeout: int = 10
    pids_limit: int = 2048
    shm_size: str = "65536k"
    log_size_max: int = -1
    default_rootless_network_cmd: str = ""

    @classmethod
    def from_dict(cls, d: dict) -> ContainersConf:
        known = {k: v for k, v in d.items() if k in cls._fields}
        return cls(**known)


def _parse_conf_files(paths: list[str]) -> dict:
    import tomllib

    merged: dict = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            continue
        except tomllib.TOMLDecodeError as e:
            from berth.errors import BerthError

            raise BerthError(f"reading configuration {path}: {e}") from e
        ctrs = doc.get("containers", {})
        engine = doc.get("engine", {})
        for key in ("default_capabilities", "default_ulimits", "default_sysctls", "env",
                    "seccomp_profile", "init_path", "pids_limit", "shm_size", "log_size_max"):
            if key in ctrs:
                merged[key] = ctrs[key]
        if "runtime" in engine:
            merged["runtime"] = engine["runtime"]
        net = doc.get("network", {})
        if "default_rootless_network_cmd" in net:
            merged["default_rootless_network_cmd"] = net["default_rootless_network_cmd"]
        if "stop_timeout" in engine:
            merged["stop_timeout"] = int(engine["stop_timeout"])
    return merged


def load_containers_conf(cache_dir: str | None) -> ContainersConf:
    paths = CONF_FILES + (_user_conf_files() if is_rootless() else [])
    extra = os.environ.get("CONTAINERS_CONF")
    if extra:
        paths = paths + [extra]
    key = []
    for p in paths:
        try:
            st = os.stat(p)
            key.append([p, st.st_mtime_ns, st.st_size])
        except OSError:
            key.append([p, 0, 0])
    cache = os.path.join(cache_dir, "containers-conf.json") if cache_dir else None
    if cache:
        try:
            with open(cache) as f:
                cached = jsonc.load(f)
            if cached.get("key") == key:
                return ContainersConf.from_dict(cached["conf"])
        except (OSError, ValueError):
            pass
    conf = _parse_conf_files(paths)
    if cache:
        try:
            tmp = f"{cache}.{os.getpid()}"
            with open(tmp, "w") as f:
                jsonc.dump({"key": key, "conf": conf}, f)
            os.replace(tmp, cache)
        except OSError:
            pass
    return ContainersConf.from_dict(conf)


@record
class EngineOptions:
    """Global flags, the ones every command takes and the exit command must carry."""

    root: str = ""
    runroot: str = ""
    runtime: str = ""
    storage_driver: str = ""
    storage_opts: list[str] = field(default_factory=list)
    log_level: str = "warn"
    cgroup_manager: str = "cgroupfs"
    events_backend: str = "file"
    tmpdir: str = ""
    rootless: bool = False
    host_uid: int = -1
    host_gid: int = -1

    def __post_init__(self) -> None:
        self.rootless = is_rootless()
        # the user's own IDs, read before the CLI joins its user namespace (where they become 0)
        self.host_uid, self.host_gid = os.getuid(), os.getgid()
        self.root = os.path.abspath(self.root or os.environ.get("BERTH_ROOT") or default_root())
        self.runroot = os.path.abspath(self.runroot or os.environ.get("BERTH_RUNROOT") or default_runroot())
        self.runtime = self.runtime or os.environ.get("BERTH_RUNTIME", "")
        self.storage_driver = self.storage_driver or os.environ.get("BERTH_STORAGE_DRIVER", "")
        if not self.tmpdir:
            self.tmpdir = os.path.join(self.runroot, "tmp")

    def global_args(self) -> list[str]:
        """The flags that re-create this engine in another process (conmon's exit command)."""
        args = ["--root", self.root, "--runroot", self.runroot, "--log-level", self.log_level,
                "--cgroup-manager", self.cgroup_manager, "--events-backend", self.events_backend,
                "--tmpdir", self.tmpdir]
        if self.runtime:
            args += ["--runtime", self.runtime]
        if self.storage_driver:
            args += ["--storage-driver", self.storage_driver]
        for o in self.storage_opts:
            args += ["--storage-opt", o]
        return args
