"""Build the OCI runtime config (config.json) for a container.

Defaults are Podman's: its capability set, the host's containers-common seccomp profile, the
masked and read-only /proc and /sys paths, rlimits clamped to the caller's hard limits (the
runtime cannot raise them without CAP_SYS_RESOURCE).
"""

from __future__ import annotations

import _signal  # not signal.py, whose enums cost ~0.5 ms at every start
import os
import resource

from berth.errors import InvalidArgument
from berth.util import jsonc
from berth.util.record import field, record

# in the bundle; the org.criu.config annotation of every container points at it (berth/oci/checkpoint.py
# writes it): here, so that a start need not import the checkpoint module
CRIU_CONFIG_NAME = "criu.conf"

ALL_CAPS = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
]
MASKED_PATHS = [
    "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
    "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block",
]
READONLY_PATHS = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
RLIMITS = {
    "cpu": "RLIMIT_CPU", "fsize": "RLIMIT_FSIZE", "data": "RLIMIT_DATA", "stack": "RLIMIT_STACK",
    "core": "RLIMIT_CORE", "rss": "RLIMIT_RSS", "nproc": "RLIMIT_NPROC", "nofile": "RLIMIT_NOFILE",
    "memlock": "RLIMIT_MEMLOCK", "as": "RLIMIT_AS", "locks": "RLIMIT_LOCKS", "sigpending": "RLIMIT_SIGPENDING",
    "msgqueue": "RLIMIT_MSGQUEUE", "nice": "RLIMIT_NICE", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
}
_SECCOMP_ARCH = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64", "ppc64le": "SCMP_ARCH_PPC64LE",
                 "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64"}


def normalize_cap(name: str) -> str:
    n = name.strip().upper()
    if n == "ALL":
        return n
    if n.startswith("CAP_"):
        n = n[4:]
    if n not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability {name!r}")
    return n


def parse_signal(value: str | int) -> int:
    """'SIGTERM', 'TERM', '15' -> 15 (Podman's ParseSignal)."""
    if isinstance(value, int):
        return value
    v = value.strip().upper()
    if v.isdigit():
        n = int(v)
        if 0 < n < 65:
            return n
    else:
        if not v.startswith("SIG"):
            v = "SIG" + v
        if v.startswith("SIGRTMIN+") or v.startswith("SIGRTMAX-"):
            base = _signal.SIGRTMIN if v.startswith("SIGRTMIN") else _signal.SIGRTMAX
            off = int(v[9:]) if v[9:].isdigit() else -1
            if off >= 0:
                return int(base) + off if "+" in v else int(base) - off
        # signal.Signals' members: the module's SIG* names but the SIG_* handler constants
        sig = getattr(_signal, v, None) if v.isidentifier() and not v.startswith("SIG_") else None
        if sig is not None:
            return int(sig)
    raise InvalidArgument(f"invalid signal: {value}")


def parse_ulimit(value: str) -> tuple[str, int, int]:
    name, sep, limits = value.partition("=")
    if not sep or name not in RLIMITS:
        raise InvalidArgument(f"invalid ulimit argument: {value}")
    soft_s, _, hard_s = limits.partition(":")
    try:
        soft = -1 if soft_s == "-1" else int(soft_s)
        hard = soft if not hard_s else (-1 if hard_s == "-1" else int(hard_s))
    except ValueError:
        raise InvalidArgument(f"invalid ulimit argument: {value}") from None
    if hard != -1 and (soft == -1 or soft > hard):
        raise InvalidArgument(f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}")
    return name, soft, hard


def _clamp(rtype: str, soft: int, hard: int) -> tuple[int, int]:
    """The runtime cannot raise a hard limit above ours (no CAP_SYS_RESOURCE here): clamp."""
    res = getattr(resource, rtype, None)
    if res is None:
        return soft, hard
    cur_hard = resource.getrlimit(res)[1]
    inf = resource.RLIM_INFINITY
    hard = cur_hard if hard == -1 else hard
    soft = hard if soft == -1 else soft
    if cur_hard != inf:
        hard = min(hard, cur_hard) if hard != inf else cur_hard
        soft = min(soft, hard) if soft != inf else hard
    return soft, hard


