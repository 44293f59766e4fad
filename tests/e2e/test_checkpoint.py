"""Checkpoint, restore and migration with real processes (CRIU >= 4.2 through runc)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berth.oci.checkpoint import CONFIG_NAME, RUNC_CONF, find_criu, write_config
from tests.conftest import Berth, free_port, until

CRIU, WHY = find_criu()
pytestmark = pytest.mark.skipif(not CRIU, reason=f"no usable CRIU: {WHY}")
COUNTER = "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done"


def _last(b: Berth, name: str) -> int:
    lines = b.out("logs", name).split()
    return int(lines[-1]) if lines else 0


def _grows_from(b: Berth, name: str, at: int) -> None:
    """The counter goes on from where it was checkpointed: at+1 comes first, never 1."""
    end = time.monotonic() + 10
    while _last(b, name) <= at + 3 and time.monotonic() < end:
        time.sleep(0.1)
    values = [int(v) for v in b.out("logs", name).split()]
    after = values[values.index(at) + 1:]
    assert after and after[0] == at + 1, values[-20:]
    assert min(after) > at  # never restarted from 1: every value after the restore comes after `at`


def _images_gone(b: Berth, name: str) -> bool:
    """No CRIU images and no archive staging dir left in the container's bundle (they are removed
    in the background, under a `.removing-` name first)."""
    bundle = Path(b.root, "containers", b.out("inspect", "-f", "{{.Id}}", name), "userdata")
    return not [p for p in bundle.iterdir() if p.name.startswith(("checkpoint", "ckpt-"))]


@pytest.fixture
def other(tmp_path: Path, busybox_tar: Path):
    """A second store on this machine, standing in for another host."""
    b = Berth(tmp_path / "other")
    b("import", str(busybox_tar), "localhost/busybox")
    yield b
    b("rm", "-af", "-t", "0", check=False)


def test_checkpoint_and_restore_in_place(bb):
    bb("run", "-d", "--name", "c", "localhost/busybox", "sh", "-c", COUNTER)
    time.sleep(0.6)
    assert bb.out("container", "checkpoint", "c") == "c"
    at = _last(bb, "c")
    assert bb.out("inspect", "-f", "{{.State.Status}}", "c") == "exited"
    time.sleep(0.5)
    assert _last(bb, "c") == at  # frozen
    assert not _images_gone(bb, "c")
    bb("container", "restore", "c")
    assert bb.out("inspect", "-f", "{{.State.Status}}", "c") == "running"
    _grows_from(bb, "c", at)
    until(lambda: _images_gone(bb, "c"))
    # no established connection: CRIU dumped and restored with berth's configuration, no network lock
    bundle = Path(bb.root, "containers", bb.out("inspect", "-f", "{{.Id}}", "c"), "userdata")
    conf = bundle / CONFIG_NAME
    for log in ("dump.log", "restore.log"):
        assert f"Parsing config file {conf}" in (bundle / log).read_text(errors="replace")
    assert conf.read_text() == "network-lock skip\n" or Path(RUNC_CONF).exists()


def test_criu_config_keeps_the_hosts_runc_conf(tmp_path, monkeypatch):
    import berth.oci.checkpoint as ck

    runc_conf = tmp_path / "runc.conf"
    conf = tmp_path / CONFIG_NAME
    monkeypatch.setattr(ck, "RUNC_CONF", str(runc_conf))
    assert write_config(str(conf), tcp=False) == "skip" and conf.read_text() == "network-lock skip\n"
    runc_conf.write_text("tcp-close\n")
    write_config(str(conf), tcp=False)
    assert conf.read_text() == "tcp-close\nnetwork-lock skip\n"
    runc_conf.write_text("# the admin's choice\nnetwork-lock iptables\n")
    write_config(str(conf), tcp=False)
    assert conf.read_text() == runc_conf.read_text()
    runc_conf.unlink()
    method = write_config(str(conf), tcp=True)
    if method == "nftables":
        assert conf.read_text() == "network-lock nftables\n"
    else:  # this criu has no nftables lock (built without libnftables): CRIU's default
        assert method == "iptables" and conf.read_text() == ""


def test_leave_running_and_side_by_side_copies(bb, tmp_path):
    bb("run", "-d", "--name", "c", "localhost/busybox", "sh", "-c", COUNTER)
    time.sleep(0.5)
    archive = str(tmp_path / "c.tar.gz")
    bb("container", "checkpoint", "-R", "-c", "gzip", "-e", archive, "c")
    assert bb.out("inspect", "-f", "{{.State.Status}}", "c") == "running"
    until(lambda: _images_gone(bb, "c"))
    for name in ("copy1", "copy2"):
        cid = bb.out("container", "restore", "-i", archive, "-n", name)
        assert cid != bb.out("inspect", "-f", "{{.Id}}", "c")
    ips = {bb.out("inspect", "-f", "{{.NetworkSettings.IPAddress}}", n) for n in ("c", "copy1", "copy2")}
    assert len(ips) == 3
    time.sleep(0.8)
    for n in ("copy1", "copy2"):
        # the archive carries the log as it was at export (the original kept running, so a value or
        # two past the dump); the copy goes on from the dumped value, never again from 1
        values = [int(v) for v in bb.out("logs", n).split()]
        assert len(values) > 8 and min(values[1:]) > 1
        assert all(-3 <= b - a <= 1 for a, b in zip(values, values[1:], strict=False)), values


def test_tcp_connection_survives(bb):
    # the server's stdin must stay open (sleep), or busybox nc closes the connection at once
    script = ("(sleep 100000 | nc -l -p 5000 > /tmp/recv) & sleep 0.3; "
              "(i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done) | nc 127.0.0.1 5000")
    bb("run", "-d", "--name", "tcp", "localhost/busybox", "sh", "-c", script)
    time.sleep(1)
    bb("container", "checkpoint", "--tcp-established", "tcp")
    bb("container", "restore", "--tcp-established", "tcp")
    time.sleep(1)
    got = [int(x) for x in bb.out("exec", "tcp", "cat", "/tmp/recv").split()]
    assert len(got) > 12
    assert got == list(range(1, len(got) + 1))  # one connection, no gap, no duplicate
    # connections in the image: CRIU kept its network lock (nftables where this criu has it)
    conf = Path(bb.root, "containers", bb.out("inspect", "-f", "{{.Id}}", "tcp"), "userdata", CONFIG_NAME)
    assert "network-lock skip" not in conf.read_text()


def test_a_refused_checkpoint_leaves_the_container_running_and_thawed(bb):
    # berth freezes the cgroup before CRIU does (OCIRuntime.freeze); CRIU leaves a cgroup it found
    # frozen frozen after a failure, so berth must thaw it: the counter goes on, exec answers
    script = ("(sleep 100000 | nc -l -p 5000 > /tmp/recv) & sleep 0.3; "
              "(i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done) | nc 127.0.0.1 5000")
    bb("run", "-d", "--name", "tcp", "localhost/busybox", "sh", "-c", script)
    time.sleep(1)
    r = bb.fail("container", "checkpoint", "tcp", code=125)  # an established connection, no --tcp-established
    assert "--tcp-established" in r.stderr
    assert bb.out("inspect", "-f", "{{.State.Status}}", "tcp") == "running"
    count = int(bb.out("exec", "tcp", "sh", "-c", "wc -l < /tmp/recv", timeout=10))
    until(lambda: int(bb.out("exec", "tcp", "sh", "-c", "wc -l < /tmp/recv", timeout=10)) > count + 2)
    # and a checkpoint with --leave-running leaves it running too
    bb("container", "checkpoint", "--tcp-established", "-R", "tcp")
    count = int(bb.out("exec", "tcp", "sh", "-c", "wc -l < /tmp/recv", timeout=10))
    until(lambda: int(bb.out("exec", "tcp", "sh", "-c", "wc -l < /tmp/recv", timeout=10)) > count + 2)


def test_migrate_to_another_local_store(bb, other):
    bb("run", "-d", "--name", "m", "localhost/busybox", "sh", "-c", COUNTER)
    time.sleep(0.5)
    new_id = bb.out("container", "migrate", "m", other.root, "--dest-runroot", other.runroot)
    assert bb("container", "exists", "m", check=False).returncode == 1
    assert other.out("inspect", "-f", "{{.Id}} {{.State.Status}}", "m") == f"{new_id} running"
    values = [int(v) for v in other.out("logs", "m").split()]
    assert values == list(range(1, len(values) + 1))


@pytest.mark.skipif(not shutil.which("sshd") and not os.path.exists("/usr/sbin/sshd"),
                    reason="openssh-server is not installed")
def test_migrate_over_ssh(bb, other, tmp_path):
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "hostkey")], check=True)
    port = free_port()
    conf = tmp_path / "sshd_config"
    conf.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {tmp_path / 'hostkey'}\n"
                    f"AuthorizedKeysFile {key}.pub\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n"
                    f"PidFile {tmp_path / 'sshd.pid'}\nUsePAM no\nStrictModes no\n")
    os.makedirs("/run/sshd", exist_ok=True)
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(conf)], stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        ssh_conf = tmp_path / "ssh_config"
        ssh_conf.write_text(f"Host 127.0.0.1\n  IdentityFile {key}\n  StrictHostKeyChecking no\n"
                            f"  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n")
        env = dict(os.environ, GIT_SSH_COMMAND="")
        remote = f"{sys.executable} -m berth"
        bb("run", "-d", "--name", "s", "localhost/busybox", "sh", "-c", COUNTER)
        time.sleep(0.5)
        wrapper = tmp_path / "bin"
        wrapper.mkdir()
        (wrapper / "ssh").write_text(f"#!/bin/sh\nexec /usr/bin/ssh -F {ssh_conf} \"$@\"\n")
        (wrapper / "ssh").chmod(0o755)
        env["PATH"] = f"{wrapper}:{env['PATH']}"
        new_id = bb.out("container", "migrate", "--remote-berth", remote, "--dest-root", other.root,
                        "--dest-runroot", other.runroot, "s", f"ssh://root@127.0.0.1:{port}", env=env)
        assert bb("container", "exists", "s", check=False).returncode == 1
        assert other.out("inspect", "-f", "{{.Id}} {{.State.Status}}", "s") == f"{new_id} running"
        values = [int(v) for v in other.out("logs", "s").split()]
        assert values == list(range(1, len(values) + 1))
    finally:
        sshd.terminate()
        sshd.wait()


def test_bad_input_is_refused_cleanly(bb, other, tmp_path):
    r = bb.fail("container", "checkpoint", "nope", code=125)
    assert "no such container" in r.stderr
    bb("create", "--name", "idle", "localhost/busybox", "sleep", "300")
    assert "is not running" in bb.fail("container", "checkpoint", "idle", code=125).stderr
    bb("run", "-d", "--name", "c", "localhost/busybox", "sh", "-c", COUNTER)
    archive = tmp_path / "c.tar"
    bb("container", "checkpoint", "-R", "-c", "none", "-e", str(archive), "c")
    # restoring over the running original: the name (and ID) are taken
    assert "already" in bb.fail("container", "restore", "-i", str(archive), code=125).stderr
    data = archive.read_bytes()
    (tmp_path / "trunc.tar").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.tar").write_bytes(os.urandom(4096))
    for bad in ("trunc.tar", "junk.tar"):
        r = other.fail("container", "restore", "-i", str(tmp_path / bad), code=125)
        assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1
    assert other.out("ps", "-aq") == ""
    assert not [d for d in os.listdir(os.path.join(other.root, "containers")) if d.startswith("import-")]
    other("rmi", "-f", "localhost/busybox")
    r = other.fail("container", "restore", "-i", str(archive), code=125)
    assert "localhost/busybox" in r.stderr and "pull or load it first" in r.stderr
    assert other.out("ps", "-aq") == ""
