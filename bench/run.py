#!/usr/bin/env python3
"""berth against Podman on the same machine, in the same run: wall time and peak memory.

Both engines get throw-away stores under one temp dir and run the same commands against the
same busybox image, alternating berth and podman (the order flips every round) so both see
the same machine conditions.  The floor is `runc run` of a prepared OCI bundle: what starting
a container costs with no engine at all.  Results go to BENCHMARKS.md.

    .venv/bin/python bench/run.py [--quick] [--reps N] [--out BENCHMARKS.md]

Needs root, podman, runc, conmon; /usr/bin/time (Debian package `time`) for peak memory.
Stdlib only.  Nothing outside the temp dir is configured: podman gets its containers.conf
through CONTAINERS_CONF in its own environment, and its `import` (the one podman command that
writes the blob-info cache under /var/lib/containers) runs in a private mount namespace with
that cache directory bind-mounted from the temp dir.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import io
import itertools
import json
import math
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import procs  # bench/procs.py: the scripts run from bench/, which is first on sys.path

REPO = Path(__file__).resolve().parent.parent
VENV_PY = REPO / ".venv" / "bin" / "python"
BERTH_BIN = REPO / ".venv" / "bin" / "berth"
IMAGE_TAR = REPO / "images" / "busybox.tar"
MKBUSYBOX = REPO / "scripts" / "mkbusybox.sh"
IMAGE = "localhost/busybox"
GNU_TIME = "/usr/bin/time"

# The goals from the issue: berth's median wall time as a fraction of Podman's.
GOAL_RUN = 0.5
GOAL_PS = 0.25
GOAL_PS_COUNT = 500

T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


@dataclass
class Result:
    rc: int
    out: str
    err: str
    secs: float
    cpu: float = 0.0  # user+sys of the command and the descendants it reaped

    @property
    def ok(self) -> bool:
        return self.rc == 0


def execute(argv: list[str], env: dict[str, str], timeout: float = 300.0) -> Result:
    """Run argv, wall-timed with perf_counter.  Output goes to temp files, not pipes, so a
    daemonizing grandchild (conmon) that kept a pipe open could never stretch the timing."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        # Not subprocess.run(timeout=...): with a timeout, Popen.wait polls with sleeps growing to
        # 50 ms, which rounded every measurement up to the next tick (1, 3, 7, ... 63, 113, 163 ms).
        # A blocking wait returns when the child exits; a timer kills it if it never does.
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env)
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            rc = proc.wait()
        finally:
            timer.cancel()
        secs = time.perf_counter() - t0
        if expired.is_set():
            rc = -1000
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        out.seek(0)
        err.seek(0)
        o = out.read().decode(errors="replace")
        e = err.read().decode(errors="replace")
    if rc == -1000:
        e = f"timed out after {timeout:.0f}s\n{e}"
    return Result(rc, o, e, secs, cpu)


@dataclass
class Engine:
    name: str
    base: list[str]
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [*self.base, *args]


