"""A Distribution API v2 client for one registry host.

Every request carries the scopes it needs; the Authenticator turns them into a Basic or Bearer
header, and a 401 makes it learn the registry's challenge and retry once.  Blobs are read through
`BlobReader`, a file-like object that verifies size and digest as the bytes go by and resumes a
broken transfer with a Range request, so a caller can stream it straight into layer extraction
and never store an unverified byte: the final read raises if the digest does not match.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import urlencode, urljoin

import urllib3
from urllib3.exceptions import HTTPError

from berth.image.registry.auth import Authenticator
from berth.image.registry.errors import AuthError, BlobError, RegistryError, RegistryNotFound, error_text
from berth.image.registry.manifest import ACCEPT, media_type
from berth.image.registry.transport import Transport, abandon, describe, drain

MAX_MANIFEST = 4 << 20
MAX_CONFIG = 64 << 20
RESUMES = 5  # how often one blob transfer may be resumed after a broken connection
API_HOSTS = {"docker.io": "registry-1.docker.io"}


def _hasher(digest: str):
    algo, _, hexpart = digest.partition(":")
    if algo not in ("sha256", "sha512") or not hexpart:
        raise BlobError(f"unsupported digest {digest!r}")
    return hashlib.new(algo)


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push"


class Client:
    def __init__(self, host: str, *, insecure: bool = False, cert_dir: str | None = None,
                 creds: tuple[str, str] | None = None) -> None:
        self.host = host
        self.api_host = API_HOSTS.get(host, host)
        self.insecure = insecure
        self.transport = Transport(self.api_host, verify=not insecure, cert_dir=cert_dir)
        self.auth = Authenticator(self.transport, host, creds)
        self.base = ""

    # plumbing ---------------------------------------------------------------------------------

    def ping(self) -> None:
        """Find the scheme (https, or http for an insecure registry) and the auth challenge."""
        if self.base:
            return
        errors = []
        for scheme in ("https", "http") if self.insecure else ("https",):
            url = f"{scheme}://{self.api_host}/v2/"
            try:
                resp = self.transport.request("GET", url)
            except RegistryError as e:
                errors.append(e.message)
                continue
            drain(resp)
            if resp.status == 401:
                self.auth.challenge(resp.headers.get("WWW-Authenticate"))
            elif resp.status != 200:
                errors.append(f'Get "{url}": received unexpected HTTP status: {resp.status} {resp.reason}')
                continue
            self.base = f"{scheme}://{self.api_host}"
            return
        raise RegistryError(f"pinging container registry {self.host}: {errors[-1]}")

    def request(self, method: str, path: str, scopes: tuple[str, ...], headers: dict[str, str] | None = None,
                body: bytes | Iterable[bytes] | None = None, *, chunked: bool = False,
                retry: bool = True) -> urllib3.BaseHTTPResponse:
        self.ping()
        url = urljoin(self.base, path)
        for attempt in (0, 1):
            resp = self.transport.request(method, url, headers, body, auth=self.auth.header(scopes),
                                          chunked=chunked, retry=retry)
            if resp.status != 401 or attempt or not (body is None or isinstance(body, bytes)):
                return resp
            if not self.auth.challenge(resp.headers.get("WWW-Authenticate")):
                return resp  # nothing new to try: the caller reports the registry's error body
            drain(resp)
        raise AssertionError("unreachable")

    def _fail(self, resp: urllib3.BaseHTTPResponse, what: str) -> RegistryError:
        body = resp.read(1 << 16) if resp.status != 404 or resp.headers.get("Content-Length") != "0" else b""
        drain(resp)
        text = error_text(body, resp.status, resp.reason or "")
        if resp.status in (401, 403):
            if self.auth.creds and self.auth.scheme == "basic":
                text = f"invalid username/password: {text}" if "password" not in text else text
            return AuthError(f"{what}: {text}")
        if resp.status == 404:
            return RegistryNotFound(f"{what}: {text}")
        return RegistryError(f"{what}: {text}")

    def check_login(self) -> None:
        """Raise AuthError unless the registry accepts our credentials (what `login` verifies)."""
        self.ping()
        if self.auth.scheme == "bearer":
            self.auth.header(())
        elif self.auth.scheme == "basic":
            resp = self.transport.request("GET", f"{self.base}/v2/", auth=self.auth.basic())
            drain(resp)
            if resp.status in (401, 403):
                raise AuthError("invalid username/password")
            if resp.status != 200:
                raise RegistryError(f"received unexpected HTTP status: {resp.status} {resp.reason}")

    # manifests ----------------------------------------------------------------------------------

    def get_manifest(self, repo: str, reference: str) -> tuple[bytes, str, str]:
        """(bytes, media type, digest); the bytes are checked against a digest reference."""
        resp = self.request("GET", f"/v2/{repo}/manifests/{reference}", (pull_scope(repo),),
                            {"Accept": ACCEPT})
        if resp.status != 200:
            raise self._fail(resp, f"reading manifest {reference} in {self.host}/{repo}")
        data = _read_limited(resp, MAX_MANIFEST, f"manifest {reference} in {self.host}/{repo}")
        want = reference if ":" in reference else resp.headers.get("Docker-Content-Digest", "")
        algo = want.partition(":")[0] if want.startswith(("sha256:", "sha512:")) else "sha256"
        digest = f"{algo}:{hashlib.new(algo, data).hexdigest()}"
        if want and want != digest:
            raise RegistryError(f"manifest {reference} in {self.host}/{repo} does not match its digest: "
                                f"expected {want}, got {digest}")
        return data, media_type(data, resp.headers.get("Content-Type")), digest

    def head_manifest(self, repo: str, reference: str) -> str | None:
        resp = self.request("HEAD", f"/v2/{repo}/manifests/{reference}", (pull_scope(repo),),
                            {"Accept": ACCEPT})
        drain(resp)
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise self._fail(resp, f"reading manifest {reference} in {self.host}/{repo}")
        return resp.headers.get("Docker-Content-Digest")

    def put_manifest(self, repo: str, reference: str, data: bytes, mt: str) -> str:
        resp = self.request("PUT", f"/v2/{repo}/manifests/{reference}", (push_scope(repo),),
                            {"Content-Type": mt}, data)
        if resp.status not in (200, 201, 202):
            raise self._fail(resp, f"writing manifest to {self.host}/{repo}:{reference}")
        drain(resp)
        return "sha256:" + hashlib.sha256(data).hexdigest()

    # blobs ------------------------------------------------------------------------------------

    def open_blob(self, repo: str, digest: str, size: int = -1,
                  progress: Callable[[int], None] | None = None) -> BlobReader:
        return BlobReader(self, repo, digest, size, progress)

    def get_blob(self, repo: str, digest: str, size: int = -1, limit: int = MAX_CONFIG) -> bytes:
        if size > limit:
            raise BlobError(f"blob {digest} is too large ({size} bytes)")
        reader = self.open_blob(repo, digest, size)
        parts = []
        while chunk := reader.read(1 << 20):
            parts.append(chunk)
        return b"".join(parts)

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", (push_scope(repo),))
        drain(resp)
        if resp.status == 200:
            return True
        if resp.status == 404:
            return False
        raise self._fail(resp, f"checking whether blob {digest} exists in {self.host}/{repo}")

    def _start_upload(self, repo: str, mount: tuple[str, str] | None = None) -> str | None:
        """An upload session URL, or None when `mount` (digest, from repo) succeeded."""
        scopes: tuple[str, ...] = (push_scope(repo),)
        path = f"/v2/{repo}/blobs/uploads/"
        if mount:
            scopes += (pull_scope(mount[1]),)
            path += "?" + urlencode({"mount": mount[0], "from": mount[1]})
        resp = self.request("POST", path, scopes, {"Content-Length": "0"}, b"")
        drain(resp)
        if mount and resp.status == 201:
            return None
        if resp.status != 202 or not resp.headers.get("Location"):
            raise self._fail(resp, f"initiating layer upload to {self.host}/{repo}")
        return urljoin(self.base, resp.headers["Location"])

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Cross-repository mount; False when the registry would not (the session is abandoned)."""
        location = self._start_upload(repo, (digest, from_repo))
        if location is None:
            return True
        resp = self.request("DELETE", location, (push_scope(repo),))
        drain(resp)
        return False

    def _finish(self, repo: str, location: str, digest: str, body: bytes = b"") -> None:
        url = location + ("&" if "?" in location else "?") + urlencode({"digest": digest})
        resp = self.request("PUT", url, (push_scope(repo),),
                            {"Content-Type": "application/octet-stream", "Content-Length": str(len(body))}, body)
        if resp.status not in (201, 204):
            raise self._fail(resp, f"uploading blob {digest} to {self.host}/{repo}")
        drain(resp)

    def upload_bytes(self, repo: str, digest: str, data: bytes, chunk_size: int = 0) -> None:
        """Monolithic upload (POST, then PUT with the body) or, with chunk_size, PATCH chunks."""
        location = self._start_upload(repo)
        assert location is not None
        if not chunk_size:
            self._finish(repo, location, digest, data)
            return
        for start in range(0, len(data), chunk_size):
            piece = data[start:start + chunk_size]
            resp = self.request("PATCH", location, (push_scope(repo),),
                                {"Content-Type": "application/octet-stream", "Content-Length": str(len(piece)),
                                 "Content-Range": f"{start}-{start + len(piece) - 1}"}, piece)
            if resp.status != 202:
                raise self._fail(resp, f"uploading blob {digest} to {self.host}/{repo}")
            drain(resp)
            location = urljoin(location, resp.headers.get("Location") or location)
        self._finish(repo, location, digest)

    def upload_stream(self, repo: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Stream a blob whose digest is not known yet (PATCH with chunked encoding, then PUT)."""
        location = self._start_upload(repo)
        assert location is not None
        h = hashlib.sha256()
        size = 0

        def counted() -> Iterator[bytes]:
            nonlocal size
            for c in chunks:
                if c:
                    h.update(c)
                    size += len(c)
                    yield c

        resp = self.request("PATCH", location, (push_scope(repo),),
                            {"Content-Type": "application/octet-stream"}, counted(), chunked=True, retry=False)
        if resp.status != 202:
            raise self._fail(resp, f"uploading layer to {self.host}/{repo}")
        drain(resp)
        digest = f"sha256:{h.hexdigest()}"
        self._finish(repo, urljoin(location, resp.headers.get("Location") or location), digest)
        return digest, size

    # listings ---------------------------------------------------------------------------------

    def _paged(self, path: str, key: str, scopes: tuple[str, ...], what: str) -> list[str]:
        out: list[str] = []
        for _ in range(1000):
            resp = self.request("GET", path, scopes)
            if resp.status != 200:
                raise self._fail(resp, what)
            doc = json.loads(_read_limited(resp, 64 << 20, what) or b"{}")
            out += doc.get(key) or []
            link = resp.headers.get("Link", "")
            if not link.startswith("<"):
                break
            path = link[1:link.index(">")]
        return out

    def tags(self, repo: str) -> list[str]:
        return self._paged(f"/v2/{repo}/tags/list", "tags", (pull_scope(repo),),
                           f"fetching tags list of {self.host}/{repo}")

    def catalog(self, limit: int = 0) -> list[str]:
        path = "/v2/_catalog" + (f"?n={limit}" if limit else "")
        return self._paged(path, "repositories", ("registry:catalog:*",),
                           f"fetching catalog of {self.host}")


def _read_limited(resp: urllib3.BaseHTTPResponse, limit: int, what: str) -> bytes:
    try:
        data = resp.read(limit + 1)
    except HTTPError as e:
        raise RegistryError(f"reading {what}: {describe(e)}") from None
    finally:
        drain(resp)
    if len(data) > limit:
        raise RegistryError(f"{what} is too large")
    return data


class BlobReader:
    """File-like view of a blob: read(n) until b""; the last read checks size and digest."""

    def __init__(self, client: Client, repo: str, digest: str, size: int,
                 progress: Callable[[int], None] | None) -> None:
        self.client, self.repo, self.digest, self.size = client, repo, digest, size
        self.progress = progress
        self.hash = _hasher(digest)
        self.offset = 0
        self.resumes = 0
        self.done = False
        self.resp: urllib3.BaseHTTPResponse | None = None
        self._open()

    def _name(self) -> str:
        return f"blob {self.digest} from {self.client.host}/{self.repo}"

    def _open(self) -> None:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        resp = self.client.request("GET", f"/v2/{self.repo}/blobs/{self.digest}", (pull_scope(self.repo),), headers)
        if resp.status not in (200, 206):
            raise self.client._fail(resp, f"fetching {self._name()}")
        skip = self.offset
        if resp.status == 206:
            start = resp.headers.get("Content-Range", "").removeprefix("bytes ").split("-", 1)[0]
            if start != str(self.offset):
                drain(resp)
                raise BlobError(f"fetching {self._name()}: server resumed at the wrong offset")
            skip = 0
        self.resp = resp
        while skip:  # the server ignored Range: read again what we already have
            got = len(resp.read(min(skip, 1 << 20)))
            if not got:
                raise BlobError(f"fetching {self._name()}: connection closed while resuming")
            skip -= got

    def _resume(self, why: str) -> None:
        if self.resp is not None:
            abandon(self.resp)
            self.resp = None
        self.resumes += 1
        if self.resumes > RESUMES:
            raise BlobError(f"reading {self._name()}: {why} (after {RESUMES} retries)")
        time.sleep(0.1 * self.resumes)
        self._open()

    def read(self, n: int = -1) -> bytes:
        if self.done:
            return b""
        while True:
            want = n if n > 0 else 1 << 20
            if self.size >= 0:
                want = min(want, self.size - self.offset + 1)  # one byte more shows an oversized blob
            try:
                data = self.resp.read(want) if self.resp is not None else b""
            except HTTPError as e:
                why = describe(e)
                if "IncompleteRead" in why or "Connection broken" in why:
                    why = "connection closed early"
                self._resume(f"{why}, truncated at {self.offset} of {self.size} bytes")
                continue
            if data:
                self.offset += len(data)
                if self.size >= 0 and self.offset > self.size:
                    self.close()
                    raise BlobError(f"{self._name()} is larger than its {self.size} bytes")
                self.hash.update(data)
                if self.progress:
                    self.progress(len(data))
                return data
            if 0 <= self.offset < self.size:
                self._resume(f"truncated: got {self.offset} of {self.size} bytes")
                continue
            self._verify()
            return b""

    def _verify(self) -> None:
        self.done = True
        self.close()
        got = f"{self.digest.partition(':')[0]}:{self.hash.hexdigest()}"
        if got != self.digest:
            raise BlobError(f"{self._name()} does not match its digest: got {got}")

    def close(self) -> None:
        if self.resp is not None:
            drain(self.resp) if self.done else abandon(self.resp)
            self.resp = None
