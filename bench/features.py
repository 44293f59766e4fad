"""Benchmarks for networking, checkpoint/restore and rootless: berth against Podman, alternated.

Writes the "Networks, checkpoint and rootless" section of BENCHMARKS.md (between marker comments),
leaving the rest of the file to bench/run.py.

    .venv/bin/python bench/features.py [--reps N] [--quick] [--only net,ckpt,rootless]
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import procs  # bench/procs.py: the scripts run from bench/, which is first on sys.path

from berth.network.ports import free_port

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv" / "bin" / "python")
BEGIN, END = "<!-- features:begin -->", "<!-- features:end -->"
ROOTLESS_USER = "berthrl1"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def timed(argv: list[str], env: dict | None = None, user: str = "") -> float:
    if user:
        argv = ["runuser", "-u", user, "--", "env", *(f"{k}={v}" for k, v in (env or {}).items()), *argv]
        env = None
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:8])}... failed: {r.stderr.strip()[-300:]}")
    return dt


# what stays running on purpose after a command returns: monitors, namespace holders, networking helpers
_RESIDENT = {b"conmon", b"catatonit", b"pasta", b"pasta.avx2", b"slirp4netns", b"aardvark-dns", b"podman-pause"}


def settle(base: Path, timeout: float = 20.0) -> None:
    """Wait until no process of this run is still working in the background (an engine's exit
    command cleaning up after `run --rm`, say), as bench/run.py does: one engine's leftover work
    must not be timed as part of the other's next command."""
    mark = str(base).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(mark in cmd and procs.program(cmd) not in _RESIDENT for _, cmd in procs.cmdlines()):
            return
        time.sleep(0.005)


# Podman's default network, on a bridge of its own.  Both engines name their default network
# "podman" on podman0; sharing it, the bridge berth keeps up between containers (see
# berth/network/bridgekeep.py) would spare Podman its bridge teardown too, and the comparison would
# no longer be of the two engines as each runs alone on a host.
PODMAN_NET = {"name": "podman", "id": "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9",
              "driver": "bridge", "network_interface": "pbench0", "created": "2026-01-01T00:00:00Z",
              "subnets": [{"subnet": "10.98.0.0/16", "gateway": "10.98.0.1"}], "ipv6_enabled": False,
              "internal": False, "dns_enabled": False, "ipam_options": {"driver": "host-local"}}


def podman_conf(d: Path, own_bridge: bool = False) -> Path:
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 4096)
    conf = d / "containers.conf"
    text = (f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n'
            '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
            '[network]\nnetwork_backend = "netavark"\n')
    if own_bridge:
        netconf = d / "p-netconf"
        netconf.mkdir(exist_ok=True)
        (netconf / "podman.json").write_text(json.dumps(PODMAN_NET, indent=5))
        text += f'network_config_dir = "{netconf}"\n'
    conf.write_text(text)
    os.chmod(conf, 0o644)
    return conf


class Engines:
    def __init__(self, base: Path, user: str = "") -> None:
        self.base = base
        self.user = user
        conf = podman_conf(base, own_bridge=not user)
        self.penv = dict(os.environ, CONTAINERS_CONF=str(conf))
        self.benv = dict(os.environ)
        if user:
            pw = pwd.getpwnam(user)
            xdg = base / "xdg"
            xdg.mkdir(mode=0o700)
            os.chown(xdg, pw.pw_uid, pw.pw_gid)
            common = {"HOME": pw.pw_dir, "XDG_RUNTIME_DIR": str(xdg), "PATH": os.environ["PATH"]}
            self.penv = dict(common, CONTAINERS_CONF=str(conf))
            self.benv = dict(common)
        # the entry script users run (as bench/run.py does), not `python -m berth`
        self.berth = [str(REPO / ".venv" / "bin" / "berth"), "--root", str(base / "b-root"), "--runroot",
                      str(base / "b-run")]
        self.podman = ["podman", "--root", str(base / "p-root"), "--runroot", str(base / "p-run"),
                       "--tmpdir", str(base / "p-tmp")] + (["--storage-driver", "overlay"] if user else [])

    def b(self, *args: str) -> float:
        dt = timed(self.berth + list(args), self.benv, self.user)
        settle(self.base)
        return dt

    def p(self, *args: str) -> float:
        dt = timed(self.podman + list(args), self.penv, self.user)
        settle(self.base)
        return dt

    def both(self, *args: str) -> None:
        self.b(*args)
        self.p(*args)

    def cleanup(self) -> None:
        for cmd, env in ((self.berth, self.benv), (self.podman, self.penv)):
            try:
                timed(cmd + ["rm", "-af", "-t", "0"], env, self.user)
            except RuntimeError:
                pass