@record
class ProcessUser:
    uid: int = 0
    gid: int = 0
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path, errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(rootfs: str, user: str, group_add: list[str] | None = None) -> ProcessUser:
    """Look up USER[:GROUP] in the image's /etc/passwd and /etc/group, like Podman does."""
    passwd = _read_db(os.path.join(rootfs, "etc/passwd"))
    groups = _read_db(os.path.join(rootfs, "etc/group"))
    uname, _, gname = (user or "0").partition(":")
    out = ProcessUser()
    entry = None
    if uname.isdigit():
        out.uid = int(uname)
        entry = next((p for p in passwd if len(p) > 3 and p[2] == uname), None)
        out.gid = int(entry[3]) if entry and entry[3].isdigit() else 0
    else:
        entry = next((p for p in passwd if p and p[0] == uname), None)
        if entry is None or len(entry) < 4:
            from berth.errors import CommandNotExecutable

            raise CommandNotExecutable(f"unable to find user {uname}: no matching entries in passwd file")
        out.uid, out.gid = int(entry[2]), int(entry[3])
    if entry and len(entry) > 5 and entry[5]:
        out.home = entry[5]
    if gname:
        if gname.isdigit():
            out.gid = int(gname)
        else:
            g = next((g for g in groups if g and g[0] == gname), None)
            if g is None:
                from berth.errors import CommandNotExecutable

                raise CommandNotExecutable(f"unable to find group {gname}: no matching entries in group file")
            out.gid = int(g[2])
    name = entry[0] if entry else None
    if name and not gname:
        for g in groups:
            if len(g) > 3 and name in g[3].split(",") and g[2].isdigit():
                gid = int(g[2])
                if gid != out.gid and gid not in out.additional_gids:
                    out.additional_gids.append(gid)
    for extra in group_add or []:
        if extra.isdigit():
            out.additional_gids.append(int(extra))
        else:
            g = next((g for g in groups if g and g[0] == extra), None)
            if g is None:
                raise InvalidArgument(f"unable to find group {extra}")
            out.additional_gids.append(int(g[2]))
    return out


def host_bounding_caps() -> list[str]:
    """The capabilities this process may hand out (runc cannot grant one outside its bounding set)."""
    try:
        with open("/proc/self/status") as f:
            mask = int(next(ln.split()[1] for ln in f if ln.startswith("CapBnd:")), 16)
    except (OSError, StopIteration, ValueError):
        return list(ALL_CAPS)
    return [c for c in ALL_CAPS if c in _CAP_BITS and mask >> _CAP_BITS[c] & 1]


_CAP_BITS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5, "SETGID": 6,
             "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10, "NET_BROADCAST": 11,
             "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17,
             "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23,
             "SYS_RESOURCE": 24, "SYS_TIME": 25, "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28,
             "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33,
             "SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39,
             "CHECKPOINT_RESTORE": 40}


def capabilities(cfg: dict, defaults: list[str]) -> list[str]:
    if cfg.get("privileged"):
        return host_bounding_caps()
    adds = [normalize_cap(c) for c in cfg.get("cap_add", [])]
    drops = [normalize_cap(c) for c in cfg.get("cap_drop", [])]
    caps = host_bounding_caps() if "ALL" in adds else [c for c in defaults]
    if "ALL" in drops:
        caps = []
    for c in adds:
        if c != "ALL" and c not in caps:
            caps.append(c)
    caps = [c for c in caps if c not in drops]
    return sorted(caps)


def seccomp_profile(caps: list[str], path: str, x32: bool | None = None) -> dict | None:
    """Convert a containers-common/moby seccomp.json into the OCI linux.seccomp form.

    x32: keep the profile's SCMP_ARCH_X32 sub-architecture (None: only if this kernel runs x32
    syscalls). Each architecture in the list costs runc ~10 ms of libseccomp work at every start
    (measured: 3 arches 80 ms, 2 arches 70 ms per `runc run`), and on a kernel without the x32 ABI
    no process can make an x32 syscall, so that part of the filter can never match. The 32-bit
    x86 part stays: i386 binaries do run on these kernels."""
    try:
        with open(path) as f:
            prof = jsonc.load(f)
    except FileNotFoundError:
        return None
    machine = os.uname().machine
    main_arch = _SECCOMP_ARCH.get(machine)
    arches: list[str] = []
    for entry in prof.get("archMap") or []:
        if entry.get("architecture") == main_arch:
            arches = [main_arch] + list(entry.get("subArchitectures") or [])
    if x32 is None:
        x32 = machine != "x86_64" or x32_abi_enabled()
    if not x32:
        arches = [a for a in arches if a != "SCMP_ARCH_X32"]
    capset = {"CAP_" + c for c in caps}
    rules = []
    for rule in prof.get("syscalls", []):
        inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
        if inc.get("caps") and not all(c in capset for c in inc["caps"]):
            continue
        if inc.get("arches") and machine_arch_names(machine).isdisjoint(inc["arches"]):
            continue
        if exc.get("caps") and any(c in capset for c in exc["caps"]):
            continue
        if exc.get("arches") and not machine_arch_names(machine).isdisjoint(exc["arches"]):
            continue
        out = {"names": rule.get("names") or [rule["name"]], "action": rule["action"]}
        if rule.get("args"):
            out["args"] = [{k: a[k] for k in ("index", "value", "valueTwo", "op") if k in a} for a in rule["args"]]
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        rules.append(out)
    spec = {"defaultAction": prof["defaultAction"], "architectures": arches, "syscalls": rules}
    if prof.get("defaultErrnoRet") is not None:
        spec["defaultErrnoRet"] = prof["defaultErrnoRet"]
    return spec


