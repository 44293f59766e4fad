"""--userns, --uidmap and --gidmap: a container in its own user namespace.

Host IDs in a mapping are the IDs of the engine's namespace: real host IDs for root, the user's
namespace IDs (0 = the user, 1..N = subordinate IDs) when rootless.  The image's files are owned by
the IDs the image says; a container whose root is not ID 0 of that namespace gets its layer's
ownership shifted once, at first start (Podman's chown path; runc 1.1 has no idmapped mounts).
"""

from __future__ import annotations

import os

from berth.engine.runtime import Runtime
from berth.errors import InvalidArgument

AUTO_SIZE = 1024


def _parse_maps(values: list[str], flag: str) -> list[dict]:
    out = []
    for v in values:
        parts = v.split(":")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise InvalidArgument(f"invalid {flag} {v!r}: must be CONTAINERID:HOSTID:SIZE")
        c, h, n = map(int, parts)
        if n < 1:
            raise InvalidArgument(f"invalid {flag} {v!r}: size must be at least 1")
        out.append({"containerID": c, "hostID": h, "size": n})
    return out


def _available(rt: Runtime) -> int:
    """How many IDs the engine's namespace has (rootless: 1 + the subordinate range)."""
    if not rt.rootless:
        return 0
    try:
        with open("/proc/self/uid_map") as f:
            return sum(int(line.split()[2]) for line in f if line.strip())
    except OSError:
        return 65537


def resolve(rt: Runtime, userns: str, uidmap: list[str], gidmap: list[str], host_uid: int,
            host_gid: int) -> tuple[list[dict], list[dict], str]:
    """(uid mappings, gid mappings, default user) for the container; empty mappings = no userns."""
    if uidmap or gidmap:
        u = _parse_maps(uidmap, "--uidmap")
        g = _parse_maps(gidmap, "--gidmap") if gidmap else [dict(m) for m in u]
        return u, g, ""
    mode, _, opts = (userns or "").partition(":")
    if mode in ("", "host"):
        return [], [], ""
    if mode == "keep-id":
        if not rt.rootless:
            raise InvalidArgument("keep-id is only supported in rootless mode")
        kv = dict(o.partition("=")[::2] for o in opts.split(",") if o)
        uid = int(kv.get("uid", host_uid))
        gid = int(kv.get("gid", host_gid))
        total = _available(rt)
        return _keep(uid, total), _keep(gid, total), f"{uid}:{gid}"
    if mode == "auto":
        kv = dict(o.partition("=")[::2] for o in opts.split(",") if o)
        size = int(kv.get("size", AUTO_SIZE))
        base = _auto_base(rt, size)
        m = [{"containerID": 0, "hostID": base, "size": size}]
        return m, [dict(x) for x in m], ""
    if mode == "nomap":
        return [], [], ""
    raise InvalidArgument(f"invalid value for --userns: {userns!r} (host, keep-id, auto, nomap)")


def _keep(own: int, total: int) -> list[dict]:
    """The user's own ID stays itself: container `own` is namespace 0 (= the user on the host)."""
    maps = [{"containerID": own, "hostID": 0, "size": 1}]
    if own > 0:
        maps.insert(0, {"containerID": 0, "hostID": 1, "size": min(own, total - 1)})
    if own + 1 < total:
        maps.append({"containerID": own + 1, "hostID": own + 1, "size": total - own - 1})
    return maps


def _auto_base(rt: Runtime, size: int) -> int:
    """A block of IDs no other container of this store uses."""
    import json

    if rt.rootless:
        lo, hi = 1, _available(rt)
    else:
        lo, n = _subid_containers()
        hi = lo + n
    used = []
    for row in rt.db.container_rows():
        cfg = json.loads(row[4])
        if not str(cfg.get("userns", "")).startswith("auto"):
            continue  # only other auto containers' blocks are reserved, as with Podman
        for m in cfg.get("uid_mappings") or []:
            used.append((m["hostID"], m["hostID"] + m["size"]))
    base = lo
    while base + size <= hi:
        clash = next((u for u in used if base < u[1] and u[0] < base + size), None)
        if clash is None:
            return base
        base = clash[1]
    raise InvalidArgument(f"not enough available IDs for --userns=auto (size {size})")


def _subid_containers() -> tuple[int, int]:
    """Root's --userns=auto takes IDs from the `containers` entry of /etc/subuid, as Podman."""
    try:
        with open("/etc/subuid") as f:
            for line in f:
                p = line.strip().split(":")
                if len(p) == 3 and p[0] == "containers":
                    return int(p[1]), int(p[2])
    except OSError:
        pass
    raise InvalidArgument("--userns=auto needs an entry for the user \"containers\" in /etc/subuid and "
                          "/etc/subgid")


def _to_host(maps: list[dict], cid: int) -> int:
    for m in maps:
        if m["containerID"] <= cid < m["containerID"] + m["size"]:
            return m["hostID"] + cid - m["containerID"]
    return -1


def shift_rootfs(rootfs: str, uid_maps: list[dict], gid_maps: list[dict]) -> None:
    """Give every file of the container's rootfs the owner the mapping expects (copies up once)."""
    def fix(path: str) -> None:
        st = os.lstat(path)
        uid, gid = _to_host(uid_maps, st.st_uid), _to_host(gid_maps, st.st_gid)
        if (uid, gid) != (st.st_uid, st.st_gid) and uid >= 0 and gid >= 0:
            os.lchown(path, uid, gid)
            if not os.path.islink(path) and st.st_mode & 0o6000:
                os.chmod(path, st.st_mode & 0o7777)  # chown clears setuid/setgid

    fix(rootfs)
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for n in dirnames + filenames:
            fix(os.path.join(dirpath, n))
