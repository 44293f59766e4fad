"""OCI spec generation: Podman's defaults and the effect of each create option."""

from __future__ import annotations

import gzip
import json
import os
import resource

import pytest

from berth.config import DEFAULT_CAPABILITIES
from berth.errors import CommandNotExecutable, InvalidArgument
from berth.oci.spec import (
    MASKED_PATHS,
    READONLY_PATHS,
    SpecInputs,
    build_spec,
    capabilities,
    parse_signal,
    parse_ulimit,
    resolve_user,
    seccomp_profile,
    x32_abi_enabled,
)

SECCOMP = "/usr/share/containers/seccomp.json"


@pytest.fixture
def rootfs(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/sh\n"
                                "tester:x:1000:1000::/home/tester:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\nwww-data:x:33:\ntester:x:1000:\nstaff:x:50:tester\naudio:x:29:tester\n")
    return tmp_path


def inputs(rootfs, **kw) -> SpecInputs:
    base = dict(rootfs=str(rootfs), hosts_path="/h", hostname_path="/hn", resolv_path="/r", containerenv_path="/c",
                default_caps=list(DEFAULT_CAPABILITIES), default_ulimits=[], default_sysctls=[],
                seccomp_path=SECCOMP)
    base.update(kw)
    return SpecInputs(**base)


def cfg(**kw) -> dict:
    base = {"id": "a" * 64, "args": ["sleep", "1"], "env": ["PATH=/bin"], "hostname": "aaaaaaaaaaaa"}
    base.update(kw)
    return base