_x32: list[bool] = []


def x32_abi_enabled() -> bool:
    """Whether this kernel executes x32 syscalls (getpid with the x32 bit: its pid, or ENOSYS).
    Debian builds the ABI in but off (`syscall.x32=y` turns it on); other kernels leave it out.
    A process already under a seccomp filter does not ask: a filter without x32 kills the asker,
    so berth keeps the profile's list there."""
    if not _x32:
        _x32.append(_probe_x32())
    return _x32[0]


def _probe_x32() -> bool:
    try:
        with open("/proc/self/status") as f:
            if any(line.startswith("Seccomp:") and line.split()[1] != "0" for line in f):
                return True
    except OSError:
        return True
    from berth.util import libc

    x32_getpid = 0x40000000 | 39
    return libc.call("syscall", x32_getpid) > 0


def machine_arch_names(machine: str) -> set[str]:
    return {"x86_64": {"amd64", "x86_64"}, "aarch64": {"arm64", "aarch64"}}.get(machine, {machine})


@record
class SpecInputs:
    """What the spec needs besides the container's stored config."""

    rootfs: str
    hosts_path: str
    hostname_path: str
    resolv_path: str
    containerenv_path: str
    default_caps: list[str]
    default_ulimits: list[str]
    default_sysctls: list[str]
    seccomp_path: str
    init_path: str = ""
    netns_path: str = ""
    cgroups: bool = True
    rootless: bool = False
    uid_mappings: list[dict] = field(default_factory=list)
    gid_mappings: list[dict] = field(default_factory=list)


def build_spec(cfg: dict, inp: SpecInputs) -> dict:
    privileged = bool(cfg.get("privileged"))
    user = resolve_user(inp.rootfs, cfg.get("user", ""), cfg.get("group_add"))
    env = list(cfg.get("env", []))
    keys = {e.split("=", 1)[0] for e in env}
    if "HOME" not in keys:
        env.append(f"HOME={user.home}")
    if "HOSTNAME" not in keys:
        env.append(f"HOSTNAME={cfg['hostname']}")
    if cfg.get("tty") and "TERM" not in keys:
        env.append("TERM=xterm")
    if "container" not in keys:
        env.append("container=berth")
    args = list(cfg["args"])
    mounts = _mounts(cfg, inp)
    if cfg.get("init"):
        if not inp.init_path:
            raise InvalidArgument("--init needs catatonit or tini on the host (apt install catatonit)")
        mounts.append({"destination": "/run/berth-init", "type": "bind", "source": inp.init_path,
                       "options": ["bind", "ro", "nosuid", "nodev"]})
        args = ["/run/berth-init", "--"] + args
    caps = capabilities(cfg, inp.default_caps)
    process: dict = {
        "terminal": bool(cfg.get("tty")),
        "user": {"uid": user.uid, "gid": user.gid, "umask": 0o022},
        "args": args,
        "env": env,
        "cwd": cfg.get("workdir") or "/",
        "capabilities": {"bounding": ["CAP_" + c for c in caps], "effective": ["CAP_" + c for c in caps],
                         "permitted": ["CAP_" + c for c in caps]},
        "rlimits": _rlimits(cfg.get("ulimits", []), inp.default_ulimits),
        "noNewPrivileges": bool(cfg.get("no_new_privileges")),
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids
    namespaces = [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}]
    net = cfg.get("network") or "none"
    if net != "host":
        ns = {"type": "network"}
        if inp.netns_path:
            ns["path"] = inp.netns_path
        namespaces.append(ns)
    if inp.uid_mappings:
        namespaces.append({"type": "user"})
    linux: dict = {
        "namespaces": namespaces,
        "resources": _resources(cfg, inp),
    }
    if inp.cgroups:
        linux["cgroupsPath"] = f"/berth_parent/berth-{cfg['id']}"
    if inp.uid_mappings:
        linux["uidMappings"] = inp.uid_mappings
        linux["gidMappings"] = inp.gid_mappings
    sysctls = {}
    for s in inp.default_sysctls + cfg.get("sysctls", []):
        k, _, v = s.partition("=")
        if k.startswith("net.") and (net == "host" or (inp.uid_mappings and inp.netns_path)):
            continue  # not ours to set: the network namespace belongs to another user namespace
        sysctls[k.strip()] = v.strip()
    if sysctls:
        linux["sysctl"] = sysctls
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
        if not cfg.get("seccomp_unconfined"):
            sec = seccomp_profile(caps, cfg.get("seccomp_profile") or inp.seccomp_path)
            if sec:
                linux["seccomp"] = sec
    spec = {
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": inp.rootfs, "readonly": bool(cfg.get("read_only"))},
        "hostname": cfg["hostname"],
        "mounts": mounts,
        "annotations": dict(cfg.get("annotations") or {}),
        "linux": linux,
    }
    return spec