def rotate(seq: list, i: int) -> list:
    """The i-th ordering of seq, cycling through all of them (both for two, all six for three),
    so no engine is always first or always runs right after the same other one."""
    orders = list(itertools.permutations(seq))
    return list(orders[i % len(orders)])


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def p90(xs: list[float]) -> float:
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else "?"


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.quick = args.quick
        self.reps = args.reps if args.reps else (3 if self.quick else 12)
        self.mem_reps = min(self.reps, 2 if self.quick else 5)
        if args.ps_counts:
            self.ps_counts = sorted({int(x) for x in args.ps_counts.split(",")})
        else:
            self.ps_counts = [0, 10] if self.quick else [0, 100, GOAL_PS_COUNT]
        self.batch = 10 if self.quick else 25
        self.dir = Path(tempfile.mkdtemp(prefix="berth-bench-"))
        self.marker = str(self.dir).encode()
        self.samples: dict[tuple[str, str], list[float]] = {}
        self.failures: dict[tuple[str, str], list[str]] = {}
        self.notes: list[str] = []
        self.info: dict[str, str] = {}
        self.engines: list[Engine] = []
        self.berth: Engine | None = None
        self.podman: Engine | None = None
        self.floor: Engine | None = None
        self.floor_n = 0
        self.image_tar = IMAGE_TAR
        self.cgroups_before = self._cgroup_entries()
        # wall-clock windows in which this script starts containers (the ps phase only creates)
        self.start_windows: list[list[float]] = []
        self.loads: list[tuple[str, float]] = [("start", os.getloadavg()[0])]

    # ---- bookkeeping -------------------------------------------------------------------------

    def add(self, key: str, engine: Engine, value: float) -> None:
        self.samples.setdefault((key, engine.name), []).append(value)

    def fail(self, key: str, engine: Engine, argv: list[str], r: Result) -> None:
        msgs = self.failures.setdefault((key, engine.name), [])
        tail = " | ".join(r.err.strip().splitlines()[-3:]) or r.out.strip()[-200:]
        msgs.append(f"exit {r.rc}: {tail}")
        if len(msgs) <= 3:
            log(f"FAILED ({engine.name} {key}): {' '.join(argv[len(engine.base):])}: exit {r.rc}: {tail}")

    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)
        log(f"note: {msg}")

    def measure(self, key: str, engine: Engine, args: list[str], record: bool = True) -> Result:
        argv = engine.argv(*args)
        r = execute(argv, engine.env)
        if not r.ok:
            self.fail(key, engine, argv, r)
        elif record:
            self.add(key, engine, r.secs)
            self.add("cpu:" + key, engine, r.cpu)
        return r

    def call(self, engine: Engine, args: list[str], what: str = "", timeout: float = 300.0) -> Result:
        """An untimed helper command; failures are recorded under `what` if given."""
        argv = engine.argv(*args)
        r = execute(argv, engine.env, timeout=timeout)
        if not r.ok and what:
            self.fail(what, engine, argv, r)
        return r

    # ---- quiescence --------------------------------------------------------------------------

    def _busy(self, ids: tuple[str, ...]) -> list[tuple[int, str]]:
        return [(pid, procs.shown(cmd)) for pid, cmd in procs.cmdlines()
                if any(i.encode() in cmd for i in ids) or (self.marker in cmd and procs.program(cmd) != b"conmon")]

    def settle(self, ids: tuple[str, ...] = (), timeout: float = 30.0) -> None:
        """Wait until no helper process of ours is still working in the background: no process
        naming the temp dir except the conmons of running containers, and none at all naming
        one of `ids` (containers just stopped, whose conmon must exit).  Keeps one engine's
        background cleanup out of the next measurement."""
        deadline = time.monotonic() + timeout
        while True:
            busy = self._busy(ids)
            if not busy:
                return
            if time.monotonic() > deadline:
                self.note(f"processes still busy {timeout:.0f}s after a command: "
                          + "; ".join(f"{p} {c}" for p, c in busy[:3]))
                return
            time.sleep(0.005)

    # ---- setup -------------------------------------------------------------------------------

    def preflight(self) -> None:
        if os.geteuid() != 0:
            raise BenchError("run as root: both engines are compared rootful")
        for tool in ("podman", "runc", "conmon", "tar", "unshare", "mount", "umount"):
            if not shutil.which(tool):
                raise BenchError(f"{tool} not found in PATH")
        if not BERTH_BIN.exists() or not VENV_PY.exists():
            raise BenchError(f"{BERTH_BIN} missing: run `make install` first")
        with open(BERTH_BIN) as f:
            shebang = f.readline()[2:].strip().split()[0]
        if "/shims/" in shebang or "/shims/" in os.path.realpath(shebang):
            raise BenchError(f"{BERTH_BIN} runs through a shim ({shebang}); recreate the venv")
        self.info["berth_python"] = os.path.realpath(shebang)

    def setup(self) -> None:
        d = self.dir
        log(f"temp dir {d}")
        for sub in ("berth", "podman/tmp", "podman/cache", "runc", "bundle/rootfs"):
            (d / sub).mkdir(parents=True, exist_ok=True)

        log("compiling berth (PYTHONDONTWRITEBYTECODE is set on this machine)")
        self.src_start = src_fingerprint()
        self.compile()

        base_env = {k: v for k, v in os.environ.items() if k != "CONTAINERS_CONF"}
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
        nofile = 1048576 if nofile == resource.RLIM_INFINITY else nofile
        nproc = 4096 if nproc == resource.RLIM_INFINITY else min(nproc, 4096)
        conf = d / "podman" / "containers.conf"
        conf.write_text(
            "[containers]\n"
            f'default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n\n'
            "[engine]\n"
            'runtime = "runc"\n'
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n\n'
            "[network]\n"
            'network_backend = "netavark"\n'
        )
        self.berth = Engine("berth", [str(BERTH_BIN), "--root", str(d / "berth/root"),
                                      "--runroot", str(d / "berth/run")], base_env)
        self.podman = Engine("podman", ["podman", "--root", str(d / "podman/root"),
                                        "--runroot", str(d / "podman/run"),
                                        "--tmpdir", str(d / "podman/tmp")],
                             {**base_env, "CONTAINERS_CONF": str(conf)})
        self.floor = Engine("floor", ["runc", "--root", str(d / "runc")], base_env)
        self.engines = [self.berth, self.podman]

        self.image_tar = self.ensure_image()
        log(f"image {self.image_tar}")
        r = self.call(self.berth, ["import", str(self.image_tar), IMAGE])
        if not r.ok:
            raise BenchError(f"berth import failed (exit {r.rc}):\n{r.err}")
        r = self.podman_import()
        if not r.ok:
            raise BenchError(f"podman import failed (exit {r.rc}):\n{r.err}")

        for eng in self.engines:
            r = self.call(eng, ["run", "--rm", "--network", "none", IMAGE, "true"])
            if not r.ok:
                hint = ""
                if eng is self.podman:
                    hint = ("\npodman here needs runc, cgroupfs and ulimits within the hard limits; "
                            f"see {conf}")
                raise BenchError(f"`{eng.name} run --rm --network none {IMAGE} true` does not work "
                                 f"(exit {r.rc}):\n{r.err.strip()}{hint}")
        log("both engines run the image")
        self.make_bundle()
        self.collect_info()

    def compile(self) -> None:
        """Byte-compile berth: this machine sets PYTHONDONTWRITEBYTECODE, so a stale or missing
        .pyc would be recompiled in memory by every single berth command.  Repeated before each
        phase in case someone edits berth while the benchmark runs."""
        r = execute([str(VENV_PY), "-m", "compileall", "-q", str(REPO / "berth")], dict(os.environ))
        if not r.ok:
            raise BenchError(f"compileall failed: {r.err or r.out}")

    def ensure_image(self) -> Path:
        if IMAGE_TAR.exists():
            return IMAGE_TAR
        if MKBUSYBOX.exists():
            log(f"building {IMAGE_TAR} with {MKBUSYBOX.relative_to(REPO)}")
            IMAGE_TAR.parent.mkdir(exist_ok=True)
            r = execute([str(MKBUSYBOX), str(IMAGE_TAR)], dict(os.environ))
            if r.ok and IMAGE_TAR.exists():
                return IMAGE_TAR
            raise BenchError(f"{MKBUSYBOX} failed: {r.err}")
        dest = self.dir / "busybox.tar"
        log(f"no {MKBUSYBOX.relative_to(REPO)}: building a busybox rootfs tar at {dest}")
        build_busybox_tar(dest)
        return dest

    def podman_import(self) -> Result:
        """`podman import` records the layer in containers/image's blob-info cache, which for
        root is /var/lib/containers/cache whatever --root says.  Run it in a private mount
        namespace with that directory (or the nearest existing parent) covered by one of ours."""
        assert self.podman is not None
        target = "/var/lib/containers/cache"
        while not os.path.isdir(target):
            target = os.path.dirname(target)
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                str(self.dir / "podman/cache"), target,
                *self.podman.argv("import", str(self.image_tar), IMAGE)]
        return execute(argv, self.podman.env)

    def make_bundle(self) -> None:
        assert self.floor is not None
        b = self.dir / "bundle"
        r = execute(["tar", "-C", str(b / "rootfs"), "-xf", str(self.image_tar)], dict(os.environ))
        if not r.ok:
            raise BenchError(f"extracting the rootfs failed: {r.err}")
        r = execute(["runc", "spec", "--bundle", str(b)], dict(os.environ))
        if not r.ok:
            raise BenchError(f"runc spec failed: {r.err}")
        spec = json.loads((b / "config.json").read_text())
        spec["process"]["args"] = ["true"]
        spec["process"]["terminal"] = False
        (b / "config.json").write_text(json.dumps(spec, indent=2))
        r = self.run_floor(record=False)
        if not r.ok:
            raise BenchError(f"runc run of the bundle failed: {r.err}")

    def floor_argv(self) -> list[str]:
        assert self.floor is not None
        self.floor_n += 1
        return self.floor.argv("run", "--bundle", str(self.dir / "bundle"), f"bench-floor-{self.floor_n}")

    def run_floor(self, record: bool = True, key: str = "run") -> Result:
        assert self.floor is not None
        argv = self.floor_argv()
        r = execute(argv, self.floor.env)
        if not r.ok:
            self.fail(key, self.floor, argv, r)
        elif record:
            self.add(key, self.floor, r.secs)
            self.add("cpu:" + key, self.floor, r.cpu)
        return r

    def collect_info(self) -> None:
        assert self.berth and self.podman
        env = dict(os.environ)
        r = self.call(self.berth, ["version"])
        ver = [ln.split(":", 1)[1].strip() for ln in r.out.splitlines() if ln.startswith("Version:")]
        self.info["berth"] = ver[0] if ver else first_line(r.out)
        self.info["podman"] = first_line(self.call(self.podman, ["--version"]).out)
        self.info["runc"] = first_line(execute(["runc", "--version"], env).out)
        self.info["conmon"] = first_line(execute(["conmon", "--version"], env).out)
        self.info["python"] = first_line(execute([str(VENV_PY), "-VV"], env).out)
        self.info["kernel"] = platform.release()
        self.info["cpus"] = str(os.cpu_count())
        model = ""
        try:
            with open("/proc/cpuinfo") as f:
                model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
        except OSError:
            pass
        self.info["cpu_model"] = model or platform.machine()
        try:
            with open("/proc/meminfo") as f:
                kb = int(f.readline().split()[1])
            self.info["memory"] = f"{kb / 1024 / 1024:.1f} GiB"
        except (OSError, ValueError, IndexError):
            self.info["memory"] = "?"
        self.info["fs"] = fs_of(str(self.dir))
        bi = self.call(self.berth, ["info"]).out
        drv = [ln.split(":", 1)[1].strip() for ln in bi.splitlines() if "graphDriverName" in ln]
        self.info["berth_driver"] = drv[0] if drv else "?"
        pi = self.call(self.podman, ["info", "--format", "{{.Store.GraphDriverName}}"]).out.strip()
        self.info["podman_driver"] = pi or "?"
        self.info["date"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        self.info["host"] = platform.node()

    # ---- measurements ------------------------------------------------------------------------

    def round_ops(self, i: int, record: bool) -> None:
        """One round of the single-container operations, each engine in turn (order flips)."""
        assert self.berth and self.podman and self.floor
        run_args = ["run", "--rm", "--network", "none", IMAGE, "true"]

        # 1. run --rm, beside the floor
        for eng in rotate([self.berth, self.podman, self.floor], i):
            if eng is self.floor:
                self.run_floor(record)
            else:
                self.measure("run", eng, run_args, record)
            self.settle()

        engines = rotate(self.engines, i)

        # 2. create (removed untimed)
        created: dict[str, str] = {}
        for eng in engines:
            r = self.measure("create", eng, ["create", IMAGE, "true"], record)
            if r.ok:
                created[eng.name] = r.out.strip().splitlines()[-1]
        for eng in engines:
            if eng.name in created:
                self.call(eng, ["rm", created[eng.name]], what="rm (untimed cleanup)")
        self.settle()

        # 3-5. start, exec, stop -t 0, rm of one `sleep 1000` container per engine
        cids: dict[str, str] = {}
        for eng in engines:
            r = self.call(eng, ["create", "--network", "none", IMAGE, "sleep", "1000"],
                          what="create sleep (untimed)")
            if r.ok:
                cids[eng.name] = r.out.strip().splitlines()[-1]
        self.settle()
        for key, args in (("start", ["start"]), ("exec", ["exec", "{}", "true"]), ("stop", ["stop", "-t", "0"])):
            for eng in engines:
                cid = cids.get(eng.name)
                if not cid:
                    continue
                argv = [a.replace("{}", cid) for a in args] if "{}" in args else [*args, cid]
                r = self.measure(key, eng, argv, record)
                if not r.ok and key != "exec":
                    self.call(eng, ["rm", "-f", "-t", "0", cid])
                    del cids[eng.name]
                self.settle((cid,) if key == "stop" else ())
        for eng in engines:
            cid = cids.get(eng.name)
            if cid:
                r = self.measure("rm", eng, ["rm", cid], record)
                if not r.ok:
                    self.call(eng, ["rm", "-f", "-t", "0", cid])
                self.settle()

    def mem_rounds(self) -> None:
        assert self.berth and self.podman and self.floor
        if not os.access(GNU_TIME, os.X_OK):
            self.note(f"{GNU_TIME} missing (Debian package `time`): peak memory not measured")
            return
        for i in range(self.mem_reps):
            for eng in rotate([self.berth, self.podman, self.floor], i):
                if eng is self.floor:
                    self.mem_one("mem_run", eng, self.floor_argv())
                else:
                    self.mem_one("mem_run", eng, eng.argv("run", "--rm", "--network", "none", IMAGE, "true"))
                self.settle()

    def mem_one(self, key: str, eng: Engine, argv: list[str]) -> None:
        out = self.dir / "maxrss"
        r = execute([GNU_TIME, "-f", "%M", "-o", str(out), *argv], eng.env)
        if not r.ok:
            self.fail(key, eng, argv, r)
            return
        try:
            self.add(key, eng, float(out.read_text().strip().splitlines()[-1]))
        except (OSError, ValueError, IndexError) as e:
            self.note(f"could not read {GNU_TIME} output for {eng.name}: {e}")

    def count(self, eng: Engine) -> int:
        r = self.call(eng, ["ps", "-a", "-q"], what="ps -a -q (count)")
        return len(r.out.split()) if r.ok else -1

    def ps_rounds(self) -> None:
        assert self.berth and self.podman
        for eng in self.engines:
            self.call(eng, ["rm", "-af", "-t", "0"], what="rm -af (before ps)")
        self.settle()
        have = {e.name: self.count(e) for e in self.engines}
        for e in self.engines:
            if have[e.name] != 0:
                self.note(f"{e.name}: {have[e.name]} containers left before the ps test (expected 0)")
                have[e.name] = max(have[e.name], 0)
        prev = 0
        for target in self.ps_counts:
            t_fill = time.perf_counter()
            b = 0
            fill_key = f"create_fill:{prev}:{target}"
            while any(have[e.name] < target for e in self.engines):
                for eng in rotate(self.engines, b):
                    for _ in range(min(self.batch, target - have[eng.name])):
                        r = self.measure(fill_key, eng, ["create", IMAGE, "true"])
                        if r.ok:
                            have[eng.name] += 1
                        elif len(self.failures.get((fill_key, eng.name), [])) > 20:
                            raise BenchError(f"{eng.name} create keeps failing while filling the store")
                b += 1
            if target > prev:
                log(f"stores filled to {target} containers in {time.perf_counter() - t_fill:.0f}s")
            self.settle()
            for eng in self.engines:
                n = self.count(eng)
                if n != target:
                    self.note(f"{eng.name} ps -a -q lists {n} containers, expected {target}")
            key = f"ps:{target}"
            for eng in self.engines:  # warm-up, and check the listing
                r = self.measure(key, eng, ["ps", "-a"], record=False)
                lines = len([ln for ln in r.out.splitlines() if ln.strip()])
                if r.ok and lines != target + 1:
                    self.note(f"{eng.name} ps -a printed {lines} lines with {target} containers "
                              f"(expected {target + 1} with the header)")
            for i in range(self.reps):
                for eng in rotate(self.engines, i):
                    self.measure(key, eng, ["ps", "-a"])
            log(f"ps -a with {target} containers: " + ", ".join(
                f"{e.name} {median(self.samples.get((key, e.name), [math.nan])) * 1000:.0f} ms"
                for e in self.engines))
            prev = target
        top = self.ps_counts[-1]
        if os.access(GNU_TIME, os.X_OK):
            for i in range(self.mem_reps):
                for eng in rotate(self.engines, i):
                    self.mem_one(f"mem_ps:{top}", eng, eng.argv("ps", "-a"))
        # rm -af of the full store: one sample each, informational
        for eng in rotate(self.engines, 1):
            r = self.measure(f"rmall:{top}", eng, ["rm", "-af"])
            self.settle()
            if r.ok:
                log(f"{eng.name} rm -af of {top} containers: {r.secs:.1f}s")
        for eng in self.engines:
            n = self.count(eng)
            if n != 0:
                self.note(f"{eng.name}: {n} containers still listed after rm -af")

    # ---- cleanup -----------------------------------------------------------------------------

    def _cgroup_entries(self) -> set[str]:
        found = set()
        for parent in ("berth_parent", "libpod_parent"):
            base = f"/sys/fs/cgroup/memory/{parent}"
            if not os.path.isdir(base):
                base = f"/sys/fs/cgroup/{parent}"
            try:
                found |= {f"{parent}/{n}" for n in os.listdir(base)
                          if n.startswith(("berth-", "libpod-")) and os.path.isdir(os.path.join(base, n))}
            except OSError:
                pass
        return found

    def cleanup(self) -> None:
        log("cleaning up")
        for eng in self.engines:
            r = self.call(eng, ["rm", "-af", "-t", "0"], timeout=600)
            if not r.ok:
                self.note(f"cleanup: {eng.name} rm -af failed: exit {r.rc}: {r.err.strip()[-300:]}")
        if self.floor:
            r = self.call(self.floor, ["list", "-q"])
            for cid in r.out.split():
                self.call(self.floor, ["delete", "--force", cid])
        self.settle(timeout=20)
        leftovers = self._busy(())
        for pid, cmd in leftovers:
            self.note(f"cleanup: killing leftover process {pid}: {cmd}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid, cmd in self._conmons():
            self.note(f"cleanup: killing leftover conmon {pid}: {cmd}")
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        mounts = mounts_under(str(self.dir))
        for m in sorted(mounts, key=len, reverse=True):
            if execute(["umount", m], dict(os.environ)).rc != 0:
                execute(["umount", "-l", m], dict(os.environ))
        left = mounts_under(str(self.dir))
        if left:
            self.note(f"cleanup: could not unmount {left}")
        shutil.rmtree(self.dir, ignore_errors=True)
        if self.dir.exists():
            self.note(f"cleanup: could not delete {self.dir}")
        if self.start_windows and self.start_windows[-1][1] == 0:
            self.start_windows[-1][1] = time.time()
        new = sorted(n for n in self._cgroup_entries() - self.cgroups_before
                     if _cgroup_empty(n) and self._in_start_window(n))
        if new:
            self.note(f"empty container cgroups created while this script was starting containers and "
                      f"still there after cleanup ({len(new)}; another user of this machine could also "
                      f"own them): {', '.join(n[:40] for n in new[:5])}")

    def _in_start_window(self, entry: str) -> bool:
        for base in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
            try:
                born = os.stat(f"{base}/{entry}").st_mtime
                break
            except OSError:
                continue
        else:
            return True
        return any(t0 - 1 <= born <= t1 + 1 for t0, t1 in self.start_windows)

    def _conmons(self) -> list[tuple[int, str]]:
        return [(pid, procs.shown(cmd)) for pid, cmd in procs.cmdlines() if self.marker in cmd]

    # ---- main --------------------------------------------------------------------------------

    def run(self) -> None:
        self.preflight()
        self.start_windows.append([time.time(), 0.0])
        self.setup()
        log(f"warm-up round, then {self.reps} rounds of run/create/start/exec/stop/rm")
        self.round_ops(0, record=False)
        t = time.perf_counter()
        for i in range(self.reps):
            self.round_ops(i, record=True)
            if i == 0:
                est = (time.perf_counter() - t) * self.reps
                log(f"round 1 done; all {self.reps} rounds take ~{est:.0f}s")
        log(f"single-container operations done in {time.perf_counter() - t:.0f}s")
        self.loads.append(("after the single-container rounds", os.getloadavg()[0]))
        log(f"peak memory: {self.mem_reps} rounds")
        self.compile()
        self.mem_rounds()
        self.start_windows[-1][1] = time.time()
        log(f"ps -a with {', '.join(map(str, self.ps_counts))} containers")
        self.compile()
        self.ps_rounds()
        self.loads.append(("end", os.getloadavg()[0]))
        src_end = src_fingerprint()
        self.info["berth_src"] = f"{self.src_start[0]} ({self.src_start[1]} .py files under berth/)"
        if src_end != self.src_start:
            self.note(f"berth's sources changed while the benchmark ran ({self.src_start[0]} → {src_end[0]}): "
                      "the berth numbers may mix two versions of the code")


def _cgroup_empty(entry: str) -> bool:
    for base in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup"):
        try:
            with open(f"{base}/{entry}/cgroup.procs") as f:
                return not f.read().strip()
        except OSError:
            continue
    return False


def src_fingerprint() -> tuple[str, int]:
    """sha256 over berth's .py files (names and contents), to tie the numbers to a version."""
    h = hashlib.sha256()
    files = sorted((REPO / "berth").rglob("*.py"))
    for p in files:
        h.update(str(p.relative_to(REPO)).encode() + b"\0")
        try:
            h.update(p.read_bytes())
        except OSError:
            pass
    return h.hexdigest()[:12], len(files)


def mounts_under(path: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for ln in f:
            mp = ln.split(" ")[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def fs_of(path: str) -> str:
    best, kind = "", "?"
    with open("/proc/self/mounts") as f:
        for ln in f:
            parts = ln.split()
            mp = parts[1]
            if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) >= len(best):
                best, kind = mp, f"{parts[2]} ({parts[0]} on {mp})"
    return kind


def build_busybox_tar(dest: Path) -> None:
    """A minimal rootfs: the host's static busybox, its applet links, passwd and group."""
    bb = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(bb):
        raise BenchError("no busybox binary (apt-get install busybox-static)")
    r = subprocess.run([bb, "--list-full"], capture_output=True, text=True)
    applets = [a.strip("/") for a in r.stdout.split() if a.strip("/") != "bin/busybox"]
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "dev", "proc", "sys", "tmp", "root", "var"}
    for a in applets:
        p = os.path.dirname(a)
        while p:
            dirs.add(p)
            p = os.path.dirname(p)
    now = int(time.time())

    def info(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.size, ti.linkname, ti.mtime = kind, mode, size, link, now
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        return ti

    files = {"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
             "etc/group": b"root:x:0:\nnobody:x:65534:\n"}
    with tarfile.open(dest, "w") as tf:
        for d in sorted(dirs):
            tf.addfile(info(d, tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755))
        with open(bb, "rb") as f:
            tf.addfile(info("bin/busybox", tarfile.REGTYPE, 0o755, os.path.getsize(bb)), f)
        for a in applets:
            tf.addfile(info(a, tarfile.SYMTYPE, 0o777, link="/bin/busybox"))
        for name, data in files.items():
            tf.addfile(info(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))


# ---- report ------------------------------------------------------------------------------------

OPS = [
    ("run", "`run --rm --network none localhost/busybox true`"),
    ("create", "`create localhost/busybox true`"),
    ("start", "`start CTR` (created with `--network none … sleep 1000`)"),
    ("exec", "`exec CTR true` (running `sleep 1000`)"),
    ("stop", "`stop -t 0 CTR` (running `sleep 1000`)"),
    ("rm", "`rm CTR` (stopped container)"),
]


def ms(x: float | None) -> str:
    return "—" if x is None or math.isnan(x) else f"{x * 1000:.1f}"


def write_report(b: Bench, out: Path, elapsed: float) -> list[str]:
    """Write BENCHMARKS.md; returns the goal lines for the console."""
    assert b.berth and b.podman and b.floor
    S = b.samples

    def stat(key: str, name: str, fn) -> float | None:
        xs = S.get((key, name))
        return fn(xs) if xs else None

    def n_of(key: str) -> str:
        ns = sorted({len(S.get((key, e), [])) for e in ("berth", "podman", "floor") if (key, e) in S})
        return "/".join(map(str, ns)) or "0"

    def ratio(key: str) -> float | None:
        bm, pm = stat(key, "berth", median), stat(key, "podman", median)
        return bm / pm if bm is not None and pm else None

    def rtxt(r: float | None) -> str:
        return "—" if r is None else f"{r:.2f}x"

    L: list[str] = []
    info = b.info
    L.append("# berth vs Podman benchmarks")
    L.append("")
    if b.quick:
        L.append("> **Quick smoke run (`--quick`): few repetitions and a small store; not representative.**")
        L.append("")
    L.append(f"Generated by `bench/run.py` on {info.get('date', '?')} in {elapsed / 60:.1f} min. "
             f"Wall time is measured around `subprocess.run` of each CLI command; medians and p90 over "
             f"{b.reps} runs per engine after one warm-up; berth and podman alternate command by command "
             "and the order flips every round. Times in milliseconds.")
    L.append("")
    L.append("## Machine and versions")
    L.append("")
    L.append("| | |")
    L.append("|---|---|")
    rows = [
        ("berth", f"{info.get('berth', '?')} (`.venv/bin/berth`, {info.get('python', '?')}, bytecode precompiled)"),
        ("berth sources", f"sha256 {info.get('berth_src', '?')}"),
        ("podman", info.get("podman", "?")),
        ("runc", info.get("runc", "?")),
        ("conmon", info.get("conmon", "?")),
        ("kernel", info.get("kernel", "?")),
        ("CPUs", f"{info.get('cpus', '?')} × {info.get('cpu_model', '?')}"),
        ("memory", info.get("memory", "?")),
        ("stores", f"temp dir on {info.get('fs', '?')}; storage driver berth: "
                   f"{info.get('berth_driver', '?')}, podman: {info.get('podman_driver', '?')}"),
        ("podman config", "runc, cgroupfs, file events logger, default_ulimits within the hard limits "
                          "(CONTAINERS_CONF in podman's environment only)"),
        ("load average (1 min)", ", ".join(f"{v:.1f} {k}" for k, v in b.loads)),
    ]
    for k, v in rows:
        L.append(f"| {k} | {v} |")
    L.append("")

    cpus = os.cpu_count() or 1
    busiest = max(v for _, v in b.loads)
    if busiest > cpus * 0.75:
        L.append(f"> The machine was busy with other work while this ran (1-minute load average up to "
                 f"{busiest:.1f} on {cpus} CPUs): absolute times are inflated, and a CLI that needs more "
                 "CPU suffers more. berth and podman ran alternately, so both saw the same conditions; "
                 "the CPU-time table is the least load-sensitive view.")
        L.append("")

    # goals
    goal_lines = []
    L.append("## Goals")
    L.append("")
    L.append("| Goal | berth median | podman median | berth/podman | target | result |")
    L.append("|---|---:|---:|---:|---:|:---:|")
    top = b.ps_counts[-1]
    for label, key, target in (("`run --rm` wall time", "run", GOAL_RUN),
                               (f"`ps -a` with {GOAL_PS_COUNT} containers", f"ps:{GOAL_PS_COUNT}", GOAL_PS)):
        r = ratio(key)
        if r is None:
            res = "n/a" if key not in {k for k, _ in S} else "MISS"
            if key.startswith("ps:") and GOAL_PS_COUNT not in b.ps_counts:
                res = f"n/a (largest store measured: {top})"
        else:
            res = "PASS" if r <= target else "MISS"
        L.append(f"| {label} | {ms(stat(key, 'berth', median))} | {ms(stat(key, 'podman', median))} | "
                 f"{rtxt(r)} | ≤ {target:.2f}x | **{res}** |")
        goal_lines.append(f"{label}: berth/podman = {rtxt(r)} (target ≤ {target:.2f}x): {res}")
    L.append("")

    # wall time
    L.append("## Wall time (ms)")
    L.append("")
    L.append("| Operation | n | berth median | berth p90 | podman median | podman p90 | berth/podman |")
    L.append("|---|---:|---:|---:|---:|---:|---:|")
    rows_keys = [(k, label) for k, label in OPS]
    rows_keys += [(f"ps:{c}", f"`ps -a`, {c} containers in the store") for c in b.ps_counts]
    for key, label in rows_keys:
        L.append(f"| {label} | {n_of(key)} | {ms(stat(key, 'berth', median))} | {ms(stat(key, 'berth', p90))} | "
                 f"{ms(stat(key, 'podman', median))} | {ms(stat(key, 'podman', p90))} | {rtxt(ratio(key))} |")
    L.append("")

    # cpu
    L.append("## CPU time (user + sys, ms, median)")
    L.append("")
    L.append("CPU time of the CLI command and of the processes it waited for (`getrusage(RUSAGE_CHILDREN)` "
             "deltas). Detached work is not included: conmon, the container itself, and the cleanup "
             "command conmon runs when a container exits. Less sensitive than wall time to other load on "
             "the machine; with 2 cores, a CLI that burns more CPU also leaves less for everything else.")
    L.append("")
    L.append("| Operation | berth | podman | berth/podman |")
    L.append("|---|---:|---:|---:|")
    for key, label in rows_keys:
        ck = "cpu:" + key
        L.append(f"| {label} | {ms(stat(ck, 'berth', median))} | {ms(stat(ck, 'podman', median))} | "
                 f"{rtxt(ratio(ck))} |")
    L.append(f"| floor: `runc run` of the bundle | {ms(stat('cpu:run', 'floor', median))} (runc) | | |")
    L.append("")

    # floor
    fm, fp = stat("run", "floor", median), stat("run", "floor", p90)
    bm, pm = stat("run", "berth", median), stat("run", "podman", median)
    L.append("## The floor: `runc run` of a prepared bundle")
    L.append("")
    L.append("The same busybox rootfs extracted into an OCI bundle, `config.json` from `runc spec` with "
             "`args: [\"true\"]` and `terminal: false` (default namespaces, including a new network "
             "namespace), a new container id per run. No engine, no image store, no conmon: what "
             "`run --rm` cannot go below. Measured interleaved with the `run --rm` rows above.")
    L.append("")
    L.append("| | n | median | p90 | run --rm median − floor | run --rm median / floor |")
    L.append("|---|---:|---:|---:|---:|---:|")
    L.append(f"| `runc run` (floor) | {len(S.get(('run', 'floor'), []))} | {ms(fm)} | {ms(fp)} | | |")
    for name, m in (("berth", bm), ("podman", pm)):
        over = ms(m - fm) if m is not None and fm is not None else "—"
        times = f"{m / fm:.1f}x" if m is not None and fm else "—"
        L.append(f"| {name} `run --rm` | | {ms(m)} | {ms(stat('run', name, p90))} | {over} | {times} |")
    L.append("")

    # memory
    L.append("## Peak memory (max RSS, KiB)")
    L.append("")
    if any(k.startswith("mem_") for k, _ in S):
        L.append(f"`{GNU_TIME} -f %M` around the CLI command; median and max over {b.mem_reps} runs each.")
        L.append("")
        L.append("| Command | berth median | berth max | podman median | podman max | berth/podman |")
        L.append("|---|---:|---:|---:|---:|---:|")

        def kib(x: float | None) -> str:
            return "—" if x is None else f"{x:,.0f}"

        for key, label in (("mem_run", "`run --rm --network none … true`"),
                           (f"mem_ps:{top}", f"`ps -a`, {top} containers")):
            r = ratio(key)
            L.append(f"| {label} | {kib(stat(key, 'berth', median))} | {kib(stat(key, 'berth', max))} | "
                     f"{kib(stat(key, 'podman', median))} | {kib(stat(key, 'podman', max))} | {rtxt(r)} |")
        fmem = stat("mem_run", "floor", median)
        L.append(f"| floor: `runc run` | | | | | {kib(fmem)} (runc) |")
        L.append("")
        L.append("`%M` is `ru_maxrss` from `wait4()`: the larger of the CLI process's own peak and that of "
                 "any descendant it reaped. The descendants either CLI waits for are short-lived "
                 "`runc` commands (see the floor row for how big runc gets) and the first conmon "
                 "process; conmon's long-lived child and the container are reaped elsewhere. So the "
                 "numbers above the runc row are the CLI process itself.")
    else:
        L.append("Not measured (no /usr/bin/time).")
    L.append("")

    # extras
    L.append("## Filling the store, and emptying it")
    L.append("")
    L.append("| | berth median | podman median | berth/podman |")
    L.append("|---|---:|---:|---:|")
    prev = 0
    for c in b.ps_counts:
        key = f"create_fill:{prev}:{c}"
        if (key, "berth") in S or (key, "podman") in S:
            L.append(f"| `create` while the store grows {prev} → {c} (n = {n_of(key)}) | "
                     f"{ms(stat(key, 'berth', median))} | {ms(stat(key, 'podman', median))} | {rtxt(ratio(key))} |")
        prev = c
    key = f"rmall:{top}"
    L.append(f"| `rm -af` of {top} created containers (one run each) | {ms(stat(key, 'berth', median))} | "
             f"{ms(stat(key, 'podman', median))} | {rtxt(ratio(key))} |")
    L.append("")

    # method
    L.append("## Method")
    L.append("")
    for line in (
        "Each engine has its own store in one temp dir: berth `--root D/berth/root --runroot D/berth/run`; "
        "podman `--root D/podman/root --runroot D/podman/run --tmpdir D/podman/tmp` (without "
        "`--tmpdir` podman uses the shared /run/libpod). Nothing under /var/lib/containers, "
        "/var/lib/berth or /etc is changed; podman's `import` runs in a private mount namespace so its "
        "blob-info cache lands in the temp dir instead of /var/lib/containers/cache.",
        "Shared state podman still uses with its own store (checked with strace): runc's default "
        "state root /run/runc (per-container, removed again), short-lived temp files in /var/tmp, "
        "/etc/containers/networks/netavark.lock and the /dev/shm/libpod_lock segment. berth's runc "
        "state is under its runroot.",
        "Image: `images/busybox.tar` imported into both as `localhost/busybox`.",
        "Containers that get started use `--network none` on both engines (no bridge, netavark or "
        "iptables work in the numbers); `create … true` containers use each engine's default.",
        "Between commands the script waits, untimed, until no process naming the temp dir is left "
        "except the conmons of running containers, so one engine's background cleanup (the conmon "
        "exit command, `container cleanup`) never overlaps the other engine's measurement.",
        "`start`, `exec`, `stop -t 0` and `rm` are four steps on the same `sleep 1000` container; "
        "`stop -t 0` is followed by a wait for the container's conmon to exit before `rm`.",
        "`ps -a` is run with the default table output, read from a file (not a terminal); the store "
        "is filled with `create localhost/busybox true`, alternating batches of "
        f"{b.batch} between the engines.",
        "berth runs from `.venv/bin/berth` (the venv's interpreter), after "
        "`python -m compileall -q berth`.",
        "podman writes an events log (`events_logger = \"file\"`); this berth version accepts "
        "`--events-backend` but writes no events.",
    ):
        L.append(f"- {line}")
    L.append("")

    # failures / notes
    L.append("## Failures and oddities")
    L.append("")
    if not b.failures and not b.notes:
        L.append("None: every command exited 0 and every check passed.")
    for (key, name), msgs in sorted(b.failures.items()):
        uniq = sorted(set(msgs))
        L.append(f"- {name} `{key}` failed {len(msgs)}×: " + "; ".join(f"`{m[:300]}`" for m in uniq[:3]))
    for n in b.notes:
        L.append(f"- {n}")
    L.append("")
    # the sections other benches write (bench/features.py between its markers, the pull/push
    # section after it) stay where they are
    kept = ""
    if out.exists():
        cur = out.read_text()
        if "<!-- features:begin -->" in cur:
            kept = cur[cur.index("<!-- features:begin -->"):]
    out.write_text("\n".join(L) + ("\n" + kept if kept else ""))
    return goal_lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fast smoke run: 3 rounds, stores of 0 and 10")
    ap.add_argument("--reps", type=int, default=0, help="rounds per measurement (default 12, --quick 3)")
    ap.add_argument("--ps-counts", default="", help="store sizes for ps -a (default 0,100,500)")
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS.md"), help="report file (default BENCHMARKS.md)")
    args = ap.parse_args()
    if args.reps < 0:
        ap.error("--reps must be positive")

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    b = Bench(args)
    ok = False
    try:
        b.run()
        ok = True
    except BenchError as e:
        log(f"ERROR: {e}")
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        b.cleanup()
    if not ok:
        return 1
    out = Path(args.out)
    goals = write_report(b, out, time.perf_counter() - T0)
    log(f"wrote {out}")
    for (key, name), msgs in sorted(b.failures.items()):
        log(f"{name} {key}: {len(msgs)} failure(s)")
    for g in goals:
        log(g)
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
