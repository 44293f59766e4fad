"""-v, --mount, --volumes-from and `volume create -o` parsing: Podman's rules and its error wording."""

from __future__ import annotations

import os

import pytest

from berth.engine.mountparse import (
    MountSpec,
    clean,
    inspect_fields,
    local_driver_options,
    oci_options,
    parse_mount_flag,
    parse_tmpfs_flag,
    parse_volume_flag,
    parse_volumes_from,
    process_options,
    validate_volume_opts,
)
from berth.errors import InvalidArgument


def err(fn, *args) -> str:
    with pytest.raises(InvalidArgument) as e:
        fn(*args)
    return e.value.message


# ------------------------------------------------------------------ -v / --volume


@pytest.mark.parametrize("value, want", [
    ("data:/data", MountSpec("volume", "/data", "data", [])),
    ("data:/data:ro,U", MountSpec("volume", "/data", "data", ["ro", "U"])),
    ("/data", MountSpec("volume", "/data", "", [])),                       # anonymous
    ("/srv/x:/x", MountSpec("bind", "/x", "/srv/x", [])),
    ("/srv/x:/x:ro,z", MountSpec("bind", "/x", "/srv/x", ["ro", "z"])),
    ("/srv/x:/x/sub/../y//", MountSpec("bind", "/x/y", "/srv/x", [])),     # destination cleaned
    ("v:/d:nocopy,cached", MountSpec("volume", "/d", "v", ["nocopy"])),    # macOS options dropped
])
def test_volume_flag(value, want):
    assert parse_volume_flag(value) == want


def test_volume_flag_relative_host_paths_become_absolute(tmp_path, monkeypatch):
    (tmp_path / "d").mkdir()
    monkeypatch.chdir(tmp_path)
    assert parse_volume_flag("./d:/x").source == str(tmp_path / "d")
    assert parse_volume_flag(".:/x").source == str(tmp_path)


@pytest.mark.parametrize("value, message", [
    ("a:/b:ro:x", "a:/b:ro:x: incorrect volume format, should be [host-dir:]ctr-dir[:option]"),
    (":/x", "host directory cannot be empty"),
    ("v:data", 'invalid container path "data", must be an absolute path'),
    ("data", 'invalid container path "data", must be an absolute path'),
    ("v:", "container directory cannot be empty"),
    ("v:/x:foo", 'invalid option type "foo"'),
    ("v:/x:ro,rw", "invalid options \"ro, rw\", can only specify 1 'rw' or 'ro' option"),
    ("v:/x:z,Z", "invalid options \"z, Z\", can only specify 1 'z', 'Z', or 'O' option"),
    ("v:/x:copy,nocopy", "invalid options \"copy, nocopy\", can only specify 1 'copy' or 'nocopy' option"),
    ("/a:/x:shared,private", "can only specify 1 '[r]shared', '[r]private', '[r]slave' or '[r]unbindable' option"),
])
def test_volume_flag_errors(value, message):
    assert message in err(parse_volume_flag, value)


def test_validate_volume_opts_keeps_order():
    assert validate_volume_opts(["ro", "Z", "U", "nosuid", "rshared", "rbind"]) == \
        ["ro", "Z", "U", "nosuid", "rshared", "rbind"]


# ------------------------------------------------------------------ --mount


