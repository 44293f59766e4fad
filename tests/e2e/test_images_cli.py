"""Image commands through the CLI: import, images, image inspect, tag/untag, rmi, image exists/prune, history."""

from __future__ import annotations

import json
import re

import pytest

IMG = "localhost/busybox"
# Containers get no network unless a test is about networking: bridge setup of parallel stores races on
# the host's shared podman0 bridge and its iptables chains (see the report), which is not what these test.
RUN = ("run", "--network", "none")
CREATE = ("create", "--network", "none")
ID64 = re.compile(r"^(sha256:)?[0-9a-f]{64}$")


def _cols(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def _image_id(b, ref: str) -> str:
    return b.out("image", "inspect", "--format", "{{.Id}}", ref)


# ------------------------------------------------------------------ import


def test_import_file(berth, busybox_tar):
    r = berth("import", str(busybox_tar), "localhost/busybox")
    assert ID64.match(r.stdout.strip()), r.stdout
    iid = r.stdout.strip().removeprefix("sha256:")
    assert _image_id(berth, IMG) == iid
    assert berth("image", "exists", IMG).returncode == 0
    assert berth.out("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}") == f"{IMG} latest {iid[:12]}"
    assert berth.out(*RUN, "--rm", IMG, "echo", "works") == "works"


def test_import_short_name_is_qualified_with_localhost(berth, busybox_tar):
    berth("import", "-q", str(busybox_tar), "shorty:v2")
    assert berth.out("images", "--format", "{{.Repository}}:{{.Tag}}") == "localhost/shorty:v2"
    assert berth("image", "exists", "shorty:v2").returncode == 0


def test_import_stdin_with_change_cmd(berth, busybox_tar):
    data = busybox_tar.read_bytes()
    r = berth("import", "--change", 'CMD=["/bin/echo","from-cmd"]', "-", "localhost/withcmd", input=data)
    assert ID64.match(r.stdout.decode().strip())
    assert berth.out("image", "inspect", "--format", "{{.Config.Cmd}}", "localhost/withcmd") == "[/bin/echo from-cmd]"
    assert berth.out(*RUN, "--rm", "localhost/withcmd") == "from-cmd"
    # the shell form, as Podman stores it
    berth("import", "--change", "CMD=/bin/pwd", "-c", "WORKDIR=/tmp", "-", "localhost/shellcmd", input=data)
    fmt = "{{.Config.Cmd}} {{.Config.WorkingDir}}"
    assert berth.out("image", "inspect", "--format", fmt, "localhost/shellcmd") == "[/bin/sh -c /bin/pwd] /tmp"
    assert berth.out(*RUN, "--rm", "localhost/shellcmd") == "/tmp"


def test_import_without_cmd_needs_a_command(berth, busybox_tar):
    berth("import", str(busybox_tar), IMG)
    assert berth.out("image", "inspect", "--format", "{{.Config.Cmd}}", IMG) == "[]"
    r = berth(*RUN, "--rm", IMG, check=False)
    assert r.returncode == 125
    assert r.stderr.startswith("Error: ") and "no command" in r.stderr
    assert berth.out("ps", "-aq") == ""


# ------------------------------------------------------------------ images


def test_images_table_and_flags(bb, busybox_tar):
    iid = _image_id(bb, IMG)
    lines = bb.out("images").splitlines()
    assert _cols(lines[0]) == ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]
    row = _cols(lines[1])
    assert row[:3] == [IMG, "latest", iid[:12]]
    assert row[3].endswith("ago") and re.fullmatch(r"[\d.]+ [kMG]?B", row[4])
    assert [_cols(ln)[:3] for ln in bb.out("images", "--noheading").splitlines()] == [row[:3]]
    assert bb.out("images", "-q") == iid[:12]
    assert bb.out("images", "-q", "--no-trunc") in (iid, f"sha256:{iid}")
    bb("import", "-q", str(busybox_tar))  # no name: a dangling image, listed as <none>
    assert len(bb.out("images", "-q").splitlines()) == 2
    assert len(bb.out("images", "-a", "-q").splitlines()) == 2
    none = bb.out("images", "--filter", "dangling=true", "--format", "{{.Repository}} {{.Tag}}")
    assert none == "<none> <none>"
    assert bb.out("images", "--filter", "dangling=false", "--format", "{{.ID}}") == iid[:12]
    assert bb.out("images", "--filter", "reference=localhost/busybox", "-q") == iid[:12]
    assert bb.out("images", "--filter", "reference=busybox", "-q") == iid[:12]
    assert bb.out("images", "--filter", "reference=nomatch*", "-q") == ""
    assert bb.out("images", IMG, "-q") == iid[:12]