def _mounts(cfg: dict, inp: SpecInputs) -> list[dict]:
    privileged = bool(cfg.get("privileged"))
    ro_sys = "rw" if privileged else "ro"
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", ro_sys]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    ]
    if (inp.cgroups or not inp.rootless) and not inp.uid_mappings:
        mounts.append({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                       "options": ["rprivate", "nosuid", "noexec", "nodev", "relatime", ro_sys]})
    host_net = (cfg.get("network") or "none") == "host"
    foreign_netns = (host_net and (inp.rootless or inp.uid_mappings)) or (inp.netns_path and inp.uid_mappings)
    if foreign_netns:
        # a user namespace cannot mount sysfs for a netns it does not own
        mounts[2] = {"destination": "/sys", "type": "bind", "source": "/sys",
                     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
    # a file the user mounts on /etc/hosts (etc.) replaces berth's
    extra = list(cfg.get("mounts", []))
    user_dests = {m["destination"] for m in extra}
    for dest, src in (("/etc/hosts", inp.hosts_path), ("/etc/hostname", inp.hostname_path),
                      ("/etc/resolv.conf", inp.resolv_path), ("/run/.containerenv", inp.containerenv_path)):
        if src and dest not in user_dests:
            extra.append({"destination": dest, "type": "bind", "source": src, "options": ["bind", "rprivate"]})
    for t in cfg.get("tmpfs", []):
        dest, _, opts = t.partition(":")
        if not dest.startswith("/"):
            raise InvalidArgument(f"invalid tmpfs destination {dest!r}: must be an absolute path")
        options = [o for o in opts.split(",") if o] if opts else []
        if not any(o.startswith("mode=") for o in options):
            options.append("mode=1777" if not opts else "mode=755")
        for o in ("rw", "noexec", "nosuid", "nodev"):
            if o not in options and not (o == "rw" and "ro" in options) and not (o == "noexec" and "exec" in options):
                options.append(o)
        if not any(o.startswith("size=") for o in options):
            options.append("size=65536k")
        extra.append({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": options})
    # parents first: a volume on /etc must not hide /etc/hosts, nor --read-only's /run tmpfs .containerenv
    extra.sort(key=lambda m: m["destination"].rstrip("/").count("/"))
    return mounts + extra


def _rlimits(user_ulimits: list[str], defaults: list[str]) -> list[dict]:
    wanted: dict[str, tuple[int, int]] = {"nofile": (1048576, 1048576), "nproc": (4194304, 4194304)}
    for u in defaults + user_ulimits:
        name, soft, hard = parse_ulimit(u)
        wanted[name] = (soft, hard)
    out = []
    for name, (soft, hard) in wanted.items():
        soft, hard = _clamp(RLIMITS[name], soft, hard)
        out.append({"type": RLIMITS[name], "hard": hard, "soft": soft})
    return out


def _resources(cfg: dict, inp: SpecInputs) -> dict:
    res: dict = {}
    if not cfg.get("privileged"):
        res["devices"] = [{"allow": False, "access": "rwm"}]
    else:
        res["devices"] = [{"allow": True, "access": "rwm"}]
    if not inp.cgroups:
        return res
    if cfg.get("memory"):
        res["memory"] = {"limit": int(cfg["memory"])}
    if cfg.get("cpus"):
        period = 100000
        res["cpu"] = {"quota": int(float(cfg["cpus"]) * period), "period": period}
    pids = cfg.get("pids_limit")
    if pids:
        res["pids"] = {"limit": int(pids)}
    return res
