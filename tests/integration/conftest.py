"""Registry fixtures: Debian's docker-registry on 127.0.0.1, plain HTTP and TLS + htpasswd.

Each pytest(-xdist) worker starts its own registries on free ports with their own storage, so
workers never share one; they are stopped when the session ends.  The TLS instance uses a CA
and server certificate made with openssl for this session and a bcrypt htpasswd file
(apache2-utils' htpasswd).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import Berth, free_port

REGISTRY_BIN = "/usr/bin/docker-registry"
USER, PASSWORD = "berthuser", "s3cret-pass"


def _ensure_installed(binary: str, package: str) -> None:
    if os.path.exists(binary):
        return
    if os.geteuid() != 0:
        pytest.skip(f"{package} is not installed (run scripts/install.sh as root)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], check=True,
                   env=env, capture_output=True)


class Registry:
    def __init__(self, base: Path, tls: bool = False) -> None:
        self.base = base
        self.tls = tls
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.certs = base / "certs"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Registry:
        data = self.base / "data"
        data.mkdir(parents=True, exist_ok=True)
        lines = ["version: 0.1", "log:", "  level: error", "  accesslog:", "    disabled: true",
                 "storage:", "  filesystem:", f"    rootdirectory: {data}", "  delete:", "    enabled: true",
                 "http:", f"  addr: {self.host}"]
        if self.tls:
            self._make_certs()
            lines += ["  tls:", f"    certificate: {self.certs / 'server.crt'}", f"    key: {self.certs / 'server.key'}",
                      "auth:", "  htpasswd:", "    realm: berth-test", f"    path: {self.base / 'htpasswd'}"]
        cfg = self.base / "config.yml"
        cfg.write_text("\n".join(lines) + "\n")
        self.log = open(self.base / "registry.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen([REGISTRY_BIN, "serve", str(cfg)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.05)
        raise RuntimeError(f"docker-registry did not start: {(self.base / 'registry.log').read_text()}")

    def _make_certs(self) -> None:
        self.certs.mkdir(parents=True, exist_ok=True)
        c = self.certs

        def ossl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True)

        ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=berth test CA",
             "-keyout", str(c / "ca.key"), "-out", str(c / "ca.crt"))
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", str(c / "server.key"),
             "-out", str(c / "server.csr"))
        (c / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ossl("x509", "-req", "-in", str(c / "server.csr"), "-CA", str(c / "ca.crt"), "-CAkey", str(c / "ca.key"),
             "-CAcreateserial", "-days", "2", "-extfile", str(c / "ext.cnf"), "-out", str(c / "server.crt"))
        r = subprocess.run(["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True, text=True)
        (self.base / "htpasswd").write_text(r.stdout)
        # what a user puts in /etc/containers/certs.d/HOST:PORT (passed with --cert-dir)
        self.cert_dir = self.base / "certs.d"
        self.cert_dir.mkdir(exist_ok=True)
        shutil.copy(c / "ca.crt", self.cert_dir / "ca.crt")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.log.close()

    def catalog(self) -> str:
        with urllib.request.urlopen(f"http://{self.host}/v2/_catalog", timeout=10) as r:
            return r.read().decode()


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory):
    """A plain-HTTP docker-registry (use --tls-verify=false)."""
    _ensure_installed(REGISTRY_BIN, "docker-registry")
    reg = Registry(tmp_path_factory.mktemp("registry")).start()
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def tls_registry(tmp_path_factory: pytest.TempPathFactory):
    """A TLS docker-registry (test CA, in reg.cert_dir) demanding htpasswd Basic auth."""
    _ensure_installed(REGISTRY_BIN, "docker-registry")
    _ensure_installed("/usr/bin/htpasswd", "apache2-utils")
    reg = Registry(tmp_path_factory.mktemp("tlsregistry"), tls=True).start()
    yield reg
    reg.stop()


@pytest.fixture
def other(tmp_path: Path):
    """A second, empty berth store (the "other machine" of a push/pull round trip)."""
    b = Berth(tmp_path / "other")
    yield b
    b("rm", "-af", "-t", "0", check=False, timeout=120)


@pytest.fixture
def regconf(tmp_path: Path):
    """Write a registries.conf for this test; returns the env to run berth with."""

    def make(text: str) -> dict:
        path = tmp_path / "registries.conf"
        path.write_text(text)
        return dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(path))

    return make


def layer_dirs(b: Berth) -> list[str]:
    """Layer directories (and tar-split records) of a store: empty after a failed pull."""
    out = []
    for sub in ("overlay", "vfs/dir", "tar-split"):
        d = Path(b.root) / "storage" / sub
        if d.is_dir():
            out += [p.name for p in d.iterdir() if p.name != "l" and not p.name.startswith(".")]
    return out
