#!/usr/bin/env python3
"""Pull (and push) of a ~150 MB multi-layer image from a local registry: berth, Podman, skopeo, floor.

The image is generated here: four layers of random (incompressible) bytes and one layer of
thousands of small text files, gzip-compressed and pushed with berth's registry client to a
docker-registry started on 127.0.0.1 with a temp storage dir.  Each round then pulls it into a
fresh store with every contender, in an order that rotates each round:

    berth pull --tls-verify=false REF                    (fresh --root)
    podman pull --tls-verify=false REF                   (fresh --root, own containers.conf)
    skopeo copy docker://REF oci:DIR                     (no extraction: a download + copy floor)
    floor: curl of every blob | tar -xzf - per layer, all layers at once

Push: berth push and podman push of the pulled image, each to a fresh registry, same rotation.
Results go to BENCHMARKS-pull.md (the lead merges them into BENCHMARKS.md).

    .venv/bin/python bench/pull.py [--rounds N] [--out BENCHMARKS-pull.md] [--small]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import hashlib
import io
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BERTH = [str(REPO / ".venv" / "bin" / "python"), "-m", "berth"]
PODMAN_CONF = ('[engine]\nruntime="runc"\ncgroup_manager="cgroupfs"\n[containers]\n'
               'default_ulimits=["nofile=20000:20000","nproc=4096:4096"]\n')
T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        base.mkdir(parents=True, exist_ok=True)
        cfg = base / "config.yml"
        cfg.write_text(f"version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n"
                       f"  filesystem:\n    rootdirectory: {base / 'data'}\nhttp:\n  addr: {self.host}\n")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.base, ignore_errors=True)


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        dirs = set()
        for name, data in entries:
            d = os.path.dirname(name)
            if d and d not in dirs:
                dirs.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o644
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_image(reg: Registry, ref_repo: str, small: bool) -> tuple[int, int]:
    """Push the benchmark image; returns (compressed bytes, file count)."""
    from berth.image.registry.client import Client

    rnd = random.Random(42)
    big = 6 << 20 if small else 30 << 20
    nfiles = 600 if small else 6000
    layers_raw = [_tar([(f"big{i}/blob.bin", rnd.randbytes(big))]) for i in range(4)]
    words = [rnd.randbytes(4).hex() for _ in range(2000)]
    files = [(f"many/d{i // 200}/f{i}.txt", " ".join(rnd.choices(words, k=rnd.randint(50, 900))).encode())
             for i in range(nfiles)]
    layers_raw.append(_tar(files))
    client = Client(reg.host, insecure=True)
    descs, diff_ids, total = [], [], 0
    for raw in layers_raw:
        gz = gzip.compress(raw, 1, mtime=0)
        digest = "sha256:" + hashlib.sha256(gz).hexdigest()
        client.upload_bytes(ref_repo, digest, gz)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": digest, "size": len(gz)})
        diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
        total += len(gz)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cdigest = "sha256:" + hashlib.sha256(config).hexdigest()
    client.upload_bytes(ref_repo, cdigest, config)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdigest, "size": len(config)}, "layers": descs}).encode()
    client.put_manifest(ref_repo, "1", manifest, "application/vnd.oci.image.manifest.v1+json")
    return total, nfiles + 4


def run(argv: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed: {r.stderr.decode()[-500:]}")
    return time.perf_counter() - t


def umount_under(path: str) -> None:
    with open("/proc/self/mountinfo") as f:
        mounts = [ln.split()[4] for ln in f if ln.split()[4].startswith(path)]
    for m in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", m], check=False)


class Bench:
    def __init__(self, tmp: Path, ref: str, layers: list[str], host: str) -> None:
        self.tmp, self.ref, self.layers, self.host = tmp, ref, layers, host
        (tmp / "podman.conf").write_text(PODMAN_CONF)
        (tmp / "registries.conf").write_text("")
        (tmp / "podman-cache").mkdir()
        self.penv = dict(os.environ, CONTAINERS_CONF=str(tmp / "podman.conf"),
                         CONTAINERS_REGISTRIES_CONF=str(tmp / "registries.conf"))

    def podman(self, root: Path, *args: str) -> list[str]:
        # containers/image keeps its blob-info cache in /var/lib/containers/cache whatever --root
        # says: cover it with a private directory so the host's Podman is left alone.
        target = "/var/lib/containers/cache"
        while not os.path.isdir(target):
            target = os.path.dirname(target)
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                str(self.tmp / "podman-cache"), target, "podman", "--root", str(root / "root"),
                "--runroot", str(root / "run"), "--storage-driver", "overlay", *args]

    def fresh(self, name: str) -> Path:
        d = self.tmp / name
        if d.exists():
            umount_under(str(d))
            shutil.rmtree(d)
        d.mkdir()
        return d

    def berth_pull(self) -> float:
        d = self.fresh("berth")
        return run([*BERTH, "--root", str(d / "root"), "--runroot", str(d / "run"), "pull", "-q",
                    "--tls-verify=false", self.ref])

    def podman_pull(self) -> float:
        d = self.fresh("podman")
        return run(self.podman(d, "pull", "-q", "--tls-verify=false", self.ref), self.penv)

    def skopeo_copy(self) -> float:
        d = self.fresh("skopeo")
        return run(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{self.ref}", f"oci:{d / 'oci'}"])

    def floor(self) -> float:
        d = self.fresh("floor")
        repo = self.ref.split("/", 1)[1].rsplit(":", 1)[0]
        script = " & ".join(f"(mkdir -p {d}/{i} && curl -sf http://{self.host}/v2/{repo}/blobs/{dg} | "
                            f"tar -xzf - -C {d}/{i})" for i, dg in enumerate(self.layers)) + " & wait"
        return run(["sh", "-c", script])

    def berth_push(self) -> float:
        reg = Registry(self.tmp / "pushreg")
        try:
            d = self.tmp / "berth"
            return run([*BERTH, "--root", str(d / "root"), "--runroot", str(d / "run"), "push", "-q",
                        "--tls-verify=false", self.ref, f"{reg.host}/pushed/img:1"])
        finally:
            reg.stop()

    def podman_push(self) -> float:
        reg = Registry(self.tmp / "pushreg")
        try:
            return run(self.podman(self.tmp / "podman", "push", "-q", "--tls-verify=false", self.ref,
                                   f"{reg.host}/pushed/img:1"), self.penv)
        finally:
            reg.stop()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "BENCHMARKS-pull.md"))
    ap.add_argument("--small", action="store_true", help="a ~30 MB image, for a quick check")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench/pull.py needs root (podman and berth stores with overlay)", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-pull-", dir="/var/tmp"))
    reg = Registry(tmp / "registry")
    try:
        repo = "bench/big"
        log("generating and pushing the image")
        size, nfiles = make_image(reg, repo, args.small)
        ref = f"{reg.host}/{repo}:1"
        manifest = json.loads(subprocess.run(["curl", "-sf", "-H", "Accept: application/vnd.oci.image.manifest.v1+json",
                                              f"http://{reg.host}/v2/{repo}/manifests/1"],
                                             capture_output=True, check=True).stdout)
        bench = Bench(tmp, ref, [ly["digest"] for ly in manifest["layers"]], reg.host)
        pulls = {"berth pull": bench.berth_pull, "podman pull": bench.podman_pull,
                 "skopeo copy (oci dir)": bench.skopeo_copy, "floor (curl, tar -xz)": bench.floor}
        pushes = {"berth push": bench.berth_push, "podman push": bench.podman_push}
        times: dict[str, list[float]] = {k: [] for k in [*pulls, *pushes]}
        names = list(pulls)
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                times[name].append(pulls[name]())
            # push what was just pulled (berth's and podman's stores hold the image now)
            for name in (list(pushes) if r % 2 == 0 else list(reversed(pushes))):
                times[name].append(pushes[name]())
            log(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()))
        write_report(args.out, times, size, nfiles, args.rounds)
    finally:
        reg.stop()
        umount_under(str(tmp))
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def write_report(path: str, times: dict[str, list[float]], size: int, nfiles: int, rounds: int) -> None:
    med = {k: statistics.median(v) for k, v in times.items()}
    mb = size / 1e6
    lines = [
        "# Pull and push benchmark", "",
        f"{datetime.date.today()}, {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"Podman {_version(['podman', '--version'])}, skopeo {_version(['skopeo', '--version'])}.", "",
        f"Image: {mb:.0f} MB compressed in 5 gzip layers (four of random bytes, one of {nfiles - 4} small text "
        "files), pushed to Debian's docker-registry on 127.0.0.1 (plain HTTP).  Every pull goes into a fresh "
        f"store; contenders alternate, the order rotating each round; {rounds} rounds, medians shown.", "",
        "| what | median s | min s | MB/s (compressed) | vs podman |", "|---|---|---|---|---|"]
    for k, v in times.items():
        peer = med["podman pull"] if "pull" in k or "floor" in k or "skopeo" in k else med["podman push"]
        lines.append(f"| {k} | {med[k]:.2f} | {min(v):.2f} | {mb / med[k]:.0f} | {peer / med[k]:.2f}x |")
    ratio = med["podman pull"] / med["berth pull"]
    lines += ["", f"berth pull throughput is **{ratio:.2f}x** Podman's (goal: at least 2x).  "
              "skopeo copy to an OCI directory only downloads and writes the blobs (no extraction); "
              "the floor fetches every blob with curl and unpacks it with GNU tar, all layers at once.", "",
              "Push: the image each engine just pulled, to a fresh registry (nothing to reuse there): both "
              "engines recompress every layer (berth: ISA-L gzip level 1, streamed; Podman: Go gzip).", "",
              "Reproduce: `.venv/bin/python bench/pull.py` (root; podman, skopeo, curl, docker-registry).", ""]
    Path(path).write_text("\n".join(lines))
    log(f"wrote {path}")
    print("\n".join(lines))


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True).stdout.split()[-1]
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