def test_images_format_json(bb):
    bb("tag", IMG, "localhost/second:v1")
    docs = json.loads(bb.out("images", "--format", "json"))
    assert len(docs) == 1
    d = docs[0]
    assert d["Id"] == _image_id(bb, IMG)
    assert sorted(d["Names"]) == ["localhost/busybox:latest", "localhost/second:v1"]
    assert d["Containers"] == 0 and d["Size"] > 1_000_000
    assert isinstance(d["Created"], int)
    bb(*CREATE, IMG, "true")
    assert json.loads(bb.out("images", "--format", "json"))[0]["Containers"] == 1


def test_images_format_table_template(bb):
    out = bb.out("images", "--format", "table {{.Repository}}\t{{.Tag}}")
    assert [_cols(ln) for ln in out.splitlines()] == [["REPOSITORY", "TAG"], [IMG, "latest"]]
    assert bb.out("images", "--format", "{{.Repository}}:{{.Tag}}") == f"{IMG}:latest"


def test_images_bad_filter(bb):
    r = bb("images", "--filter", "bogus=1", check=False)
    assert r.returncode == 125
    assert r.stderr.startswith("Error: ") and "bogus" in r.stderr


# ------------------------------------------------------------------ image inspect


def test_image_inspect(bb):
    iid = _image_id(bb, IMG)
    docs = json.loads(bb.out("image", "inspect", IMG))
    assert len(docs) == 1
    d = docs[0]
    assert d["Id"] == iid
    assert d["RepoTags"] == ["localhost/busybox:latest"]
    assert d["Os"] == "linux" and d["Architecture"]
    assert d["RootFS"]["Type"] == "layers" and len(d["RootFS"]["Layers"]) == 1
    assert d["Size"] > 1_000_000
    # the generic inspect finds images too, and so do an ID prefix and the short name
    assert json.loads(bb.out("inspect", IMG))[0]["Id"] == iid
    assert bb.out("image", "inspect", "--format", "{{.Id}}", iid[:12]) == iid
    assert bb.out("image", "inspect", "--format", "{{.Id}}", "busybox") == iid
    assert bb.out("inspect", "--type", "image", "--format", "{{.Os}}", IMG) == "linux"


# ------------------------------------------------------------------ tag / untag


def test_tag_adds_names(bb):
    iid = _image_id(bb, IMG)
    assert bb("tag", IMG, "mybb:v1", "other/bb").stdout == ""
    rows = {tuple(_cols(ln)[:3]) for ln in bb.out("images", "--noheading").splitlines()}
    assert rows == {(IMG, "latest", iid[:12]), ("localhost/mybb", "v1", iid[:12]),
                    ("localhost/other/bb", "latest", iid[:12])}
    assert bb.out("images", "-q") == iid[:12]  # one image, listed once by -q
    assert bb.out(*RUN, "--rm", "mybb:v1", "echo", "by-tag") == "by-tag"
    r = bb("tag", "localhost/nope", "x", check=False)
    assert r.returncode == 125 and "image not known" in r.stderr


def test_untag_last_name_leaves_a_dangling_image(bb):
    iid = _image_id(bb, IMG)
    bb("tag", IMG, "localhost/second")
    bb("untag", IMG, "localhost/second")
    assert bb.out("images", "--format", "{{.Repository}}:{{.Tag}}") == f"{IMG}:latest"
    bb("untag", IMG)
    assert bb.out("images", "--format", "{{.Repository}} {{.Tag}} {{.ID}}") == f"<none> <none> {iid[:12]}"
    assert bb.out("images", "--filter", "dangling=true", "-q") == iid[:12]
    assert bb("image", "exists", IMG, check=False).returncode == 1
    assert bb("image", "exists", iid).returncode == 0
    r = bb("untag", IMG, check=False)
    assert r.returncode == 125 and "image not known" in r.stderr


# ------------------------------------------------------------------ rmi


