"""Volumes and mounts through the CLI with real containers: data that outlives containers, read-only
mounts, ownership, copy-up from the image, anonymous volumes, --volumes-from, --mount, export/import,
`volume ls/inspect/rm/prune`, and bad input that leaves nothing behind."""

from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from tests.conftest import mounts_under

IMG = "localhost/busybox"
# no network: these tests are about storage, and bridge setup of parallel stores is not
RUN = ("run", "--network", "none")


def one_error(r, code: int = 125) -> str:
    """Exit code and a single `Error: ...` line; returns that line."""
    assert r.returncode == code, f"exit {r.returncode}, wanted {code}: {r.stderr}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def test_named_volume_data_persists_across_container_removal(bb):
    assert bb.out("volume", "create", "data") == "data"
    bb(*RUN, "--name", "w", "-v", "data:/data", IMG, "sh", "-c", "echo kept > /data/file")
    bb("rm", "w")
    assert bb.out(*RUN, "--rm", "-v", "data:/data", IMG, "cat", "/data/file") == "kept"
    mountpoint = bb.out("volume", "inspect", "--format", "{{.Mountpoint}}", "data")
    assert mountpoint == os.path.join(bb.root, "volumes", "data", "_data")
    with open(os.path.join(mountpoint, "file")) as f:
        assert f.read() == "kept\n"
    # a volume named in -v that does not exist yet is created, and outlives its container too
    bb(*RUN, "--rm", "-v", "fresh:/x", IMG, "touch", "/x/y")
    assert bb.out("volume", "ls", "-q").split() == ["data", "fresh"]


