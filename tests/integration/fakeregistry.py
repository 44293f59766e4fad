"""A small misbehaving registry (stdlib http.server, threaded, 127.0.0.1) for fault tests.

It serves one image, `test/img:latest`, whose blobs it can corrupt, truncate, fail with 500 or 429,
or redirect to a second server on another port (which records whether an Authorization header
reached it).  With `token=True` it demands Bearer tokens scoped to the repository, issued by its
own /token endpoint.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = len(data), 0o755
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Image:
    def __init__(self, base_tar: bytes) -> None:
        extra = _tar({"hello.txt": b"hello from the fake registry\n" * 2000})
        tars = [base_tar, extra]
        self.blobs: dict[str, bytes] = {}
        layers = []
        for t in tars:
            gz = gzip.compress(t, 1, mtime=0)
            self.blobs[_sha(gz)] = gz
            layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": _sha(gz),
                           "size": len(gz)})
        config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                             "rootfs": {"type": "layers", "diff_ids": [_sha(t) for t in tars]}}).encode()
        self.config_digest = _sha(config)
        self.blobs[self.config_digest] = config
        self.layers = [d["digest"] for d in layers]
        self.manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                    "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                               "digest": self.config_digest, "size": len(config)},
                                    "layers": layers}).encode()
        self.manifest_digest = _sha(self.manifest)


class FakeRegistry:
    """mode: "", "wrong-digest", "truncate", "drop-once", "500-then-ok", "429", "redirect",
    "bad-manifest"."""

    def __init__(self, image: Image, mode: str = "", token: bool = False) -> None:
        self.image, self.mode, self.token = image, mode, token
        self.hits: dict[str, int] = {}
        self.lock = threading.Lock()
        self.cdn_saw_auth: list[str | None] = []
        self.requests: list[tuple[str, str, str | None]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.cdn = ThreadingHTTPServer(("127.0.0.1", 0), self._cdn_handler())
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        for srv in (self.server, self.cdn):
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def close(self) -> None:
        for srv in (self.server, self.cdn):
            srv.shutdown()
            srv.server_close()

    def _count(self, key: str) -> int:
        with self.lock:
            self.hits[key] = self.hits.get(key, 0) + 1
            return self.hits[key]

    def _handler(self):
        reg = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _authorized(self, repo: str) -> bool:
                if not reg.token:
                    return True
                if self.headers.get("Authorization") == f"Bearer tok-repository:{repo}:pull":
                    return True
                realm = f"http://{reg.host}/token"
                scope = f',scope="repository:{repo}:pull"' if repo else ""
                self._send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                           {"WWW-Authenticate": f'Bearer realm="{realm}",service="fake"{scope}',
                            "Content-Type": "application/json"})
                return False

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                reg.requests.append((self.command, self.path, self.headers.get("Authorization")))
                path = self.path.split("?", 1)[0]
                if path.startswith("/token"):
                    scope = self.path.split("scope=", 1)[1].split("&")[0] if "scope=" in self.path else ""
                    from urllib.parse import unquote

                    self._send(200, json.dumps({"token": f"tok-{unquote(scope)}", "expires_in": 300}).encode())
                    return
                if path == "/v2/":
                    if reg.token and not self.headers.get("Authorization"):
                        self._authorized("")
                        return
                    self._send(200, b"{}")
                    return
                if not path.startswith("/v2/test/img/"):
                    self._send(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}')
                    return
                if not self._authorized("test/img"):
                    return
                kind, _, ref = path[len("/v2/test/img/"):].partition("/")
                if kind == "manifests":
                    if ref not in ("latest", reg.image.manifest_digest):
                        self._send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
                        return
                    body = reg.image.manifest
                    if reg.mode == "bad-manifest" and ref != "latest":
                        body = body.replace(b'"schemaVersion": 2', b'"schemaVersion":  2')
                    self._send(200, body, {"Content-Type": "application/vnd.oci.image.manifest.v1+json",
                                           "Docker-Content-Digest": reg.image.manifest_digest})
                    return
                blob = reg.image.blobs.get(ref)
                if kind != "blobs" or blob is None:
                    self._send(404, b'{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}')
                    return
                self._blob(ref, blob)

            def _blob(self, digest: str, blob: bytes) -> None:
                layer = digest in reg.image.layers
                n = reg._count(digest)
                mode = reg.mode if layer and digest == reg.image.layers[0] else ""
                if mode == "500-then-ok" and n <= 2:
                    self._send(500, b"oops")
                    return
                if mode == "429" and n == 1:
                    self._send(429, b"slow down", {"Retry-After": "1"})
                    return
                if mode == "redirect":
                    self._send(307, b"", {"Location": f"http://127.0.0.1:{reg.cdn.server_address[1]}/cdn/{digest}"})
                    return
                if mode == "wrong-digest":
                    blob = blob[:-20] + bytes(20)
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                if mode in ("truncate", "drop-once") and (mode == "truncate" or n == 1):
                    # announce the whole blob, send half of it, hang up
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(blob)))
                    self.end_headers()
                    self.wfile.write(blob[: len(blob) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                if start:
                    self._send(206, blob[start:], {"Content-Range": f"bytes {start}-{len(blob) - 1}/{len(blob)}"})
                    return
                self._send(200, blob)

        return H

    def _cdn_handler(self):
        reg = self

        class C(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a) -> None:
                pass

            def do_GET(self) -> None:
                reg.cdn_saw_auth.append(self.headers.get("Authorization"))
                digest = self.path.rsplit("/", 1)[-1]
                blob = reg.image.blobs.get(digest, b"")
                self.send_response(200 if blob else 404)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

        return C