def first_response(port: int, start: float) -> float:
    """Seconds from start to the first HTTP answer on the port.  A raw GET retried every 1 ms: with
    urllib and a 5 ms pause each miss cost ~6 ms, and the engine whose `run -d` returns sooner
    (its httpd not yet listening) paid that quantum more often than the slower one."""
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if s.recv(64).startswith(b"HTTP/"):
                    return time.perf_counter() - start
        except OSError:
            pass
        if time.perf_counter() - start > 20:
            raise RuntimeError(f"no HTTP answer on port {port} after 20 s")
        time.sleep(0.001)


def bench_network(e: Engines, reps: int) -> list[tuple[str, float, float]]:
    rows = []
    b, p = [], []
    for i in range(reps + 1):
        for _label, fn, acc in (("b", e.b, b), ("p", e.p, p))[:: 1 if i % 2 else -1]:
            dt = fn("run", "--rm", "localhost/busybox", "true")
            if i:
                acc.append(dt)
    rows.append(("`run --rm IMG true` (default bridge network)", statistics.median(b), statistics.median(p)))
    b, p = [], []
    for i in range(reps + 1):
        for label, runner, acc in (("b", e.b, b), ("p", e.p, p))[:: 1 if i % 2 else -1]:
            port = free_port("tcp")
            name = f"web{label}{i}"
            argv, env = (e.berth, e.benv) if label == "b" else (e.podman, e.penv)
            t = time.perf_counter()
            # timed() alone, not the runner: its settle() walk of /proc belongs to neither engine
            timed(argv + ["run", "-d", "--name", name, "-p", f"{port}:8080", "localhost/busybox", "httpd",
                          "-f", "-p", "8080", "-h", "/www"], env, e.user)
            dt = first_response(port, t)
            settle(e.base)
            runner("rm", "-f", "-t", "0", name)
            if i:
                acc.append(dt)
    rows.append(("`run -d -p` + first HTTP response", statistics.median(b), statistics.median(p)))
    return rows


COUNTER = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done"
# 200 MB held by the shell (a loop, so ash does not exec the last command and drop the memory)
MEMORY = "x=$(head -c 200000000 /dev/zero | tr '\\000' x); while :; do sleep 1000; done"


def bench_checkpoint(e: Engines, reps: int, base: Path) -> list[tuple[str, float, float, float, float]]:
    """(what, berth checkpoint, berth restore, floor checkpoint, floor restore).

    Each workload is measured with berth's default archive (zstd, as Podman) and with `-c none`,
    whose archive is what the floor's tar writes; the goal is judged on the default rows.  The
    order of berth's two runs and the floor alternates between repetitions, since each run leaves
    200 MB of dirty page cache that the kernel writes back during the next."""
    from berth.oci.checkpoint import find_criu

    criu, _ = find_criu()
    rows = []
    for label, cmd in (("counter", COUNTER), ("200 MB in memory", MEMORY)):
        big = cmd is MEMORY
        times: dict[str, tuple[list[float], list[float]]] = {"zstd": ([], []), "none": ([], [])}
        fck, frs = [], []
        for i in range(reps):
            floor_dir = None
            for comp in ("zstd", "none")[:: 1 if i % 2 else -1]:
                name = f"ck{i}{comp}"
                # --network none: the floor's container has an empty netns too (no netavark on either side)
                e.b("run", "-d", "--name", name, "--network", "none", "localhost/busybox", "sh", "-c", cmd)
                time.sleep(4 if big else 0.5)
                if floor_dir is None:
                    cid = subprocess.run(e.berth + ["inspect", "-f", "{{.Id}}", name], capture_output=True,
                                         text=True).stdout.strip()
                    spec_path = base / "b-root" / "containers" / cid / "userdata" / "config.json"
                    floor_dir = prepare_floor(base / f"floor{i}", json.loads(spec_path.read_text()))
                archive = base / f"{name}.tar"
                times[comp][0].append(e.b("container", "checkpoint", "-c", comp, "-e", str(archive), name))
                e.b("rm", "-f", name)
                times[comp][1].append(e.b("container", "restore", "-i", str(archive)))
                e.b("rm", "-f", "-t", "0", name)
                archive.unlink()
            assert floor_dir is not None
            f1, f2 = floor_checkpoint(floor_dir, criu, big)
            fck.append(f1)
            frs.append(f2)
        for comp, suffix in (("zstd", ""), ("none", " (`-c none`)")):
            ck, rs = times[comp]
            rows.append((label + suffix, statistics.median(ck), statistics.median(rs), statistics.median(fck),
                         statistics.median(frs)))
    return rows


