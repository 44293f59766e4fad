"""ps and inspect as a user reads them: Podman's columns and headers, filters, formats, JSON documents."""

from __future__ import annotations

import json
import re

import pytest

IMG = "localhost/busybox"
# Containers get no network unless a test is about networking: bridge setup of parallel stores races on
# the host's shared podman0 bridge and its iptables chains (see the report), which is not what these test.
RUN = ("run", "--network", "none")
CREATE = ("create", "--network", "none")
PS_HEADER = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]


def _cols(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def _header_columns(line: str) -> list[str]:
    """Column names of a header, by where each starts (names like 'CONTAINER ID' hold one space)."""
    return [m.group(0) for m in re.finditer(r"\S+(?: \S+)*", line)]


@pytest.fixture
def three(bb):
    """An exited, a running and a created container, made in that order."""
    bb(*RUN, "--name", "ex", "--label", "kind=batch", IMG, "sh", "-c", "exit 3", check=False)
    up = bb.out(*RUN, "-d", "--name", "up", "--label", "kind=service", IMG, "sleep", "60")
    bb(*CREATE, "--name", "cr", IMG, "echo", "a-rather-long-command-line", "that", "gets", "truncated")
    yield bb
    bb("stop", "-t", "0", up)


# ------------------------------------------------------------------ ps


def test_ps_header_and_default_columns(three):
    lines = three.out("ps").splitlines()
    assert _header_columns(lines[0]) == PS_HEADER
    assert len(lines) == 2  # only the running one
    cid = three.out("inspect", "--format", "{{.Id}}", "up")
    row = _cols(lines[1])
    assert row[0] == cid[:12]
    assert row[1] == "localhost/busybox:latest"
    assert row[2] == "sleep 60"
    assert row[3].endswith("ago")
    assert row[4].startswith("Up ")
    assert row[-1] == "up"
    # columns line up under their headers, as Go's tabwriter puts them
    for name in PS_HEADER:
        at = lines[0].index(name)
        assert at == 0 or lines[0][at - 2:at] == "  "


def test_ps_all_shows_every_state_oldest_first(three):
    out = three.out("ps", "-a", "--format", "{{.Names}}|{{.Status}}|{{.State}}")
    rows = [ln.split("|") for ln in out.splitlines()]
    assert [r[0] for r in rows] == ["ex", "up", "cr"]  # Podman lists by creation, oldest first
    assert re.fullmatch(r"Exited \(3\) .* ago", rows[0][1]) and rows[0][2] == "exited"
    assert rows[1][1].startswith("Up ") and rows[1][2] == "running"
    assert rows[2][1:] == ["Created", "created"]


def test_ps_quiet_no_trunc_last_latest(three):
    ids = {n: three.out("inspect", "--format", "{{.Id}}", n) for n in ("ex", "up", "cr")}
    assert three.out("ps", "-q") == ids["up"][:12]
    assert three.out("ps", "-aq").split() == [ids[n][:12] for n in ("ex", "up", "cr")]
    assert three.out("ps", "-aq", "--no-trunc").split() == [ids[n] for n in ("ex", "up", "cr")]
    assert three.out("ps", "-l", "-q") == ids["cr"][:12]  # the latest, whatever its state
    assert three.out("ps", "-n", "2", "--format", "{{.Names}}").split() == ["up", "cr"]
    assert three.out("ps", "-n", "1", "--format", "{{.Names}}") == "cr"


def test_ps_command_truncation(three):
    row = [r for r in three.out("ps", "-a").splitlines() if r.endswith(" cr")][0]
    assert "echo a-rather-lon..." in row
    full = [r for r in three.out("ps", "-a", "--no-trunc").splitlines() if r.endswith(" cr")][0]
    assert "echo a-rather-long-command-line that gets truncated" in full


def test_ps_noheading_and_table_format(three):
    assert three.out("ps", "--noheading", "--format", "{{.Names}}") == "up"
    assert _header_columns(three.out("ps", "--noheading").splitlines()[0])[-1] == "up"
    out = three.out("ps", "-a", "--format", "table {{.Names}}\t{{.State}}").splitlines()
    assert [_cols(ln) for ln in out] == [["NAMES", "STATE"], ["ex", "exited"], ["up", "running"],
                                         ["cr", "created"]]


PS_FILTERS = [
    ("name=up", ["up"]), ("name=^e", ["ex"]), ("status=exited", ["ex"]), ("status=running", ["up"]),
    ("status=created", ["cr"]), ("exited=3", ["ex"]), ("exited=0", []), ("label=kind=service", ["up"]),
    ("label=kind", ["ex", "up"]), ("ancestor=localhost/busybox", ["ex", "up", "cr"]), ("since=ex", ["up", "cr"]),
    ("before=cr", ["ex", "up"]),
]


def test_ps_filters(three):
    got = {flt: three.out("ps", "-a", "--filter", flt, "--format", "{{.Names}}").split() for flt, _ in PS_FILTERS}
    assert got == dict(PS_FILTERS)


def test_ps_filter_id_and_combined_filters(three):
    cid = three.out("inspect", "--format", "{{.Id}}", "up")
    assert three.out("ps", "-a", "-f", f"id={cid[:6]}", "--format", "{{.Names}}") == "up"
    # different keys must all match
    assert three.out("ps", "-a", "-f", "label=kind", "-f", "status=exited", "--format", "{{.Names}}") == "ex"
    # a status filter lists non-running containers without -a
    assert three.out("ps", "-f", "status=created", "--format", "{{.Names}}") == "cr"


def test_ps_size(three):
    three("exec", "up", "sh", "-c", "head -c 5000 /dev/zero > /big")
    lines = three.out("ps", "--size").splitlines()
    assert _header_columns(lines[0]) == PS_HEADER + ["SIZE"]
    size = _cols(lines[1])[-1]
    m = re.fullmatch(r"([\d.]+)(k?B) \(virtual ([\d.]+)MB\)", size)
    assert m, size
    assert m.group(2) == "kB" and float(m.group(1)) >= 5


def test_ps_format_json(three):
    docs = json.loads(three.out("ps", "-a", "--format", "json"))
    by_name = {d["Names"][0]: d for d in docs}
    assert set(by_name) == {"ex", "up", "cr"}
    assert by_name["ex"]["State"] == "exited" and by_name["ex"]["ExitCode"] == 3 and by_name["ex"]["Exited"]
    assert by_name["up"]["State"] == "running" and by_name["up"]["Pid"] > 0
    assert by_name["up"]["Command"] == ["sleep", "60"]
    assert by_name["up"]["Labels"] == {"kind": "service"}
    assert by_name["cr"]["State"] == "created"
    assert all(len(d["Id"]) == 64 and d["Image"] == "localhost/busybox:latest" for d in docs)


def test_ps_empty(bb):
    out = bb.out("ps", "-a")
    assert _header_columns(out) == PS_HEADER
    assert bb.out("ps", "-aq") == ""
    assert json.loads(bb.out("ps", "-a", "--format", "json")) == []


# ------------------------------------------------------------------ inspect


def test_inspect_state_through_the_lifecycle(bb):
    bb(*CREATE, "--name", "life", IMG, "sh", "-c", "sleep 30; exit 2")
    fmt = "{{.State.Status}} {{.State.Running}} {{.State.ExitCode}}"
    assert bb.out("inspect", "--format", fmt, "life") == "created false 0"
    bb("start", "life")
    assert bb.out("inspect", "--format", fmt, "life") == "running true 0"
    pid = int(bb.out("inspect", "--format", "{{.State.Pid}}", "life"))
    assert pid > 0
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:2] == [b"sh", b"-c"]
    bb("kill", "life")
    assert bb.out("wait", "life") == "137"
    assert bb.out("inspect", "--format", fmt + " {{.State.Pid}}", "life") == "exited false 137 0"


