"""pull / push / login / search / save / load / export against Debian's docker-registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.conftest import PASSWORD, USER, layer_dirs

NO_TLS = "--tls-verify=false"


def _push(b, reg, name: str, *extra: str) -> str:
    b("push", NO_TLS, *extra, "localhost/busybox", f"{reg.host}/{name}")
    return f"{reg.host}/{name}"


def test_push_pull_run_round_trip(bb, other, registry, tmp_path: Path) -> None:
    digestfile = tmp_path / "digest"
    ref = f"{registry.host}/rt/busybox:1.0"
    bb("push", NO_TLS, "--digestfile", str(digestfile), "localhost/busybox", ref)
    digest = digestfile.read_text()
    assert digest.startswith("sha256:")
    out = other("pull", NO_TLS, ref)
    image_id = out.stdout.strip()
    assert image_id == bb.out("image", "inspect", "--format", "{{.Id}}", "localhost/busybox")
    assert "Copying blob" in out.stderr and "Writing manifest" in out.stderr
    assert other.out("run", "--rm", ref, "echo", "pulled and ran") == "pulled and ran"
    listing = other.out("images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}")
    assert f"{registry.host}/rt/busybox 1.0 {digest}" in listing
    doc = json.loads(other.out("image", "inspect", ref))[0]
    assert doc["RepoDigests"] == [f"{registry.host}/rt/busybox@{digest}"]
    assert doc["RepoTags"] == [ref]
    # A second push reuses what the registry has: nothing is compressed or uploaded again.
    again = bb("push", NO_TLS, "--digestfile", str(digestfile), "localhost/busybox", ref)
    assert digestfile.read_text() == digest, again.stderr


def test_pull_by_digest_and_quiet(bb, other, registry, tmp_path: Path) -> None:
    df = tmp_path / "d"
    bb("push", NO_TLS, "--digestfile", str(df), "localhost/busybox", f"{registry.host}/bydigest/bb:x")
    ref = f"{registry.host}/bydigest/bb@{df.read_text()}"
    r = other("pull", "-q", NO_TLS, ref)
    assert r.stderr == "" and len(r.stdout.strip()) == 64
    assert other.out("images", "--format", "{{.Repository}} {{.Tag}}") == f"{registry.host}/bydigest/bb <none>"
    assert other.out("run", "--rm", ref, "echo", "ok") == "ok"


def test_push_formats_and_zstd_and_cross_repo_mount(bb, other, registry) -> None:
    bb("push", NO_TLS, "--format", "v2s2", "localhost/busybox", f"{registry.host}/fmt/v2s2")
    bb("push", NO_TLS, "--compression-format", "zstd", "localhost/busybox", f"{registry.host}/fmt/zstd")
    r = bb.fail("push", NO_TLS, "--format", "v2s2", "--compression-format", "zstd", "localhost/busybox",
                f"{registry.host}/fmt/bad", code=125)
    assert "zstd" in r.stderr
    for name in ("fmt/v2s2", "fmt/zstd"):
        other("pull", NO_TLS, f"{registry.host}/{name}")
        assert other.out("run", "--rm", f"{registry.host}/{name}", "echo", name) == name
    inspect = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                              f"docker://{registry.host}/fmt/zstd"], capture_output=True, text=True, check=True)
    assert json.loads(inspect.stdout)["layers"][0]["mediaType"].endswith("+zstd")
    # the gzip layer pushed to rt/ is mounted into a new repository rather than uploaded again
    bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/mount/a")
    bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/mount/b")
    assert '"mount/b"' in registry.catalog()


def test_manifest_list_platforms(bb, other, registry, busybox_tar: Path) -> None:
    from berth.image.push import Pushed, push_index
    from berth.image.registry.manifest import Platform
    from berth.image.session import Session

    session = Session(False, None, None, None, conf=_empty_conf())
    entries = []
    for arch in ("amd64", "arm64"):
        bb("import", "--arch", arch, str(busybox_tar), f"localhost/multi-{arch}")
        bb("push", NO_TLS, f"localhost/multi-{arch}", f"{registry.host}/multi/img:{arch}")
        client = session.client_for(registry.host, True)
        data, mt, digest = client.get_manifest("multi/img", arch)
        entries.append((Pushed(digest, len(data), mt, ""), Platform("linux", arch, "v8" if arch == "arm64" else "")))
    push_index(session, f"{registry.host}/multi/img:latest", entries)
    ref = f"{registry.host}/multi/img:latest"
    other("pull", NO_TLS, "--platform", "linux/arm64", ref)
    assert other.out("image", "inspect", "--format", "{{.Architecture}}", ref) == "arm64"
    other("pull", NO_TLS, ref)
    assert other.out("image", "inspect", "--format", "{{.Architecture}}", ref) == "amd64"
    digests = json.loads(other.out("image", "inspect", ref))[0]["RepoDigests"]
    assert len(digests) == 2  # the instance's digest and the list's, as Podman records them
    r = other.fail("pull", NO_TLS, "--arch", "s390x", ref, code=125)
    assert 'no image found in manifest list for architecture "s390x"' in r.stderr


def _empty_conf():
    from berth.image.registries_conf import RegistriesConf

    return RegistriesConf()


def test_pull_errors(other, registry) -> None:
    r = other.fail("pull", NO_TLS, f"{registry.host}/does/not-exist:1", code=125)
    assert r.stderr.strip().splitlines()[-1] == (
        f"Error: initializing source docker://{registry.host}/does/not-exist:1: reading manifest 1 in "
        f"{registry.host}/does/not-exist: manifest unknown: manifest unknown")
    r = other.fail("pull", f"{registry.host}/does/not-exist:1", code=125)  # TLS against plain HTTP
    assert "pinging container registry" in r.stderr
    r = other.fail("run", "--rm", "--pull", "never", "localhost/nope", "true", code=125)
    assert r.stderr.strip() == "Error: localhost/nope: image not known"
    assert layer_dirs(other) == [] and other.out("images", "-q") == ""


def test_auth_and_tls(bb, other, tls_registry, tmp_path: Path) -> None:
    reg = tls_registry
    authfile = tmp_path / "auth.json"
    cert = ["--cert-dir", str(reg.cert_dir)]
    # TLS verification fails without the test CA; with --cert-dir it passes and auth is asked for
    r = bb.fail("login", "-u", USER, "-p", PASSWORD, "--authfile", str(authfile), reg.host, code=125)
    assert "certificate" in r.stderr
    r = bb.fail("login", "-u", USER, "-p", "wrong", "--authfile", str(authfile), *cert, reg.host, code=125)
    assert r.stderr.strip() == f'Error: logging into "{reg.host}": invalid username/password'
    assert not authfile.exists()
    r = bb("login", "-u", USER, "--password-stdin", "--authfile", str(authfile), *cert, reg.host,
           input=PASSWORD + "\n")
    assert r.stdout.strip() == "Login Succeeded!"
    assert bb.out("login", "--get-login", "--authfile", str(authfile), reg.host) == USER
    ref = f"{reg.host}/secure/busybox:1"
    bb("push", "--authfile", str(authfile), *cert, "localhost/busybox", ref)
    # anonymous pull is refused; --creds, the auth file and --tls-verify=false all work
    r = other.fail("pull", *cert, ref, code=125)
    assert "authentication required" in r.stderr and len(r.stderr.strip().splitlines()) == 1 + 1
    r = other.fail("pull", *cert, "--creds", f"{USER}:nope", ref, code=125)
    assert "invalid username/password" in r.stderr or "authentication required" in r.stderr
    other("pull", *cert, "--creds", f"{USER}:{PASSWORD}", ref)
    other("rmi", ref)
    other("pull", "--authfile", str(authfile), "--tls-verify=false", ref)
    assert other.out("run", "--rm", ref, "echo", "secure") == "secure"
    assert bb.out("logout", "--authfile", str(authfile), reg.host) == f"Removed login credentials for {reg.host}"
    r = bb.fail("logout", "--authfile", str(authfile), reg.host, code=125)
    assert r.stderr.strip() == f"Error: not logged into {reg.host}"
    bb("login", "-u", USER, "-p", PASSWORD, "--authfile", str(authfile), "--tls-verify=false", reg.host)
    assert bb.out("logout", "-a", "--authfile", str(authfile)) == "Removed login credentials for all registries"
    assert json.loads(authfile.read_text())["auths"] == {}


def test_short_names_aliases_mirrors_blocked(bb, other, registry, regconf) -> None:
    bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/library/busybox:latest")
    bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/team/tool:2")
    env = regconf(f'''
unqualified-search-registries = ["docker.io"]
[[registry]]
prefix = "docker.io"
location = "docker.io"
[[registry.mirror]]
location = "{registry.host}"
insecure = true
[[registry]]
location = "{registry.host}"
insecure = true
[[registry]]
location = "blocked.example.com"
blocked = true
[aliases]
"mytool" = "{registry.host}/team/tool"
''')
    out = other("pull", "busybox", env=env)
    assert "Trying to pull docker.io/library/busybox:latest..." in out.stderr
    assert other.out("images", "--format", "{{.Repository}}:{{.Tag}}", env=env) == "docker.io/library/busybox:latest"
    other("pull", "mytool:2", env=env)
    assert other.out("run", "--rm", f"{registry.host}/team/tool:2", "echo", "alias", env=env) == "alias"
    r = other.fail("pull", "blocked.example.com/x/y", env=env, code=125)
    assert "blocked" in r.stderr
    other("rmi", "-a", "-f")
    # run pulls a missing image through the mirror (default --pull=missing)
    assert other.out("run", "--rm", "busybox", "echo", "via mirror", env=env) == "via mirror"
    assert other.out("run", "--rm", "--pull", "always", "busybox", "echo", "always", env=env) == "always"
    env2 = regconf("")
    r = other.fail("pull", "nosuchshortname", env=env2, code=125)
    assert 'short-name "nosuchshortname" did not resolve to an alias and no unqualified-search registries' in r.stderr


def test_search_and_all_tags(bb, other, registry) -> None:
    for tag in ("a", "b"):
        bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/searchme/tool:{tag}")
    out = other.out("search", NO_TLS, f"{registry.host}/searchme")
    assert f"{registry.host}/searchme/tool" in out and out.startswith("NAME")
    tags = other.out("search", NO_TLS, "--list-tags", f"{registry.host}/searchme/tool")
    assert "a" in tags.split() and "b" in tags.split()
    other("pull", NO_TLS, "--all-tags", f"{registry.host}/searchme/tool")
    assert sorted(other.out("images", "--format", "{{.Tag}}").split()) == ["a", "b"]


def test_save_load_formats_and_multi_image(bb, other, tmp_path: Path, busybox_tar: Path) -> None:
    bb("tag", "localhost/busybox", "localhost/second:v2")
    for fmt in ("docker-archive", "oci-archive"):
        archive = tmp_path / f"{fmt}.tar"
        bb("save", "--format", fmt, "-o", str(archive), "localhost/busybox", "localhost/second:v2")
        r = other("load", "-i", str(archive))
        assert "Loaded image: localhost/busybox:latest" in r.stdout
        assert "Loaded image: localhost/second:v2" in r.stdout
        assert other.out("run", "--rm", "localhost/second:v2", "echo", fmt) == fmt
        other("rmi", "-a", "-f")
    # stdout → stdin, and an OCI directory
    data = subprocess.run(bb.argv("save", "localhost/busybox"), capture_output=True, check=True).stdout
    assert other("load", input=data).stdout.strip() == b"Loaded image: localhost/busybox:latest"
    bb("save", "--format", "oci-dir", "-o", str(tmp_path / "ocidir"), "localhost/busybox")
    assert (tmp_path / "ocidir" / "index.json").exists()
    other("rmi", "-a", "-f")
    other("load", "-i", str(tmp_path / "ocidir"))
    assert other.out("run", "--rm", "localhost/busybox", "echo", "dir") == "dir"


def test_load_rejects_corrupt_layer(bb, other, tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    bb("save", "--format", "oci-archive", "-o", str(archive), "localhost/busybox")
    import tarfile

    bad = tmp_path / "bad.tar"
    with tarfile.open(archive) as src, tarfile.open(bad, "w") as dst:
        for mm in src.getmembers():
            data = src.extractfile(mm).read()  # type: ignore[union-attr]
            if mm.size > 100000:
                data = data[:1000000] + b"X" * 64 + data[1000064:]  # inside busybox's data
            import io

            dst.addfile(mm, io.BytesIO(data))
    r = other.fail("load", "-i", str(bad), code=125)
    assert "does not match its digest" in r.stderr
    assert other.out("images", "-q") == "" and layer_dirs(other) == []


def test_export_import_round_trip(bb, tmp_path: Path) -> None:
    bb("run", "--name", "src", "localhost/busybox", "sh", "-c", "echo exported > /marker")
    out = tmp_path / "rootfs.tar"
    bb("export", "-o", str(out), "src")
    names = subprocess.run(["tar", "tf", str(out)], capture_output=True, text=True, check=True).stdout.split()
    assert "marker" in names and "bin/busybox" in names
    data = subprocess.run(bb.argv("export", "src"), capture_output=True, check=True).stdout
    assert len(data) == out.stat().st_size
    bb("import", "--change", "CMD=/bin/cat /marker", "-", "localhost/exported", input=data)
    assert bb.out("run", "--rm", "localhost/exported") == "exported"
    assert bb.out("inspect", "--format", "{{.State.Status}}", "src") == "exited"


def test_client_chunked_upload_mount_and_exists(registry) -> None:
    import hashlib
    import os

    from berth.image.registry.client import Client

    client = Client(registry.host, insecure=True)
    data = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    assert not client.blob_exists("chunked/a", digest)
    client.upload_bytes("chunked/a", digest, data, chunk_size=64 * 1024)
    assert client.blob_exists("chunked/a", digest)
    assert client.get_blob("chunked/a", digest, len(data)) == data
    assert client.mount_blob("chunked/b", digest, "chunked/a")
    assert client.get_blob("chunked/b", digest, len(data)) == data
    assert not client.mount_blob("chunked/c", "sha256:" + "1" * 64, "chunked/a")


def test_second_push_compresses_nothing(bb, registry) -> None:
    first = bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/again/x:1")
    assert "skipped" not in first.stderr
    second = bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/again/y:1")  # mounted from again/x
    assert "skipped: already exists" in second.stderr
    third = bb("push", NO_TLS, "localhost/busybox", f"{registry.host}/again/x:2")  # found by HEAD
    assert "skipped: already exists" in third.stderr