def prepare_floor(d: Path, spec: dict) -> Path:
    """A bundle with berth's own config.json (mounts, seccomp, namespaces) on a plain rootfs copy;
    taken while berth's container exists, since its bind-mounted files go with it."""
    d.mkdir()
    rootfs = d / "rootfs"
    rootfs.mkdir()
    subprocess.run(["tar", "-xf", str(REPO / "images" / "busybox.tar"), "-C", str(rootfs)], check=True)
    spec["root"] = {"path": str(rootfs), "readonly": False}
    for m in spec["mounts"]:
        if m.get("type") == "bind" and os.path.isfile(m["source"]):
            copy = d / ("file-" + m["destination"].strip("/").replace("/", "-"))
            shutil.copy(m["source"], copy)
            m["source"] = str(copy)
    spec["linux"].pop("cgroupsPath", None)
    # runc's own CRIU settings (/etc/criu/runc.conf or none), not berth's per-container file
    (spec.get("annotations") or {}).pop("org.criu.config", None)
    (d / "config.json").write_text(json.dumps(spec))
    return d


def floor_checkpoint(d: Path, criu: str, big: bool) -> tuple[float, float]:
    """Plain `runc checkpoint` + tar, and untar + `runc restore`, of that bundle: no engine at all."""
    state = str(d / "state")
    cid = f"floor-{os.getpid()}-{d.name}"
    # the detached container keeps its stdio, and CRIU cannot dump host files there: /dev/null
    r = subprocess.run(["runc", "--root", state, "run", "-d", cid], cwd=d, stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise RuntimeError(f"floor container {d} did not start")
    time.sleep(4 if big else 0.5)
    t = time.perf_counter()
    subprocess.run(["runc", "--root", state, "--criu", criu, "checkpoint", "--image-path", str(d / "img"),
                    "--work-path", str(d / "work"), cid], check=True, capture_output=True)
    subprocess.run(["tar", "-C", str(d), "-cf", str(d / "img.tar"), "img"], check=True)
    t1 = time.perf_counter() - t
    t = time.perf_counter()
    subprocess.run(["tar", "-C", str(d), "-xf", str(d / "img.tar"), "--one-top-level=img2", "--strip-components=1"],
                   check=True)
    subprocess.run(["runc", "--root", state, "--criu", criu, "restore", "-d", "--image-path", str(d / "img2"),
                    "--work-path", str(d / "work2"), cid], cwd=d, check=True, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t2 = time.perf_counter() - t
    subprocess.run(["runc", "--root", state, "delete", "-f", cid], capture_output=True)
    shutil.rmtree(d, ignore_errors=True)
    return t1, t2


def bench_rootless(e: Engines, reps: int) -> list[tuple[str, float, float]]:
    rows = []
    b, p = [], []
    for i in range(reps + 1):
        for fn, acc in ((e.b, b), (e.p, p))[:: 1 if i % 2 else -1]:
            dt = fn("run", "--rm", "--network", "none", "localhost/busybox", "true")
            if i:
                acc.append(dt)
    rows.append(("rootless `run --rm --network none IMG true`", statistics.median(b), statistics.median(p)))
    for _ in range(20):
        e.both("create", "localhost/busybox", "true")
    b, p = [], []
    for i in range(reps + 1):
        for fn, acc in ((e.b, b), (e.p, p))[:: 1 if i % 2 else -1]:
            dt = fn("ps", "-a")
            if i:
                acc.append(dt)
    rows.append(("rootless `ps -a` (20 containers)", statistics.median(b), statistics.median(p)))
    return rows


def write_section(text: str) -> None:
    path = REPO / "BENCHMARKS.md"
    cur = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{text}\n{END}"
    if BEGIN in cur and END in cur:
        cur = cur[: cur.index(BEGIN)] + block + cur[cur.index(END) + len(END):]
    else:
        cur = cur.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(cur)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="net,ckpt,rootless")
    ap.add_argument("--ckpt-reps", type=int, default=0,
                    help="rounds of the checkpoint rows (default: half of --reps, at least 2)")
    args = ap.parse_args()
    reps = 2 if args.quick else args.reps
    only = set(args.only.split(","))
    tar = REPO / "images" / "busybox.tar"
    lines = ["## Networks, checkpoint and rootless (bench/features.py)", "",
             f"Medians of {reps} alternated runs, wall time in ms; ratio = berth / Podman (lower is better). "
             "The first HTTP response is a raw GET retried every 1 ms from the moment `run -d` is started.", ""]
    if "net" in only:
        base = Path(tempfile.mkdtemp(prefix="bench-net-"))
        e = Engines(base)
        try:
            e.b("import", str(tar), "localhost/busybox")
            e.p("import", str(tar), "localhost/busybox")
            log("network ...")
            rows = bench_network(e, reps)
            lines += ["| root, network | berth | Podman | ratio | goal |", "|---|---|---|---|---|"]
            for what, bv, pv in rows:
                lines.append(f"| {what} | {bv * 1e3:.0f} | {pv * 1e3:.0f} | {bv / pv:.2f} | "
                             f"{'PASS' if bv / pv <= 0.6 else 'MISS'} (≤ 0.6) |")
            lines += ["", "Each engine has its default network on a bridge of its own (Podman's on `pbench0`): berth "
                      "keeps its bridge up between containers (berth/network/bridgekeep.py), Podman has netavark "
                      "remove and rebuild its bridge around every container, as it does on a host of its own.", ""]
        finally:
            e.cleanup()
            try:
                e.b("system", "reset", "-f")  # takes the bridge berth kept up off the host
            except RuntimeError:
                pass
            shutil.rmtree(base, ignore_errors=True)
    if "ckpt" in only:
        base = Path(tempfile.mkdtemp(prefix="bench-ckpt-"))
        e = Engines(base)
        try:
            e.b("import", str(tar), "localhost/busybox")
            log("checkpoint ...")
            rows = bench_checkpoint(e, args.ckpt_reps or max(2, reps // 2), base)
            lines += ["| checkpoint -e / restore -i | berth checkpoint | floor | ratio | berth restore | floor | "
                      "ratio | goal |", "|---|---|---|---|---|---|---|---|"]
            for what, ck, rs, fck, frs in rows:
                ok = ck / fck <= 1.3 and rs / frs <= 1.3
                goal = f"{'PASS' if ok else 'MISS'} (≤ 1.3)" if "-c none" not in what else "(for reference)"
                lines.append(f"| {what} | {ck * 1e3:.0f} | {fck * 1e3:.0f} | {ck / fck:.2f} | {rs * 1e3:.0f} | "
                             f"{frs * 1e3:.0f} | {rs / frs:.2f} | {goal} |")
            lines += ["", "Floor: `runc checkpoint` + `tar` of the images, and untar + `runc restore`, of the "
                      "same container (berth's own config.json: mounts, seccomp, namespaces) on a plain rootfs "
                      "copy: no engine, no archive compression, no rootfs diff, no bookkeeping.  berth's rows "
                      "are the default zstd archive (the goal) and `-c none`; berth removes the CRIU images "
                      "in a background process after export and after restore (the floor keeps its own).  "
                      "The floor runs with runc's own CRIU settings (iptables network lock); berth has CRIU "
                      "skip the lock when there is no `--tcp-established` (no connection to protect) and "
                      "lock through nftables when there is (berth/oci/checkpoint.py write_config).", ""]
        finally:
            e.cleanup()
            shutil.rmtree(base, ignore_errors=True)
    if "rootless" in only:
        try:
            pw = pwd.getpwnam(ROOTLESS_USER)
        except KeyError:
            pw = None
        if pw is None:
            lines += [f"Rootless: skipped, no user {ROOTLESS_USER} (the test suite creates it).", ""]
        else:
            base = Path(tempfile.mkdtemp(prefix="bench-rl-"))
            os.chmod(base, 0o755)
            os.chown(base, pw.pw_uid, pw.pw_gid)
            shutil.copy(tar, base / "bb.tar")
            os.chmod(base / "bb.tar", 0o644)
            e = Engines(base, user=ROOTLESS_USER)
            try:
                e.b("import", str(base / "bb.tar"), "localhost/busybox")
                e.p("import", str(base / "bb.tar"), "localhost/busybox")
                log("rootless ...")
                rows = bench_rootless(e, reps)
                lines += ["| rootless | berth | Podman (`--storage-driver overlay`) | ratio | goal |",
                          "|---|---|---|---|---|"]
                for what, bv, pv in rows:
                    lines.append(f"| {what} | {bv * 1e3:.0f} | {pv * 1e3:.0f} | {bv / pv:.2f} | "
                                 f"{'PASS' if bv / pv <= 0.5 else 'MISS'} (≤ 0.5) |")
                lines.append("")
            finally:
                e.cleanup()
                subprocess.run(["pkill", "-KILL", "-u", ROOTLESS_USER], capture_output=True)
                shutil.rmtree(base, ignore_errors=True)
    write_section("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