@pytest.mark.parametrize("value, want", [
    ("type=bind,src=/srv,dst=/x", MountSpec("bind", "/x", "/srv", [])),
    ("type=bind,source=/srv,target=/x,readonly", MountSpec("bind", "/x", "/srv", ["ro"])),
    ("type=bind,destination=/x,ro=false", MountSpec("bind", "/x", "/x", [])),        # source defaults to dest
    ("type=bind,src=/srv,dst=/x,rw=false", MountSpec("bind", "/x", "/srv", ["ro"])),
    ("type=bind,src=/srv,dst=/x,bind-propagation=rshared,relabel=private",
     MountSpec("bind", "/x", "/srv", ["rshared", "Z"])),
    ("type=bind,src=/srv,dst=/x,bind-nonrecursive", MountSpec("bind", "/x", "/srv", ["bind"])),
    ("type=volume,src=v,dst=/x,U,nocopy", MountSpec("volume", "/x", "v", ["U", "nocopy"])),
    ("type=volume,target=/x", MountSpec("volume", "/x", "", [])),                  # anonymous
    ("src=v,dst=/x", MountSpec("volume", "/x", "v", [])),                          # the default type
    ("type=volume,src=v,dst=/x,volume-nocopy=true,chown=false", MountSpec("volume", "/x", "v", ["nocopy"])),
    ("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=700,noexec",
     MountSpec("tmpfs", "/t", "", ["size=1m", "mode=700", "noexec"])),
    ('"type=bind","src=/a,b","dst=/x"', MountSpec("bind", "/x", "/a,b", [])),       # CSV quoting
])
def test_mount_flag(value, want):
    assert parse_mount_flag(value) == want


def test_mount_flag_volume_opt_goes_to_a_new_volume():
    spec = parse_mount_flag("type=volume,src=v,dst=/x,volume-opt=type=tmpfs,volume-opt=device=tmpfs")
    assert spec.volume_options == {"type": "tmpfs", "device": "tmpfs"}


@pytest.mark.parametrize("value, message", [
    ("type=bind,src=/a", "must set volume destination"),
    ("type=bind,src=/a,dst=rel", 'invalid container path "rel", must be an absolute path'),
    ("type=bind,src=/a,dst=/x,foo=bar", "foo: invalid mount option"),
    ("type=weird,dst=/x", 'invalid filesystem type "weird"'),
    ("type=glob,src=/a*,dst=/x", 'mount type "glob" is not supported by berth'),
    ("type=tmpfs,src=/a,dst=/x", '"src" option not supported for "tmpfs" mount types'),
    ("type=volume,src=v,dst=/x,tmpfs-size=1m", '"tmpfs-size" option not supported for "volume" mount types'),
    ("type=bind,src=/a,dst=/x,bind-propagation=sideways", 'invalid value "bind-propagation=sideways"'),
    ("type=bind,src=/a,dst=/x,ro,rw", "cannot pass 'readonly', 'ro', or 'rw' mnt.Options more than once"),
    ("type=bind,src=/a,src=/b,dst=/x", 'cannot pass "src" option more than once'),
    ("type=bind,src=,dst=/x", "host directory cannot be empty"),
    ("type=volume,src=v,dst=/x,U=maybe", "'U' must be set to true or false, instead received \"maybe\""),
    ("type=bind,src=/a,dst=/x,relabel=other", "relabel mount option must be 'private' or 'shared'"),
])
def test_mount_flag_errors(value, message):
    assert message in err(parse_mount_flag, value)


def test_tmpfs_flag():
    assert parse_tmpfs_flag("/t:size=1m,ro") == MountSpec("tmpfs", "/t", "tmpfs", ["size=1m", "ro"])
    assert 'invalid container path "t"' in err(parse_tmpfs_flag, "t")


# ------------------------------------------------------------------ --volumes-from


def test_volumes_from():
    assert parse_volumes_from("web") == ("web", [])
    assert parse_volumes_from("web:ro") == ("web", ["ro"])
    assert parse_volumes_from("web:rw,z") == ("web", ["rw", "z"])
    assert "can only specify 'ro', 'rw', and 'z'" in err(parse_volumes_from, "web:exec")
    assert "cannot set ro or rw options more than once" in err(parse_volumes_from, "web:ro,rw")
    assert "must be CONTAINER[:OPTIONS]" in err(parse_volumes_from, "a:b:c")


# ------------------------------------------------------------------ options as the runtime and inspect see them


