"""Image references: the docker/distribution reference grammar, as Podman uses it.

    reference := name [":" tag] ["@" digest]
    name      := [registry "/"] component ("/" component)*      (at most 255 chars)
    registry  := host [":" port]        host: DNS name or "[" IPv6 "]"

The first "/"-separated part is a registry only when it contains "." or ":" or
is "localhost" (Docker's rule); otherwise the whole name is the repository.
Repositories are lowercase.  Every error is an InvalidArgument whose message
starts with Podman's "invalid reference format".
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument
from berth.util.record import record, replace

NAME_TOTAL_LENGTH_MAX = 255

# "-+" rather than the historical "[-]*": same language, but no catastrophic backtracking.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REFERENCE_RE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_PATH})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)
_PATH_RE = re.compile(_PATH)
_DOMAIN_RE = re.compile(_DOMAIN)
_TAG_RE = re.compile(_TAG)
_ID_PREFIX_RE = re.compile(r"[0-9a-f]{3,64}")
_FULL_ID_RE = re.compile(r"[0-9a-f]{64}")
_DIGEST_HEX_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}

_DEFAULT_DOMAIN = "docker.io"
_LEGACY_DEFAULT_DOMAIN = "index.docker.io"


def _invalid(detail: str | None = None) -> InvalidArgument:
    return InvalidArgument(f"invalid reference format: {detail}" if detail else "invalid reference format")


@record(frozen=True)
class Reference:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    def name(self) -> str:
        """registry/repository, or just the repository for a short name."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def string(self) -> str:
        """The full reference: name[:tag][@digest]."""
        out = self.name()
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self.string()

    def with_tag(self, tag: str) -> Reference:
        """A copy carrying `tag` (a digest, if any, is kept, as Docker's WithTag does)."""
        if not _TAG_RE.fullmatch(tag):
            raise InvalidArgument("invalid tag format")
        return replace(self, tag=tag)


def _looks_like_registry(component: str) -> bool:
    return "." in component or ":" in component or component == "localhost"


def _check_digest(digest: str) -> None:
    algorithm, _, encoded = digest.partition(":")
    size = _DIGEST_HEX_LENGTHS.get(algorithm)
    if size is None:
        raise _invalid("unsupported digest algorithm")
    if len(encoded) != size:
        raise _invalid("invalid checksum digest length")
    if encoded != encoded.lower():
        raise _invalid("invalid checksum digest format")


def parse(s: str) -> Reference:
    """Parse `s` strictly: nothing is added or normalized."""
    m = _REFERENCE_RE.fullmatch(s)
    if m is None:
        if not s:
            raise _invalid("repository name must have at least one component")
        if _REFERENCE_RE.fullmatch(s.lower()):
            raise _invalid("repository name must be lowercase")
        raise _invalid()
    name = m["name"]
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    registry: str | None = None
    repository = name
    first, slash, rest = name.partition("/")
    if slash and _looks_like_registry(first):
        registry, repository = first, rest
        if not _DOMAIN_RE.fullmatch(registry):
            raise _invalid()
    if not _PATH_RE.fullmatch(repository):
        # The grammar allowed it only by reading an uppercase first part as a domain.
        raise _invalid(
            "repository name must be lowercase" if _PATH_RE.fullmatch(repository.lower()) else None
        )
    if m["digest"] is not None:
        _check_digest(m["digest"])
    return Reference(registry, repository, m["tag"], m["digest"])


def normalize(s: str, default_registry: str | None = None) -> Reference:
    """Resolve user input naming a local image, the way Podman does.

    A name without a registry gets `default_registry` if one is given, else stays
    a short name (registry None).  Docker Hub names get "library/" and the
    "latest" tag is added when neither tag nor digest is present.
    """
    if _FULL_ID_RE.fullmatch(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    ref = parse(s)
    registry = ref.registry
    if registry is None and default_registry is not None:
        if not (_DOMAIN_RE.fullmatch(default_registry) and _looks_like_registry(default_registry)):
            raise InvalidArgument(f"invalid default registry {default_registry!r}")
        registry = default_registry
    if registry == _LEGACY_DEFAULT_DOMAIN:
        registry = _DEFAULT_DOMAIN
    repository = ref.repository
    if registry == _DEFAULT_DOMAIN and "/" not in repository:
        repository = f"library/{repository}"
    tag = "latest" if ref.tag is None and ref.digest is None else ref.tag
    out = Reference(registry, repository, tag, ref.digest)
    if len(out.name()) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    return out


def is_full_id_prefix(s: str) -> bool:
    """True if `s` looks like a (prefix of a) hex image or container ID: 3 to 64 lowercase hex chars."""
    return _ID_PREFIX_RE.fullmatch(s) is not None


def split_tag(s: str) -> tuple[str, str | None]:
    """Split "name:tag" into (name, tag); a ":" followed by a "/" is a port, not a tag.

    Only the part before any "@digest" is searched; the digest stays with the name.
    """
    head, at, digest = s.partition("@")
    colon = head.rfind(":")
    if colon < 0 or "/" in head[colon + 1 :]:
        return s, None
    return head[:colon] + at + digest, head[colon + 1 :]