def test_rmi_of_one_of_several_names_only_untags(bb):
    iid = _image_id(bb, IMG)
    bb("tag", IMG, "localhost/second")
    assert bb.out("rmi", "localhost/second") == "Untagged: localhost/second:latest"
    assert bb("image", "exists", iid).returncode == 0
    out = bb.out("rmi", IMG).splitlines()
    assert out == ["Untagged: localhost/busybox:latest", f"Deleted: {iid}"]
    assert bb.out("images", "-q") == ""
    assert bb("image", "exists", iid, check=False).returncode == 1


def test_rmi_of_an_image_in_use(bb):
    iid = _image_id(bb, IMG)
    cid = bb.out(*CREATE, "--name", "user", IMG, "true")
    r = bb("rmi", IMG, check=False)
    assert r.returncode == 2
    assert r.stderr.startswith("Error: ") and len(r.stderr.splitlines()) == 1
    assert "image is in use by a container" in r.stderr and cid in r.stderr
    assert bb("image", "exists", IMG).returncode == 0
    assert bb("container", "exists", "user").returncode == 0
    # -f removes the containers using it, then the image
    out = bb.out("rmi", "-f", IMG).splitlines()
    assert out[-1] == f"Deleted: {iid}"
    assert bb.out("ps", "-aq") == ""
    assert bb.out("images", "-q") == ""


def test_rmi_of_an_image_a_running_container_uses(bb):
    bb(*RUN, "-d", "--name", "busy", IMG, "sleep", "30")
    r = bb("rmi", IMG, check=False)
    assert r.returncode == 2 and "image is in use by a container" in r.stderr
    bb("rmi", "-f", IMG)
    assert bb.out("ps", "-aq") == ""
    assert bb.out("images", "-q") == ""


def test_rmi_unknown_image(bb):
    r = bb("rmi", "localhost/nope", check=False)
    assert r.returncode == 1
    assert r.stderr == "Error: localhost/nope: image not known\n"
    r = bb("rmi", "-f", "localhost/nope")  # Podman: --force ignores missing images
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert bb("rmi", "-i", "localhost/nope").returncode == 0
    assert bb("image", "exists", IMG).returncode == 0


def test_rmi_all(bb, busybox_tar):
    bb("import", "-q", str(busybox_tar), "localhost/two")
    assert len(bb.out("images", "-q").splitlines()) == 2
    bb("rmi", "-a")
    assert bb.out("images", "-q") == ""


# ------------------------------------------------------------------ image exists / prune / history


@pytest.mark.parametrize(("ref", "code"), [(IMG, 0), ("busybox", 0), ("busybox:latest", 0),
                                            ("localhost/nope", 1), ("busybox:other", 1)])
def test_image_exists(bb, ref, code):
    r = bb("image", "exists", ref, check=False)
    assert (r.returncode, r.stdout, r.stderr) == (code, "", "")


def test_image_prune(bb, busybox_tar):
    iid = _image_id(bb, IMG)
    dangling = bb.out("import", str(busybox_tar)).removeprefix("sha256:")
    assert bb.out("image", "prune", "-f") == dangling
    assert bb.out("images", "-q") == iid[:12]
    assert bb.out("image", "prune", "-f") == ""
    # -a: every image no container uses, named or not
    bb("import", "-q", str(busybox_tar), "localhost/unused")
    unused = _image_id(bb, "localhost/unused")
    bb(*CREATE, IMG, "true")
    assert bb.out("image", "prune", "-a", "-f") == unused
    assert bb.out("images", "-q") == iid[:12]


def test_history(bb):
    iid = _image_id(bb, IMG)
    lines = bb.out("history", IMG).splitlines()
    assert _cols(lines[0]) == ["ID", "CREATED", "CREATED BY", "SIZE", "COMMENT"]
    assert len(lines) == 2
    row = _cols(lines[1])
    assert row[0] == iid[:12]
    assert row[1].endswith("ago")
    assert row[2].startswith("/bin/sh -c #(nop) ADD file:")
    assert re.fullmatch(r"[\d.]+ [kMG]?B", row[3])
    assert bb.out("history", "-q", IMG) == iid[:12]
    assert bb.out("history", "--no-trunc", "-q", IMG) in (iid, f"sha256:{iid}")
    assert bb.out("history", "--format", "{{.ID}} {{.Size}}", IMG).startswith(iid[:12] + " ")
    docs = json.loads(bb.out("history", "--format", "json", IMG))
    assert len(docs) == 1 and docs[0]["id"] == iid
    r = bb("history", "localhost/nope", check=False)
    assert r.returncode == 125 and "image not known" in r.stderr
