"""Pulls from a misbehaving registry: nothing corrupt is stored, errors are one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.conftest import layer_dirs
from tests.integration.fakeregistry import FakeRegistry, Image

NO_TLS = "--tls-verify=false"


@pytest.fixture(scope="module")
def image(busybox_tar: Path) -> Image:
    return Image(busybox_tar.read_bytes())


@pytest.fixture
def fake(image: Image):
    servers: list[FakeRegistry] = []

    def start(mode: str = "", token: bool = False) -> FakeRegistry:
        srv = FakeRegistry(image, mode, token)
        servers.append(srv)
        return srv

    yield start
    for s in servers:
        s.close()


def _assert_nothing_stored(b) -> None:
    assert b.out("images", "-q") == ""
    assert layer_dirs(b) == []


def _error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize("mode", ["wrong-digest", "truncate"])
def test_bad_blob_stores_nothing(berth, fake, image: Image, mode: str) -> None:
    srv = fake(mode)
    r = berth.fail("pull", NO_TLS, f"{srv.host}/test/img", code=125)
    line = _error_line(r)
    assert image.layers[0] in line
    assert ("does not match its digest" if mode == "wrong-digest" else "truncated") in line
    _assert_nothing_stored(berth)


def test_wrong_manifest_digest(berth, fake, image: Image) -> None:
    srv = fake("bad-manifest")
    r = berth.fail("pull", NO_TLS, f"{srv.host}/test/img@{image.manifest_digest}", code=125)
    assert "does not match its digest" in _error_line(r)
    _assert_nothing_stored(berth)


@pytest.mark.parametrize("mode", ["500-then-ok", "429", "drop-once"])
def test_transient_failures_are_retried(berth, fake, image: Image, mode: str) -> None:
    srv = fake(mode)
    berth("pull", NO_TLS, f"{srv.host}/test/img")
    assert berth.out("run", "--rm", f"{srv.host}/test/img", "cat", "/hello.txt").startswith("hello from")
    gets = [p for m, p, _ in srv.requests if m == "GET" and image.layers[0] in p]
    assert len(gets) == {"500-then-ok": 3, "429": 2, "drop-once": 2}[mode]
    if mode == "drop-once":  # resumed where the connection broke, not from the start
        assert srv.hits[image.layers[0]] == 2


def test_redirect_to_other_host_drops_authorization(berth, fake, image: Image) -> None:
    srv = fake("redirect", token=True)
    berth("pull", NO_TLS, f"{srv.host}/test/img")
    assert srv.cdn_saw_auth == [None]  # the blob host never saw our bearer token
    # the registry saw a token scoped to the repository for manifest and blobs
    scoped = [a for m, p, a in srv.requests if p.startswith("/v2/test/img/")]
    assert scoped and all(a == "Bearer tok-repository:test/img:pull" for a in scoped)


def test_unreachable_registry_is_one_line(berth) -> None:
    from tests.conftest import free_port

    r = berth.fail("pull", NO_TLS, f"127.0.0.1:{free_port()}/x/y", code=125)
    line = _error_line(r)
    assert "pinging container registry" in line and "connection refused" in line
