"""registries.conf, auth.json, challenges, platform choice and tar-split: pure code, no network."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from berth.errors import InvalidArgument
from berth.image import credentials
from berth.image import registries_conf as rc
from berth.image.registry.auth import parse_challenge
from berth.image.registry.errors import RegistryError, error_text
from berth.image.registry.manifest import Platform, choose, media_type, parse_platform


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def load(text: str, dropins: dict[str, str] | None = None) -> rc.RegistriesConf:
        main = tmp_path / "registries.conf"
        main.write_text(text)
        monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(main))
        d = tmp_path / "d"
        d.mkdir(exist_ok=True)
        for name, body in (dropins or {}).items():
            (d / name).write_text(body)
        monkeypatch.setattr(rc, "SYSTEM_CONF_DIR", str(d))
        return rc.load()

    return load


def test_short_names_search_and_aliases(conf) -> None:
    c = conf('unqualified-search-registries = ["quay.io", "docker.io"]\n[aliases]\n"tool" = "example.com/t/tool"\n')
    assert rc.resolve_short_name(c, "busybox") == ["quay.io/busybox:latest", "docker.io/library/busybox:latest"]
    assert rc.resolve_short_name(c, "tool:1") == ["example.com/t/tool:1"]
    assert rc.resolve_short_name(c, "tool") == ["example.com/t/tool:latest"]
    assert rc.resolve_short_name(c, "reg.io/a/b") == ["reg.io/a/b:latest"]
    empty = conf("")
    with pytest.raises(InvalidArgument, match='short-name "x" did not resolve to an alias'):
        rc.resolve_short_name(empty, "x")


def test_dropins_merge(conf) -> None:
    c = conf('unqualified-search-registries = ["a.io"]\n[aliases]\n"x" = "a.io/x"\n',
             {"10-more.conf": 'unqualified-search-registries = ["b.io"]\n[aliases]\n"y" = "b.io/y"\n'
                              '[[registry]]\nlocation = "b.io"\ninsecure = true\n'})
    assert c.search == ["b.io"]
    assert c.aliases == {"x": "a.io/x", "y": "b.io/y"}
    assert c.insecure("b.io") and not c.insecure("a.io")


def test_mirrors_prefix_rewrite_and_blocked(conf) -> None:
    c = conf('''
[[registry]]
prefix = "docker.io/library"
location = "internal.example/hub"
[[registry.mirror]]
location = "mirror.local:5000/hub"
insecure = true
[[registry]]
prefix = "digest.example"
location = "digest.example"
mirror-by-digest-only = true
[[registry.mirror]]
location = "m.example"
[[registry]]
location = "bad.example"
blocked = true
[[registry]]
prefix = "*.wild.example"
insecure = true
''')
    srcs = c.pull_sources("docker.io/library/busybox:1", by_digest=False)
    assert [(s.reference, s.insecure, s.mirror) for s in srcs] == [
        ("mirror.local:5000/hub/busybox:1", True, True), ("internal.example/hub/busybox:1", False, False)]
    assert [s.reference for s in c.pull_sources("docker.io/other/x:1", False)] == ["docker.io/other/x:1"]
    assert [s.mirror for s in c.pull_sources("digest.example/a:1", False)] == [False]
    assert [s.mirror for s in c.pull_sources("digest.example/a@sha256:" + "0" * 64, True)] == [True, False]
    with pytest.raises(InvalidArgument, match="blocked"):
        c.pull_sources("bad.example/a:1", False)
    assert c.insecure("x.wild.example")


def test_v1_format(conf) -> None:
    c = conf('[registries.search]\nregistries = ["r.io"]\n[registries.insecure]\nregistries = ["i.io"]\n'
             '[registries.block]\nregistries = ["b.io"]\n')
    assert c.search == ["r.io"] and c.insecure("i.io") and c.blocked("b.io/x")


def test_auth_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    authfile = str(tmp_path / "auth.json")
    credentials.store("reg.io", "u1", "p:1", authfile)
    credentials.store("reg.io/team/app", "u2", "p2", authfile)
    assert oct(os.stat(authfile).st_mode & 0o777) == "0o600"
    assert credentials.lookup("reg.io", "other", authfile) == ("u1", "p:1")
    assert credentials.lookup("reg.io", "team/app", authfile) == ("u2", "p2")
    assert credentials.lookup("reg.io", "team/app/sub", authfile) == ("u2", "p2")
    docker = tmp_path / ".docker"
    docker.mkdir()
    auth = base64.b64encode(b"hub:pw").decode()
    (docker / "config.json").write_text(json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": auth}}}))
    assert credentials.lookup("docker.io", "library/x", authfile) == ("hub", "pw")
    assert credentials.remove("reg.io", authfile)
    assert not credentials.remove("reg.io", authfile)
    assert credentials.username("reg.io/team/app", authfile) == "u2"


def test_challenge_and_error_text() -> None:
    scheme, params = parse_challenge('Bearer realm="https://auth.io/token",service="reg.io",'
                                     'scope="repository:a/b:pull,push"')
    assert scheme == "bearer"
    assert params == {"realm": "https://auth.io/token", "service": "reg.io", "scope": "repository:a/b:pull,push"}
    assert parse_challenge('Basic realm="x"') == ("basic", {"realm": "x"})
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    assert error_text(body, 404) == "manifest unknown: manifest unknown"
    assert error_text(b"<html>", 502, "Bad Gateway") == "received unexpected HTTP status: 502 Bad Gateway"


def test_platform_choice() -> None:
    index = {"manifests": [
        {"digest": "sha256:a", "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "sha256:b", "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "sha256:c", "mediaType": "application/vnd.oci.image.manifest.v1+json",
         "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
    ]}
    assert choose(index, Platform("linux", "arm64"), "x")["digest"] == "sha256:b"
    assert choose(index, Platform("linux", "amd64"), "x")["digest"] == "sha256:a"
    assert choose(index, Platform("linux", "arm", "v6"), "x")["digest"] == "sha256:c"
    with pytest.raises(RegistryError, match='architecture "arm", variant "v7"'):
        choose(index, Platform("linux", "arm", "v7"), "x")
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert parse_platform(arch="s390x").architecture == "s390x"
    with pytest.raises(InvalidArgument):
        parse_platform("linux")
    assert media_type(b'{"manifests": []}', None).endswith("index.v1+json")
    assert media_type(b"{}", "application/vnd.docker.distribution.manifest.v2+json; charset=x").endswith("v2+json")


def _layer(files: dict[str, bytes], pad: int = 0) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue() + bytes(pad)


@pytest.mark.parametrize("compress", [False, True])
def test_tar_split_rebuilds_the_exact_stream(tmp_path: Path, compress: bool) -> None:
    from berth.storage.apply import apply_layer
    from berth.storage.tarsplit import rebuild

    files = {f"d/{'long' * 40}{i}": os.urandom(i * 1000) for i in range(30)}
    files[".wh.gone"] = b""
    raw = _layer(files, pad=4096)
    split = str(tmp_path / "split")
    res = apply_layer(io.BytesIO(gzip.compress(raw) if compress else raw), tmp_path / "d", tar_split=split)
    rebuilt = b"".join(rebuild(split, str(tmp_path / "d")))
    assert rebuilt == raw and res.diff_id == "sha256:" + hashlib.sha256(rebuilt).hexdigest()


def test_tar_split_removed_when_apply_fails(tmp_path: Path) -> None:
    from berth.storage.apply import apply_layer

    split = tmp_path / "split"
    with pytest.raises(Exception, match="diff ID"):
        apply_layer(io.BytesIO(_layer({"a": b"x"})), tmp_path / "d", expected_diff_id="sha256:" + "0" * 64,
                    tar_split=str(split))
    assert not split.exists()


def test_proxy_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from berth.image.registry.transport import _proxy_for

    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    assert _proxy_for("quay.io") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,.internal.example")
    assert _proxy_for("quay.io") == "http://proxy.example:3128"
    assert _proxy_for("127.0.0.1:5000") is None
    assert _proxy_for("reg.internal.example:443") is None
