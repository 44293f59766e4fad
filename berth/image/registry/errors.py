"""Registry errors: one line each, naming the registry, repository or blob concerned."""

from __future__ import annotations

from berth.errors import BerthError, NotFound


class RegistryError(BerthError):
    """The registry could not be reached or answered with an error."""


class AuthError(RegistryError):
    """Credentials were missing or refused."""


class RegistryNotFound(RegistryError, NotFound):
    pass


class BlobError(RegistryError):
    """A blob did not match its digest or size, or could not be read completely."""


def error_text(body: bytes, status: int, reason: str = "") -> str:
    """The distribution API's error document as Podman shows it ("unauthorized: ..."), else the status."""
    import json

    try:
        doc = json.loads(body)
        errors = doc.get("errors") or []
        parts = []
        for e in errors:
            code = str(e.get("code", "")).lower().replace("_", " ")
            msg = e.get("message", "")
            parts.append(f"{code}: {msg}" if msg else code)
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, TypeError):
        pass
    return f"received unexpected HTTP status: {status} {reason}".rstrip()
