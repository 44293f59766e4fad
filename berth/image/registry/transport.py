"""HTTP for registries: urllib3 pools, TLS from certs.d, retries with backoff, safe redirects.

urllib3 is used directly (no requests/httpx): it streams a blob at over 1 GB/s on loopback and costs
the least to import.  Its own retry and redirect logic is switched off because a registry client
needs two things it does not do: a redirect to another host (a blob CDN) must not carry our
Authorization header, and a 429 must wait for the server's Retry-After.

TLS for HOST:PORT comes from /etc/containers/certs.d/HOST:PORT (or --cert-dir): every *.crt is a CA
added to the system ones, every *.cert with the matching *.key is a client certificate, as in
containers/image.  `verify=False` (--tls-verify=false, registries.conf insecure) skips certificate
checks, and the client then falls back to plain HTTP if TLS does not answer.
"""

from __future__ import annotations

import glob
import os
import ssl
import time
from collections.abc import Iterable, Mapping
from urllib.parse import urljoin, urlsplit

import urllib3
from urllib3.exceptions import HTTPError, NewConnectionError, SSLError

from berth.image.registry.errors import RegistryError

CERTS_DIR = "/etc/containers/certs.d"
RETRY_STATUSES = frozenset((429, 500, 502, 503, 504))
ATTEMPTS = 4               # tries per request for retryable failures
BACKOFF = 0.25             # first delay; doubles per retry
MAX_DELAY = 10.0           # cap on Retry-After and backoff
MAX_REDIRECTS = 5
USER_AGENT = "berth/0.1 (containers/image compatible)"


def cert_dir_for(host: str, cert_dir: str | None) -> str | None:
    if cert_dir:
        return cert_dir
    path = os.path.join(CERTS_DIR, host)
    return path if os.path.isdir(path) else None


def ssl_context(host: str, verify: bool, cert_dir: str | None) -> ssl.SSLContext:
    ctx = urllib3.util.ssl_.create_urllib3_context()
    if verify:
        ctx.load_default_certs()
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    d = cert_dir_for(host, cert_dir)
    if d:
        for ca in sorted(glob.glob(os.path.join(d, "*.crt"))):
            try:
                ctx.load_verify_locations(cafile=ca)
            except (ssl.SSLError, OSError) as e:
                raise RegistryError(f"loading CA certificate {ca}: {e}") from None
        for cert in sorted(glob.glob(os.path.join(d, "*.cert"))):
            key = cert[: -len(".cert")] + ".key"
            if not os.path.exists(key):
                raise RegistryError(f"missing key {os.path.basename(key)} for client certificate "
                                    f"{os.path.basename(cert)}. Note that CA certificates should use "
                                    "the extension .crt")
            try:
                ctx.load_cert_chain(cert, key)
            except (ssl.SSLError, OSError) as e:
                raise RegistryError(f"loading client certificate {cert}: {e}") from None
    return ctx


def describe(exc: BaseException) -> str:
    """A one-line reason for a connection-level failure, in the spirit of Go's net errors."""
    seen: BaseException = exc
    for _ in range(6):
        reason = getattr(seen, "reason", None)
        inner = reason if isinstance(reason, BaseException) else (seen.__cause__ or seen.__context__)
        if inner is None or inner is seen:
            break
        seen = inner
    if isinstance(seen, ConnectionRefusedError) or "Connection refused" in str(seen):
        return "connect: connection refused"
    if isinstance(seen, ssl.SSLCertVerificationError):
        return f"tls: failed to verify certificate: {seen.verify_message}"
    if isinstance(seen, ssl.SSLError) and seen.reason == "WRONG_VERSION_NUMBER":
        return "http: server gave HTTP response to HTTPS client"
    if isinstance(seen, ssl.SSLError):
        return f"tls: {seen.reason or seen}"
    text = str(seen)
    return text.split(": ", 1)[-1] if "object at 0x" in text else text


