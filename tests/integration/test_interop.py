"""berth against the real peers: skopeo and Podman push, pull, inspect, save and load its images."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import mounts_under

NO_TLS = "--tls-verify=false"
# netavark named outright: a Podman that finds no netavark falls back to CNI for good and leaves a
# cni-podman0 bridge on 10.88.0.0/16 beside the one berth and netavark use
PODMAN_CONF = """[engine]
runtime="runc"
cgroup_manager="cgroupfs"
[network]
network_backend="netavark"
[containers]
default_ulimits=["nofile=20000:20000","nproc=4096:4096"]
"""

pytestmark = pytest.mark.skipif(not (shutil.which("podman") and shutil.which("skopeo")),
                                reason="podman and skopeo are needed")


class Podman:
    """Podman on its own store; its runroot must be short (< 50 characters) and containers/image's
    blob-info cache (/var/lib/containers/cache whatever --root says) is covered by a private
    directory in a private mount namespace, so the host's Podman state is never touched."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.runroot = tempfile.mkdtemp(prefix="pm-", dir="/tmp")
        (base / "cache").mkdir()
        conf = base / "containers.conf"
        conf.write_text(PODMAN_CONF)
        regs = base / "registries.conf"
        regs.write_text("")
        self.env = dict(os.environ, CONTAINERS_CONF=str(conf), CONTAINERS_REGISTRIES_CONF=str(regs))

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        target = "/var/lib/containers/cache"
        while not os.path.isdir(target):
            target = os.path.dirname(target)
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                str(self.base / "cache"), target,
                "podman", "--root", str(self.base / "root"), "--runroot", self.runroot,
                "--storage-driver", "overlay", *args]
        r = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=120,
                           stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {r.returncode}: {r.stderr}")
        return r


@pytest.fixture
def podman(tmp_path_factory: pytest.TempPathFactory):
    base = tmp_path_factory.mktemp("podman")
    p = Podman(base)
    yield p
    p("rm", "-af", check=False)
    p("rmi", "-af", check=False)
    for path in (str(base), p.runroot):
        for m in sorted(mounts_under(path), key=len, reverse=True):
            subprocess.run(["umount", "-l", m], check=False)
    shutil.rmtree(p.runroot, ignore_errors=True)


def skopeo(*args: str) -> str:
    r = subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_skopeo_copy_then_berth_pull_run(bb, other, registry, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    bb("save", "-o", str(archive), "localhost/busybox")
    skopeo("copy", "--dest-tls-verify=false", f"docker-archive:{archive}", f"docker://{registry.host}/skopeo/bb:1")
    other("pull", NO_TLS, f"{registry.host}/skopeo/bb:1")
    assert other.out("run", "--rm", f"{registry.host}/skopeo/bb:1", "echo", "from skopeo") == "from skopeo"


def test_berth_push_then_skopeo_inspect_and_podman_run(bb, registry, podman, tmp_path: Path) -> None:
    df = tmp_path / "digest"
    ref = f"{registry.host}/berth/pushed:1"
    bb("push", NO_TLS, "--digestfile", str(df), "localhost/busybox", ref)
    doc = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}"))
    assert doc["Digest"] == df.read_text()
    assert doc["Layers"] and doc["Architecture"]
    podman("pull", NO_TLS, ref)
    assert podman("run", "--rm", "--network", "none", ref, "echo", "berth pushed").stdout.strip() == "berth pushed"
    image_id = bb.out("image", "inspect", "--format", "{{.Id}}", "localhost/busybox")
    assert podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == image_id


def test_podman_push_then_berth_pull(other, registry, podman, busybox_tar: Path) -> None:
    ref = f"{registry.host}/podman/pushed:1"
    podman("import", str(busybox_tar), ref)
    podman("push", NO_TLS, ref)
    other("pull", NO_TLS, ref)
    assert other.out("run", "--rm", ref, "echo", "podman pushed") == "podman pushed"


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_archives_both_ways(bb, other, podman, tmp_path: Path, busybox_tar: Path, fmt: str) -> None:
    mine = tmp_path / "berth.tar"
    bb("save", "--format", fmt, "-o", str(mine), "localhost/busybox")
    assert "localhost/busybox" in podman("load", "-i", str(mine)).stdout
    assert podman("run", "--rm", "--network", "none", "localhost/busybox", "echo", "loaded").stdout.strip() == "loaded"
    podman("import", str(busybox_tar), "localhost/frompodman:7")
    theirs = tmp_path / "podman.tar"
    podman("save", "--format", fmt, "-o", str(theirs), "localhost/frompodman:7")
    assert other.out("load", "-i", str(theirs)) == "Loaded image: localhost/frompodman:7"
    assert other.out("run", "--rm", "localhost/frompodman:7", "echo", "from podman") == "from podman"
