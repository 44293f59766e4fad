"""Registry authentication: anonymous, Basic, and Bearer tokens scoped per repository.

The registry says what it wants in a 401's WWW-Authenticate challenge.  For Bearer, a token is
asked from the realm for exactly the scopes a request needs ("repository:NAME:pull,push"), with the
user's credentials as Basic auth when there are any (else anonymously), and cached per scope set
until it expires.  Basic sends the credentials with every request once the registry asked for them.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from urllib.parse import urlencode

from berth.image.registry.errors import AuthError, error_text
from berth.image.registry.transport import Transport, describe, drain

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """'Bearer realm="x",service="y"' -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m[1].lower(): (m[2] if m[2] is not None else m[3]).replace('\\"', '"')
              for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


class Authenticator:
    def __init__(self, transport: Transport, registry: str, creds: tuple[str, str] | None) -> None:
        self.transport = transport
        self.registry = registry
        self.creds = creds
        self.scheme = ""                       # "", "basic" or "bearer" once a challenge was seen
        self.params: dict[str, str] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def basic(self) -> str | None:
        if not self.creds:
            return None
        return "Basic " + base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()

    def header(self, scopes: tuple[str, ...]) -> str | None:
        """The Authorization value for a request needing `scopes`, fetching a token if needed."""
        if self.scheme == "basic":
            return self.basic()
        if self.scheme != "bearer":
            return None
        key = " ".join(sorted(scopes))
        with self._lock:
            cached = self._tokens.get(key)
            if cached and cached[1] > time.monotonic():
                return f"Bearer {cached[0]}"
            token, ttl = self._fetch_token(scopes)
            self._tokens[key] = (token, time.monotonic() + max(ttl - 10, 10))
            return f"Bearer {token}"

    def challenge(self, header: str | None) -> bool:
        """Learn from a 401; True when a retry with (new) credentials can be tried."""
        if not header:
            return False
        scheme, params = parse_challenge(header)
        if scheme not in ("basic", "bearer"):
            return False
        changed = scheme != self.scheme or params.get("scope") or params != self.params
        self.scheme, self.params = scheme, params
        with self._lock:
            self._tokens.clear()
        return bool(changed) or (scheme == "bearer")

    def _fetch_token(self, scopes: tuple[str, ...]) -> tuple[str, float]:
        realm = self.params.get("realm")
        if not realm:
            raise AuthError(f"registry {self.registry} sent a Bearer challenge without a realm")
        query: list[tuple[str, str]] = []
        if self.params.get("service"):
            query.append(("service", self.params["service"]))
        query += [("scope", s) for s in scopes]
        if self.creds:
            query.append(("account", self.creds[0]))
        url = realm + ("&" if "?" in realm else "?") + urlencode(query)
        try:
            resp = self.transport.request("GET", url, auth=self.basic())
        except AuthError:
            raise
        except Exception as e:  # a token server that cannot be reached is an auth failure
            raise AuthError(f"unable to retrieve auth token: {describe(e)}") from None
        body = resp.read()
        drain(resp)
        if resp.status in (401, 403):
            detail = error_text(body, resp.status, resp.reason or "")
            if self.creds:
                raise AuthError(f"unable to retrieve auth token: invalid username/password: {detail}")
            raise AuthError(f"unable to retrieve auth token: {detail}")
        if resp.status != 200:
            raise AuthError(f"unable to retrieve auth token: {error_text(body, resp.status, resp.reason or '')}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
            ttl = float(doc.get("expires_in") or 60)
        except (ValueError, AttributeError, TypeError):
            token, ttl = None, 0.0
        if not token:
            raise AuthError(f"unable to retrieve auth token: {realm} returned no token")
        return str(token), ttl