def _proxy_for(host: str) -> str | None:
    """$HTTPS_PROXY (or $HTTP_PROXY) unless $NO_PROXY covers `host`, as Go's ProxyFromEnvironment."""
    from urllib.request import getproxies_environment, proxy_bypass_environment

    proxies = getproxies_environment()
    proxy = proxies.get("https") or proxies.get("http")
    if not proxy or proxy_bypass_environment(host.rsplit(":", 1)[0] if "]" not in host else host, proxies):
        return None
    return proxy


def _retry_after(resp: urllib3.BaseHTTPResponse) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


class Transport:
    """One registry host's connections.  Thread-safe: layers are fetched from several threads."""

    def __init__(self, host: str, *, verify: bool = True, cert_dir: str | None = None,
                 timeout: float = 60.0) -> None:
        self.host = host
        ctx = ssl_context(host, verify, cert_dir)
        kw = {"num_pools": 8, "maxsize": 8, "ssl_context": ctx, "retries": False,
              "timeout": urllib3.Timeout(connect=30.0, read=timeout)}
        proxy = _proxy_for(host)
        self.pool = urllib3.ProxyManager(proxy, **kw) if proxy else urllib3.PoolManager(**kw)

    def request(self, method: str, url: str, headers: Mapping[str, str] | None = None,
                body: bytes | Iterable[bytes] | None = None, *, auth: str | None = None,
                retry: bool = True, chunked: bool = False) -> urllib3.BaseHTTPResponse:
        """Send one request; the response body is left unread (stream it, or call `drain`).

        Connection errors and 429/5xx are retried (body must then be bytes or None), redirects are
        followed, and `auth` (an Authorization value) is only sent to the host it was meant for.
        """
        hdrs = {"User-Agent": USER_AGENT, **(headers or {})}
        replayable = body is None or isinstance(body, bytes)
        attempts = ATTEMPTS if retry and replayable else 1
        origin = urlsplit(url).netloc
        delay = BACKOFF
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                resp = self._follow(method, url, hdrs, body, auth, origin, chunked)
            except (NewConnectionError, SSLError) as e:  # retrying changes nothing
                raise RegistryError(f'{_verb(method)} "{url}": {describe(e)}') from None
            except HTTPError as e:
                if last:
                    raise RegistryError(f'{_verb(method)} "{url}": {describe(e)}') from None
                time.sleep(delay)
                delay *= 2
                continue
            if resp.status in RETRY_STATUSES and not last:
                wait = _retry_after(resp)
                drain(resp)
                time.sleep(min(MAX_DELAY, wait if wait is not None else delay))
                delay *= 2
                continue
            return resp
        raise AssertionError("unreachable")

    def _follow(self, method: str, url: str, hdrs: dict[str, str], body: bytes | Iterable[bytes] | None,
                auth: str | None, origin: str, chunked: bool) -> urllib3.BaseHTTPResponse:
        for _ in range(MAX_REDIRECTS + 1):
            send = dict(hdrs)
            if auth and urlsplit(url).netloc == origin:
                send["Authorization"] = auth
            resp = self.pool.urlopen(method, url, body=body, headers=send, redirect=False,
                                     preload_content=False, chunked=chunked)
            location = resp.headers.get("Location")
            if resp.status not in (301, 302, 303, 307, 308) or not location or method not in ("GET", "HEAD"):
                return resp
            drain(resp)
            url = urljoin(url, location)
        raise RegistryError(f'{_verb(method)} "{url}": stopped after {MAX_REDIRECTS} redirects')


def drain(resp: urllib3.BaseHTTPResponse) -> None:
    try:
        resp.drain_conn()
    except HTTPError:
        pass
    resp.release_conn()


def abandon(resp: urllib3.BaseHTTPResponse) -> None:
    """Give up on a response mid-body: its connection is closed, never reused."""
    try:
        resp.close()
    except (HTTPError, OSError):
        pass
    resp.release_conn()


def _verb(method: str) -> str:
    return method.capitalize() if method in ("GET", "HEAD", "PUT", "POST", "PATCH", "DELETE") else method