def test_defaults_are_podmans(rootfs):
    spec = build_spec(cfg(), inputs(rootfs))
    caps = spec["process"]["capabilities"]
    assert sorted(caps["bounding"]) == sorted("CAP_" + c for c in DEFAULT_CAPABILITIES)
    assert caps["effective"] == caps["bounding"] == caps["permitted"]
    assert spec["linux"]["maskedPaths"] == MASKED_PATHS
    assert spec["linux"]["readonlyPaths"] == READONLY_PATHS
    assert spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert {ns["type"] for ns in spec["linux"]["namespaces"]} == {"pid", "ipc", "uts", "mount", "network", "cgroup"}
    dests = [m["destination"] for m in spec["mounts"]]
    for d in ("/proc", "/dev", "/sys", "/dev/pts", "/dev/mqueue", "/dev/shm", "/etc/hosts", "/etc/hostname",
              "/etc/resolv.conf", "/run/.containerenv"):
        assert d in dests
    env = spec["process"]["env"]
    assert "HOME=/root" in env and "HOSTNAME=aaaaaaaaaaaa" in env
    assert spec["process"]["user"] == {"uid": 0, "gid": 0, "umask": 0o022}
    assert spec["root"] == {"path": str(rootfs), "readonly": False}
    assert spec["linux"]["cgroupsPath"].endswith("a" * 64)
    assert spec["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    json.dumps(spec)


def test_rlimits_are_clamped_to_our_hard_limits(rootfs):
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    spec = build_spec(cfg(), inputs(rootfs))
    nofile = next(r for r in spec["process"]["rlimits"] if r["type"] == "RLIMIT_NOFILE")
    want = 1048576 if hard == resource.RLIM_INFINITY else min(1048576, hard)
    assert nofile["hard"] == want and nofile["soft"] <= nofile["hard"]
    spec = build_spec(cfg(ulimits=["nofile=100:200"]), inputs(rootfs))
    nofile = next(r for r in spec["process"]["rlimits"] if r["type"] == "RLIMIT_NOFILE")
    assert (nofile["soft"], nofile["hard"]) == (100, 200)


def test_capability_options():
    base = list(DEFAULT_CAPABILITIES)
    assert "NET_ADMIN" in capabilities({"cap_add": ["net_admin"]}, base)
    assert "CHOWN" not in capabilities({"cap_drop": ["CAP_CHOWN"]}, base)
    assert capabilities({"cap_drop": ["ALL"]}, base) == []
    assert capabilities({"cap_drop": ["ALL"], "cap_add": ["KILL"]}, base) == ["KILL"]
    assert "SYS_ADMIN" in capabilities({"privileged": True}, base)
    with pytest.raises(InvalidArgument):
        capabilities({"cap_add": ["NOT_A_CAP"]}, base)


def test_seccomp_rules_follow_capabilities():
    def names(caps):
        prof = seccomp_profile(caps, SECCOMP)
        return {n for r in prof["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}

    assert "read" in names(DEFAULT_CAPABILITIES)
    assert "bpf" not in names(DEFAULT_CAPABILITIES)
    assert "bpf" in names(DEFAULT_CAPABILITIES + ["SYS_ADMIN"])


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the x32 sub-architecture exists on x86-64 only")
def test_seccomp_architectures_drop_x32_only_when_asked():
    assert seccomp_profile(list(DEFAULT_CAPABILITIES), SECCOMP, x32=True)["architectures"] == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert seccomp_profile(list(DEFAULT_CAPABILITIES), SECCOMP, x32=False)["architectures"] == [
        "SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]


def test_x32_probe_agrees_with_the_kernel_config():
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            config = f.read()
    except OSError:
        pytest.skip("no /proc/config.gz on this kernel to compare the probe with")
    if "CONFIG_X86_X32_ABI=y" not in config:
        assert x32_abi_enabled() is False
    elif "syscall.x32=y" in open("/proc/cmdline").read():
        assert x32_abi_enabled() is True


def test_options_change_the_spec(rootfs):
    spec = build_spec(cfg(read_only=True, memory=64 << 20, cpus=0.5, pids_limit=50, no_new_privileges=True,
                          tmpfs=["/scratch"], network="host", workdir="/tmp", tty=True,
                          annotations={"a": "b"}), inputs(rootfs))
    assert spec["root"]["readonly"] is True
    res = spec["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20}
    assert res["cpu"] == {"quota": 50000, "period": 100000}
    assert res["pids"] == {"limit": 50}
    assert spec["process"]["noNewPrivileges"] is True
    assert spec["process"]["terminal"] is True and "TERM=xterm" in spec["process"]["env"]
    assert spec["process"]["cwd"] == "/tmp"
    assert "network" not in {ns["type"] for ns in spec["linux"]["namespaces"]}
    scratch = next(m for m in spec["mounts"] if m["destination"] == "/scratch")
    assert scratch["type"] == "tmpfs" and "mode=1777" in scratch["options"]
    assert spec["annotations"] == {"a": "b"}
    priv = build_spec(cfg(privileged=True), inputs(rootfs))
    assert "seccomp" not in priv["linux"] and "maskedPaths" not in priv["linux"]


def test_init_wraps_the_command(rootfs):
    spec = build_spec(cfg(init=True), inputs(rootfs, init_path="/usr/bin/catatonit"))
    assert spec["process"]["args"][:2] == ["/run/berth-init", "--"]
    assert any(m["destination"] == "/run/berth-init" for m in spec["mounts"])


def test_users_and_groups_come_from_the_image(rootfs):
    u = resolve_user(str(rootfs), "tester")
    assert (u.uid, u.gid, sorted(u.additional_gids), u.home) == (1000, 1000, [29, 50], "/home/tester")
    u = resolve_user(str(rootfs), "33:50")
    assert (u.uid, u.gid) == (33, 50)
    u = resolve_user(str(rootfs), "4242")
    assert (u.uid, u.gid, u.home) == (4242, 0, "/")
    assert resolve_user(str(rootfs), "www-data:tester").gid == 1000
    with pytest.raises(CommandNotExecutable, match="unable to find user nobody2"):
        resolve_user(str(rootfs), "nobody2")


def test_signal_and_ulimit_parsing():
    assert parse_signal("SIGTERM") == 15 and parse_signal("kill") == 9 and parse_signal("2") == 2
    with pytest.raises(InvalidArgument):
        parse_signal("SIGNOPE")
    assert parse_ulimit("nofile=100:200") == ("nofile", 100, 200)
    assert parse_ulimit("nproc=50") == ("nproc", 50, 50)
    for bad in ("nofile", "bogus=1:2", "nofile=x", "nofile=300:200"):
        with pytest.raises(InvalidArgument):
            parse_ulimit(bad)