def test_process_options_named_volume_defaults():
    # Podman: a named volume is nosuid,nodev, rw, rprivate, rbind unless told otherwise
    assert process_options([], "") == ["rw", "rprivate", "nosuid", "nodev", "rbind"]
    assert process_options(["ro", "U"], "") == ["ro", "U", "rprivate", "nosuid", "nodev", "rbind"]
    assert process_options(["bind"], "") == ["bind", "rw", "private", "nosuid", "nodev"]


def test_process_options_bind_takes_the_source_filesystem_flags(tmp_path):
    st = os.statvfs(tmp_path)
    got = process_options(["rshared"], str(tmp_path))
    assert got[:2] == ["rshared", "rw"]  # the user's propagation kept, no rprivate added
    assert "rprivate" not in got
    assert ("nosuid" in got) == bool(st.f_flag & os.ST_NOSUID)
    assert ("noexec" in got) == bool(st.f_flag & os.ST_NOEXEC)
    assert got[-1] == "rbind"


def test_process_options_missing_source():
    assert err(process_options, [], "/no/such/dir") == "statfs /no/such/dir: no such file or directory"


def test_oci_options_drop_what_berth_handles_itself():
    assert oci_options(["ro", "U", "z", "nocopy", "rprivate", "rbind"]) == ["ro", "rprivate", "rbind"]


def test_inspect_fields():
    assert inspect_fields(["ro", "Z", "rslave", "nosuid", "rbind"]) == \
        {"Mode": "Z", "Options": ["nosuid", "rbind"], "RW": False, "Propagation": "rslave"}
    assert inspect_fields(["rw", "rprivate", "rbind"]) == \
        {"Mode": "", "Options": ["rbind"], "RW": True, "Propagation": "rprivate"}


def test_clean():
    assert clean("//a/./b/../c/") == "/a/c"
    assert clean("/") == "/"


# ------------------------------------------------------------------ volume create -o (local driver)


def test_local_driver_options():
    assert local_driver_options({}) == ({}, None, None)
    opts, uid, gid = local_driver_options({"o": "uid=1000,gid=100,noexec"})
    assert (uid, gid) == (1000, 100)
    assert opts == {"UID": "1000", "GID": "100", "o": "uid=1000,gid=100,noexec"}
    opts, _, _ = local_driver_options({"type": "tmpfs", "device": "tmpfs", "o": "size=2M"})
    assert opts == {"type": "tmpfs", "device": "tmpfs", "SIZE": "2M", "o": "size=2M"}
    assert local_driver_options({"nocopy": ""})[0] == {"nocopy": ""}


@pytest.mark.parametrize("opts, message", [
    ({"badOpt": "bad"}, "invalid mount option badOpt for driver 'local': invalid argument"),
    ({"type": "bind", "device": "/bogus/dir"},
     "invalid volume option device for driver 'local': stat /bogus/dir: no such file or directory"),
    ({"o": "uid"}, "uid option must provide a UID: invalid argument"),
    ({"o": "gid=x"}, 'cannot convert GID x to integer: strconv.Atoi: parsing "x": invalid syntax'),
    ({"o": "size=1G"}, "volume options size and inodes not supported. Filesystem does not support Project Quota"),
    ({"o": "size=1G,noquota"}, "volume options size and inodes cannot be used without quota"),
    ({"type": "tmpfs", "o": "inodes=10"}, "volume option inodes not supported on tmpfs filesystem"),
])
def test_local_driver_option_errors(opts, message):
    assert err(local_driver_options, opts) == message


@pytest.mark.parametrize("name,ok", [("a", True), ("web-1.data_x", True), ("9", True), ("", False), ("-a", False),
                                     ("_a", False), (".a", False), ("a/b", False), ("a b", False), ("é", False),
                                     ("a:b", False)])
def test_names_follow_podmans_pattern(name, ok):
    import re

    from berth.engine.mountparse import valid_volume_name
    from berth.util.ids import valid_name

    assert valid_name(name) is ok is valid_volume_name(name)
    assert ok is bool(re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name))
