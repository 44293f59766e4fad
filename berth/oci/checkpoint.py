"""CRIU through the OCI runtime (`runc checkpoint` / `restore`): the only module that knows criu.

Debian 12's criu 3.17 cannot dump on kernels >= 6.13 and criu < 4.2 cannot dump inet sockets on
>= 6.16; scripts/criu-install.sh installs a working one in /usr/local/sbin, and berth points runc at
it with `--criu`, since runc would otherwise take whichever `criu` comes first in PATH.
"""

from __future__ import annotations

import os
import re

from berth.errors import BerthError
from berth.oci.spec import CRIU_CONFIG_NAME

CRIU_PATHS = ("/usr/local/sbin/criu", "/usr/sbin/criu", "/usr/local/bin/criu", "/usr/bin/criu")
MIN_VERSION = (4, 2)


def _version(path: str) -> tuple[int, ...]:
    import subprocess  # only on a cache miss (see _cached)

    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ()
    m = re.search(r"Version:\s*([\d.]+)", out)
    return tuple(int(x) for x in m.group(1).split(".")) if m else ()


def _cached_version(path: str) -> tuple[int, ...]:
    """`criu --version` costs ~10 ms a binary: remember it per binary (path, mtime, size)."""
    return tuple(_cached(path, "", lambda: list(_version(path))))


def _nftables_lock(path: str) -> bool:
    import subprocess

    r = subprocess.run([path, "check", "--feature", "network_lock_nftables"], capture_output=True, timeout=30)
    return r.returncode == 0


def _cached(path: str, what: str, probe):
    """A fact about one criu binary, probed once per binary (path, mtime, size) and kept in $TMPDIR."""
    import json

    st = os.stat(path)
    key = f"{path}:{st.st_mtime_ns}:{st.st_size}{what}"
    # not tempfile.gettempdir(): importing tempfile costs ~3 ms of every checkpoint and restore
    cache = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"berth-criu-{os.getuid()}.json")
    try:
        with open(cache) as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    v = probe()
    known[key] = v
    try:
        tmp = f"{cache}.{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(known, f)
        os.replace(tmp, cache)
    except OSError:
        pass
    return v


def find_criu() -> tuple[str, str]:
    """(path, version) of the newest usable criu, or ("", reason)."""
    best: tuple[tuple[int, ...], str] = ((), "")
    for p in CRIU_PATHS:
        if os.access(p, os.X_OK):
            v = _cached_version(p)
            if v > best[0]:
                best = (v, p)
    if not best[1]:
        return "", "criu is not installed (scripts/criu-install.sh installs one)"
    ver = ".".join(map(str, best[0]))
    if best[0] < MIN_VERSION:
        return "", f"criu {ver} at {best[1]} is too old for this kernel (>= 4.2 needed)"
    return best[1], ver


def runtime_flags() -> list[str]:
    path, _ = find_criu()
    if not path:
        raise BerthError(f"checkpoint/restore is not available: {find_criu()[1]}")
    return ["--criu", path]


def checkpoint_argv(runtime_path: str, state_root: str, cid: str, image_dir: str, work_dir: str, *,
                    leave_running: bool, tcp_established: bool, file_locks: bool) -> list[str]:
    argv = [runtime_path, "--root", state_root, *runtime_flags(), "checkpoint", "--image-path", image_dir,
            "--work-path", work_dir]
    if leave_running:
        argv.append("--leave-running")
    if tcp_established:
        argv.append("--tcp-established")
    if file_locks:
        argv.append("--file-locks")
    return argv + [cid]


RUNC_CONF = "/etc/criu/runc.conf"

CONFIG_NAME = CRIU_CONFIG_NAME  # defined with the spec, where every start finds it


def write_config(path: str, tcp: bool) -> str:
    """Write the CRIU configuration runc hands to criu for this container's next checkpoint or
    restore (runc reads the org.criu.config annotation instead of /etc/criu/runc.conf); returns
    the network-lock method chosen.

    CRIU locks the container's network while it dumps and restores, so no packet reaches a TCP
    connection whose socket is not back yet; the dump records the method and the restore must
    use the same.  The default, iptables rules added and removed by iptables-restore processes,
    costs ~65 ms of every restore here (median CRIU restore time 212 ms):
      - tcp=False (no --tcp-established): CRIU refuses to dump an established connection, so
        there is none to protect: `network-lock skip` (147 ms).  A client knocking meanwhile finds
        the port closed, as while the container was checkpointed.
      - tcp=True: the same lock through nftables (one table, in-process through libnftables)
        where this criu has it (162 ms); else CRIU's default.
    What the host's /etc/criu/runc.conf says is kept, and a network-lock chosen there wins."""
    method = "skip"
    if tcp:
        criu, _ = find_criu()
        method = "nftables" if criu and _cached(criu, ":nftables-lock", lambda: _nftables_lock(criu)) else ""
    try:
        with open(RUNC_CONF) as f:
            base = f.read()
    except OSError:
        base = ""
    text = base
    if method and not re.search(r"^\s*-{0,2}network-lock\b", base, re.M):
        text = base.rstrip("\n") + ("\n" if base.strip() else "") + f"network-lock {method}\n"
    try:
        with open(path) as f:
            same = f.read() == text  # creating files is the slow part on some disks: only when it changed
    except OSError:
        same = False
    if not same:
        tmp = f"{path}.{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    return method or "iptables"


def restore_runtime_opts(tcp_established: bool, file_locks: bool) -> list[str]:
    """What conmon passes to `runtime restore` (it adds --detach, --image-path, --work-path)."""
    opts = []
    if tcp_established:
        opts.append("--tcp-established")
    if file_locks:
        opts.append("--file-locks")
    return opts


def dump_log_tail(work_dir: str, name: str = "dump.log", lines: int = 3) -> str:
    try:
        with open(os.path.join(work_dir, name), errors="replace") as f:
            errs = [ln.strip() for ln in f if "Error" in ln]
        return " | ".join(errs[-lines:])
    except OSError:
        return ""