def test_read_only_mounts_refuse_writes(bb, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    for how in (["-v", "ro:/d:ro"], ["-v", f"{host}:/d:ro"], ["--mount", f"type=bind,src={host},dst=/d,readonly"],
                ["--mount", "type=volume,src=ro,dst=/d,ro=true"]):
        r = bb(*RUN, "--rm", *how, IMG, "touch", "/d/x", check=False)
        assert r.returncode == 1 and "Read-only file system" in r.stderr, (how, r.stderr)
    assert not os.listdir(host)
    # and read-write is the default
    bb(*RUN, "--rm", "-v", f"{host}:/d", IMG, "touch", "/d/x")
    assert os.listdir(host) == ["x"]


def test_bind_mount_ownership(bb, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    bb(*RUN, "--rm", "--user", "1000", "-v", f"{shared}:/data", IMG, "touch", "/data/mine")
    st = os.stat(shared / "mine")
    assert (st.st_uid, st.st_gid) == (1000, 1000)
    # :U gives the source (recursively) to the container's user
    owned = tmp_path / "owned"
    (owned / "sub").mkdir(parents=True)
    (owned / "sub" / "old").write_text("x")
    out = bb.out(*RUN, "--rm", "--user", "33:33", "-v", f"{owned}:/data:U", IMG, "sh", "-c",
                 "touch /data/sub/new && stat -c %u:%g /data /data/sub/old /data/sub/new")
    assert out.split() == ["33:33"] * 3
    assert {os.stat(p).st_uid for p in (owned, owned / "sub", owned / "sub" / "old")} == {33}


def test_copy_up_from_the_image_path(bb):
    bb("volume", "create", "etc")
    assert bb.out("volume", "inspect", "--format", "{{.NeedsCopyUp}}", "etc") == "true"
    out = bb.out(*RUN, "--rm", "-v", "etc:/etc", IMG, "sh", "-c", "grep ^tester: /etc/passwd; cat /etc/hostname")
    assert out.splitlines()[0].startswith("tester:x:1000:1000")
    assert len(out.splitlines()[1]) == 12  # berth's /etc/hostname still on top of the volume
    data = bb.out("volume", "inspect", "--format", "{{.Mountpoint}}", "etc")
    assert os.path.exists(os.path.join(data, "passwd")) and os.path.exists(os.path.join(data, "group"))
    assert bb.out("volume", "inspect", "--format", "{{.NeedsCopyUp}} {{.NeedsChown}}", "etc") == "false false"
    # a new volume on /www gets the page, owner and mode of the image's /www
    assert bb.out(*RUN, "--rm", "-v", "www:/www", IMG, "cat", "/www/index.html") == "hello from berth"
    # only once, only into an empty volume: later changes stay
    bb(*RUN, "--rm", "-v", "www:/www", IMG, "sh", "-c", "echo changed > /www/index.html")
    assert bb.out(*RUN, "--rm", "-v", "www:/www", IMG, "cat", "/www/index.html") == "changed"
    # nocopy: the volume stays empty
    assert bb.out(*RUN, "--rm", "-v", "bare:/www:nocopy", IMG, "ls", "-A", "/www") == ""


def test_anonymous_volumes_go_with_rm_v_and_stay_with_rm(bb):
    bb(*RUN, "--name", "a", "-v", "/data", IMG, "sh", "-c", "echo 1 > /data/f")
    bb(*RUN, "--name", "b", "-v", "/data", IMG, "true")
    vols = bb.out("volume", "ls", "-q").split()
    assert len(vols) == 2 and all(len(v) == 64 for v in vols)
    anon_a = json.loads(bb.out("inspect", "a"))[0]["Mounts"][0]["Name"]
    assert bb.out("volume", "inspect", "--format", "{{.Anonymous}}", anon_a) == "true"
    bb("rm", "a")
    assert anon_a in bb.out("volume", "ls", "-q").split()
    bb("rm", "-v", "b")
    assert bb.out("volume", "ls", "-q").split() == [anon_a]
    # run --rm takes its anonymous volume along; named ones stay
    bb(*RUN, "--rm", "-v", "/tmpdata", "-v", "named:/n", IMG, "true")
    assert sorted(bb.out("volume", "ls", "-q").split()) == sorted([anon_a, "named"])


def test_image_volume_is_an_anonymous_volume_with_the_image_content(bb, busybox_tar):
    bb("import", "--change", "VOLUME /www", str(busybox_tar), "localhost/withvol")
    assert bb.out(*RUN, "--name", "iv", "localhost/withvol", "cat", "/www/index.html") == "hello from berth"
    mounts = json.loads(bb.out("inspect", "iv"))[0]["Mounts"]
    assert [(m["Type"], m["Destination"]) for m in mounts] == [("volume", "/www")]
    assert bb.out(*RUN, "--rm", "--image-volume", "tmpfs", "localhost/withvol", "sh", "-c",
                  "mount | grep ' /www '").startswith("tmpfs on /www type tmpfs")
    # a user mount on the same path wins over the image's VOLUME
    assert bb.out(*RUN, "--rm", "-v", "mine:/www:nocopy", "localhost/withvol", "ls", "-A", "/www") == ""
    bb("rm", "-v", "iv")
    assert bb.out("volume", "ls", "-q") == "mine"


def test_volume_in_use_cannot_be_removed_without_force(bb):
    cid = bb.out(*RUN, "-d", "-v", "busy:/busy", IMG, "sleep", "300")
    r = bb("volume", "rm", "busy", check=False)
    assert one_error(r, 2) == (f"Error: volume busy is being used by the following container(s): {cid}: "
                               "volume is being used")
    assert bb.out("volume", "exists", "busy") == ""
    assert bb.out("volume", "rm", "-f", "busy") == "busy"
    assert bb("volume", "exists", "busy", check=False).returncode == 1
    assert bb.out("ps", "-aq") == ""
    r = bb("volume", "rm", "bogus", check=False)
    assert one_error(r, 1) == 'Error: no volume with name "bogus" found: no such volume'
    assert bb("volume", "rm", "-f", "bogus").stdout == ""


def test_volumes_from(bb, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    (host / "h").write_text("from host\n")
    bb(*RUN, "--name", "src", "-v", "shared:/s", "-v", "/anon", "-v", f"{host}:/h", "--tmpfs", "/t", IMG, "sh",
       "-c", "echo named > /s/f; echo anon > /anon/f")
    out = bb.out(*RUN, "--rm", "--volumes-from", "src", IMG, "sh", "-c",
                 "cat /s/f /anon/f /h/h; echo more >> /s/f; mount | grep -c ' /t ' || true")
    assert out.splitlines() == ["named", "anon", "from host", "0"]  # tmpfs mounts are not shared
    r = bb(*RUN, "--rm", "--volumes-from", "src:ro", IMG, "touch", "/s/x", check=False)
    assert r.returncode == 1 and "Read-only file system" in r.stderr
    # the sharer's rm -v leaves src's anonymous volume alone: src still uses it
    bb(*RUN, "--name", "sharer", "--volumes-from", "src", IMG, "true")
    assert bb.out("inspect", "--format", "{{.HostConfig.VolumesFrom}}", "sharer") == "[src]"
    bb("rm", "-v", "sharer")
    assert len(bb.out("volume", "ls", "-q").split()) == 2
    r = bb(*RUN, "--volumes-from", "nosuch", IMG, "true", check=False)
    assert one_error(r) == ('Error: looking up container "nosuch": no container with name or ID "nosuch" found: '
                            "no such container")


def test_mount_flag_forms_and_what_inspect_shows(bb, tmp_path):
    host = tmp_path / "host"
    host.mkdir()
    cid = bb.out("create", "--network", "none", "--name", "m",
                 "--mount", "type=volume,src=mv,dst=/vol",
                 "--mount", f"type=bind,src={host},target=/bind,readonly",
                 "--mount", "type=tmpfs,destination=/scratch,tmpfs-size=1m",
                 "--mount", "type=volume,dst=/anon",
                 "-v", "named:/named:Z",
                 IMG, "sh", "-c", "touch /vol/ok /scratch/ok /anon/ok && mount | grep ' /scratch '")
    doc = json.loads(bb.out("inspect", "m"))[0]
    mounts = {m["Destination"]: m for m in doc["Mounts"]}
    assert set(mounts) == {"/vol", "/anon", "/named", "/bind"}  # tmpfs is not listed, as in Podman
    assert list(mounts["/vol"]) == ["Type", "Name", "Source", "Destination", "Driver", "Mode", "Options", "RW",
                                    "Propagation"]
    assert mounts["/vol"] == {"Type": "volume", "Name": "mv", "Source": os.path.join(bb.root, "volumes/mv/_data"),
                              "Destination": "/vol", "Driver": "local", "Mode": "", "Options": ["nosuid", "nodev",
                              "rbind"], "RW": True, "Propagation": "rprivate"}
    assert mounts["/bind"]["Type"] == "bind" and mounts["/bind"]["Name"] == "" and mounts["/bind"]["RW"] is False
    assert mounts["/bind"]["Source"] == str(host) and mounts["/bind"]["Options"][-1] == "rbind"
    assert mounts["/named"]["Mode"] == "Z"
    assert len(mounts["/anon"]["Name"]) == 64
    assert "mv:/vol:rw,rprivate,nosuid,nodev,rbind" in doc["HostConfig"]["Binds"]
    assert any(b.startswith(f"{host}:/bind:ro,") for b in doc["HostConfig"]["Binds"])
    out = bb.out("start", "-a", "m")
    assert out.startswith("tmpfs on /scratch type tmpfs") and "size=1024k" in out
    assert bb.out("ps", "-a", "--format", "{{.Mounts}}") == "/vol,/bind,/scratch,/anon,/named"
    assert bb.out("ps", "-aq", "--no-trunc", "--filter", "volume=mv") == cid
    assert bb.out("ps", "-aq", "--filter", "volume=/nope") == ""


def test_export_import_round_trip(bb, tmp_path):
    bb("volume", "create", "src")
    bb(*RUN, "--rm", "-v", "src:/d", IMG, "sh", "-c",
       "mkdir -p /d/sub && echo hello > /d/sub/t && chown 33:33 /d/sub/t && ln -s sub/t /d/link")
    archive = tmp_path / "vol.tar"
    bb("volume", "export", "src", "-o", str(archive))
    with tarfile.open(archive) as t:
        members = {m.name.lstrip("./"): m for m in t.getmembers()}
    assert {"sub", "sub/t", "link"} <= set(members)
    assert members["sub/t"].uid == 33 and members["link"].issym()
    streamed = bb("volume", "export", "src", input=b"").stdout
    with tarfile.open(fileobj=io.BytesIO(streamed)) as t:
        assert t.extractfile("sub/t").read() == b"hello\n"
    bb("volume", "create", "dst")
    bb(*RUN, "--rm", "-v", "dst:/d", IMG, "sh", "-c", "echo old > /d/keep; mkdir /d/sub; echo stale > /d/sub/t")
    bb("volume", "import", "dst", str(archive))
    out = bb.out(*RUN, "--rm", "-v", "dst:/d", IMG, "sh", "-c", "cat /d/sub/t /d/link /d/keep; stat -c %u /d/sub/t")
    assert out.splitlines() == ["hello", "hello", "old", "33"]
    # from stdin, into a third volume
    bb("volume", "create", "third")
    bb("volume", "import", "third", "-", input=archive.read_bytes())
    assert bb.out(*RUN, "--rm", "-v", "third:/d", IMG, "cat", "/d/sub/t") == "hello"
    assert one_error(bb("volume", "import", "third", str(tmp_path / "none.tar"), check=False)) == \
        f"Error: open {tmp_path / 'none.tar'}: no such file or directory"
    assert one_error(bb("volume", "export", "nosuch", "-o", str(archive), check=False)) == "Error: no such volume nosuch"
    # a bad archive changes nothing
    assert bb("volume", "import", "dst", "-", input=b"not a tar" * 200, check=False).returncode == 125
    assert bb.out(*RUN, "--rm", "-v", "dst:/d", IMG, "cat", "/d/keep") == "old"


def test_volume_ls_format_filters_and_inspect(bb):
    bb("volume", "create", "--label", "tier=web", "--label", "app", "alpha")
    bb("volume", "create", "-d", "local", "-o", "o=uid=1000,gid=1000", "beta")
    anon = bb.out("volume", "create")
    assert len(anon) == 64 and all(c in "0123456789abcdef" for c in anon)
    names = sorted(["alpha", anon, "beta"])  # listed by name
    assert bb.out("volume", "ls").splitlines() == ["DRIVER      VOLUME NAME"] + [f"local       {n}" for n in names]
    assert bb.out("volume", "ls", "--noheading", "--format", "{{.Name}}:{{.Driver}}:{{.Scope}}").splitlines() == \
        [f"{n}:local:local" for n in names]
    # ^bet: the anonymous volume's hex name may start with b (one run in 16 did), never with "bet"
    assert bb.out("volume", "ls", "-q", "--filter", "name=^bet") == "beta"
    assert bb.out("volume", "ls", "-q", "--filter", "name=t.$") == "beta"  # a regexp, anywhere
    assert bb.out("volume", "ls", "-q", "--filter", "name=ph", "--filter", "name=et") == "alpha\nbeta"
    assert bb.out("volume", "ls", "-q", "--filter", "label=tier=web") == "alpha"
    assert bb.out("volume", "ls", "-q", "--filter", "label=app", "--filter", "label=tier") == "alpha"
    assert bb.out("volume", "ls", "-q", "--filter", "driver=local", "--filter", "label=nope") == ""
    assert bb.out("volume", "ls", "-q", "--filter", "opt=UID=1000") == "beta"
    bb("create", "--network", "none", "-v", "beta:/b", IMG, "true")
    assert bb.out("volume", "ls", "-q", "--filter", "dangling=true").split() == sorted(["alpha", anon])
    assert bb.out("volume", "ls", "-q", "--filter", "dangling=false") == "beta"
    assert one_error(bb("volume", "ls", "--filter", "color=red", check=False)) == \
        'Error: "color" is an invalid volume filter'
    docs = json.loads(bb.out("volume", "ls", "--format", "json"))
    assert [d["Name"] for d in docs] == names
    alpha = json.loads(bb.out("volume", "inspect", "alpha"))[0]
    assert list(alpha) == ["Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options", "MountCount",
                           "NeedsCopyUp", "NeedsChown", "LockNumber"]
    assert alpha["Labels"] == {"tier": "web", "app": ""} and alpha["Scope"] == "local"
    beta = json.loads(bb.out("volume", "inspect", "beta"))[0]
    assert beta["UID"] == 1000 and beta["GID"] == 1000 and "NeedsChown" not in beta
    assert beta["Options"] == {"UID": "1000", "GID": "1000", "o": "uid=1000,gid=1000"}
    assert os.stat(beta["Mountpoint"]).st_uid == 1000
    r = bb("volume", "inspect", "alpha", "nosuch", check=False)
    assert r.returncode == 125 and json.loads(r.stdout)[0]["Name"] == "alpha"
    assert r.stderr.strip() == "Error: no such volume nosuch"
    assert len(json.loads(bb.out("volume", "inspect", "--all"))) == 3
    # create: existing names, --ignore, bad names and drivers
    assert one_error(bb("volume", "create", "alpha", check=False)) == \
        "Error: volume with name alpha already exists: volume already exists"
    assert bb.out("volume", "create", "--ignore", "alpha") == "alpha"
    assert one_error(bb("volume", "create", "bad/name", check=False)) == \
        "Error: running volume create option: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"
    assert "volume plugin nfsplugin" in one_error(bb("volume", "create", "-d", "nfsplugin", "x", check=False))
    assert one_error(bb("volume", "create", "-o", "badOpt=bad", check=False)) == \
        "Error: invalid mount option badOpt for driver 'local': invalid argument"


def test_prune_removes_only_unused_volumes(bb):
    for n in ("used", "idle1", "idle2"):
        bb("volume", "create", n)
    bb("volume", "create", "--label", "keep=yes", "labelled")
    bb("create", "--network", "none", "-v", "used:/u", IMG, "true")
    assert bb.out("volume", "prune", "--filter", "label=keep", "-f") == "labelled"
    # without -f it asks first; "N" (or end of input) keeps everything
    r = bb("volume", "prune", input="N\n")
    assert "idle1\nidle2\n" in r.stdout and "Are you sure you want to continue? [y/N]" in r.stdout
    assert bb.out("volume", "ls", "-q").split() == ["idle1", "idle2", "used"]
    assert sorted(bb.out("volume", "prune", "-f").split()) == ["idle1", "idle2"]
    assert bb.out("volume", "ls", "-q") == "used"
    # system prune --volumes: the stopped container goes first, then its volume is unused too
    out = bb.out("system", "prune", "-f", "--volumes")
    assert "Deleted Volumes\nused\n" in out
    assert bb.out("volume", "ls", "-q") == ""


def test_tmpfs_volume_is_mounted_while_a_container_uses_it(bb):
    bb("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=2M", "mem")
    data = bb.out("volume", "inspect", "--format", "{{.Mountpoint}}", "mem")
    bb(*RUN, "-d", "--name", "t1", "-v", "mem:/vol", IMG, "sleep", "300")
    bb(*RUN, "-d", "--name", "t2", "-v", "mem:/vol", IMG, "sleep", "300")
    out = bb.out("exec", "t1", "sh", "-c", "echo shared > /vol/f; mount | grep ' /vol '")
    assert out.startswith("tmpfs on /vol type tmpfs") and "size=2048k" in out
    assert bb.out("exec", "t2", "cat", "/vol/f") == "shared"
    assert mounts_under(data) == [data]
    assert bb.out("volume", "inspect", "--format", "{{.MountCount}}", "mem") == "2"
    bb("stop", "-t", "0", "t1")
    assert mounts_under(data) == [data]  # t2 still uses it
    bb("stop", "-t", "0", "t2")
    assert mounts_under(data) == []
    assert bb.out("volume", "inspect", "--format", "{{.MountCount}}", "mem") == "0"


@pytest.mark.parametrize("args, message", [
    (["-v", "ok:/ok", "-v", "v:/x:foo"], 'Error: invalid option type "foo"'),
    (["-v", "ok:/ok", "-v", "v:data"], 'Error: invalid container path "data", must be an absolute path'),
    (["-v", "ok:/ok", "-v", "/nope/nowhere:/x"], "Error: statfs /nope/nowhere: no such file or directory"),
    (["-v", "ok:/ok", "-v", "other:/ok"], "Error: /ok: duplicate mount destination"),
    (["-v", "ok:/ok", "--tmpfs", "/ok"], "Error: /ok: duplicate mount destination"),
    (["-v", "ok:/ok", "--mount", "type=bind,src=/tmp,dst=/x,bogus"], "Error: bogus: invalid mount option"),
    (["-v", "ok:/ok", "-v", "bad@name:/x"],
     "Error: running volume create option: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument"),
    (["-v", "ok:/ok", "--mount", "type=volume,src=v,dst=/x,volume-opt=color=red"],
     "Error: invalid mount option color for driver 'local': invalid argument"),
    (["-v", "/anon", "--name", "dup"], "Error: creating container storage: the container name \"dup\" is already in use"),
], ids=["option", "relative", "missing-host-path", "duplicate", "tmpfs-duplicate", "mount-option", "name",
        "volume-opt", "name-in-use"])
def test_bad_input_is_refused_and_leaves_nothing_behind(bb, args, message):
    existing = ""
    if "dup" in args:
        existing = bb.out("create", "--network", "none", "--name", "dup", IMG, "true")
    for verb in ("create", "run"):
        r = bb(verb, "--network", "none", *args, IMG, "true", check=False)
        assert one_error(r).startswith(message)
        assert r.stdout == ""
    assert bb.out("ps", "-aq", "--no-trunc") == existing
    assert bb.out("volume", "ls", "-q") == ""
    assert not os.path.exists(os.path.join(bb.root, "volumes")) or not os.listdir(os.path.join(bb.root, "volumes"))


def test_system_reset_removes_volumes(bb):
    bb("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "gone")
    bb(*RUN, "-d", "-v", "gone:/g", "-v", "named:/n", IMG, "sleep", "300")
    bb("system", "reset", "-f")
    assert bb.out("volume", "ls", "-q") == ""
    assert not os.path.exists(os.path.join(bb.root, "volumes"))


def test_mounts_are_ordered_parents_first(bb, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.2.3 mine\n")
    out = bb.out(*RUN, "--rm", "--read-only", "-v", f"{hosts}:/etc/hosts:ro", "-v", "sub:/srv/a/b", "-v", "top:/srv",
                 IMG, "sh", "-c", "cat /etc/hosts; grep -c berth /run/.containerenv; touch /srv/a/b/f /srv/g")
    # the user's /etc/hosts replaces berth's; --read-only's /run tmpfs does not hide .containerenv;
    # /srv is mounted before /srv/a/b, so both volumes are writable and neither hides the other
    assert out.splitlines() == ["10.1.2.3 mine", "1"]
    assert bb.out(*RUN, "--rm", "-v", "sub:/x", IMG, "ls", "/x") == "f"