def test_inspect_document(bb):
    envf = bb.base / "env"
    envf.write_text("FROM_FILE=1\n")
    cid = bb.out(*CREATE, "--name", "doc", "-e", "A=b", "--env-file", str(envf), "-w", "/tmp", "-u", "1000",
                 "-h", "hosty", "--label", "l1=v1", "--annotation", "a1=v1", "--entrypoint", "/bin/sh",
                 "--stop-timeout", "7", "--memory", "64m", "--cpus", "1.5", "--pids-limit", "99", "--read-only",
                 "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", "--tmpfs", "/scratch", "--init",
                 "--security-opt", "no-new-privileges", "--ulimit", "nofile=100:200", IMG, "-c", "echo hi")
    docs = json.loads(bb.out("inspect", "doc"))
    assert len(docs) == 1
    d = docs[0]
    assert d["Id"] == cid and d["Name"] == "doc"
    assert d["Path"] == "/bin/sh" and d["Args"] == ["-c", "echo hi"]
    assert d["Image"] == bb.out("image", "inspect", "--format", "{{.Id}}", IMG)
    assert d["ImageName"] == "localhost/busybox:latest"
    assert d["State"]["Status"] == "created"
    cfg = d["Config"]
    assert {"A=b", "FROM_FILE=1"} <= set(cfg["Env"])
    assert cfg["WorkingDir"] == "/tmp" and cfg["User"] == "1000" and cfg["Hostname"] == "hosty"
    assert cfg["Labels"] == {"l1": "v1"} and cfg["Annotations"]["a1"] == "v1"
    assert cfg["Cmd"] == ["-c", "echo hi"]
    assert cfg["StopTimeout"] == 7
    hc = d["HostConfig"]
    assert hc["Memory"] == 67108864 and hc["NanoCpus"] == 1_500_000_000 and hc["PidsLimit"] == 99
    assert hc["ReadonlyRootfs"] is True and hc["Init"] is True
    assert hc["CapAdd"] == ["CAP_NET_ADMIN"] and hc["CapDrop"] == ["CAP_CHOWN"]
    assert "/scratch" in hc["Tmpfs"]
    assert hc["SecurityOpt"] == ["no-new-privileges"]
    assert {"Name": "RLIMIT_NOFILE", "Soft": 100, "Hard": 200} in hc["Ulimits"]
    assert "CAP_NET_ADMIN" in d["EffectiveCaps"] and "CAP_CHOWN" not in d["EffectiveCaps"]
    # the same values through templates
    fmt = "{{.Config.WorkingDir}} {{.HostConfig.Memory}} {{index .Config.Labels \"l1\"}} {{.Config.Entrypoint}}"
    assert bb.out("inspect", "--format", fmt, "doc") in ("/tmp 67108864 v1 /bin/sh", "/tmp 67108864 v1 [/bin/sh]")


def test_inspect_several_and_json_format(bb):
    a = bb.out(*CREATE, "--name", "a", IMG, "true")
    b = bb.out(*CREATE, "--name", "b", IMG, "true")
    assert bb.out("inspect", "--format", "{{.Id}}", "a", "b").split() == [a, b]
    assert [d["Id"] for d in json.loads(bb.out("inspect", "--format", "json", "a", "b"))] == [a, b]
    assert bb.out("container", "inspect", "-f", "{{.Name}}", a[:10]) == "a"
    assert bb.out("inspect", "-l", "-f", "{{.Name}}") == "b"


def test_inspect_type(bb):
    bb(*CREATE, "--name", "c", IMG, "true")
    iid = bb.out("image", "inspect", "--format", "{{.Id}}", IMG)
    assert bb.out("inspect", "--type", "container", "--format", "{{.Name}}", "c") == "c"
    assert bb.out("inspect", "--type", "image", "--format", "{{.Id}}", IMG) == iid
    assert bb.out("inspect", "--format", "{{.Id}}", IMG) == iid  # an image when no container has that name
    r = bb("inspect", "--type", "container", IMG, check=False)
    assert r.returncode == 125 and r.stderr.startswith("Error: ") and f"no such container {IMG}" in r.stderr
    r = bb("inspect", "--type", "image", "c", check=False)
    assert r.returncode == 125 and r.stderr.startswith("Error: ") and "c: image not known" in r.stderr
    r = bb("inspect", "--type", "bogus", "c", check=False)
    assert r.returncode == 125 and r.stderr.startswith("Error: ")


def test_container_exists(bb):
    cid = bb.out(*CREATE, "--name", "here", IMG, "true")
    for ref in ("here", cid, cid[:12]):
        r = bb("container", "exists", ref, check=False)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), ref
    assert bb("container", "exists", "there", check=False).returncode == 1
    assert bb("container", "exists", IMG, check=False).returncode == 1  # an image is not a container
