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

from berth.errors import InvalidArgument
from berth.util.record import record, replace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import re

NAME_TOTAL_LENGTH_MAX = 255

# "-+" rather than the historical "[-]*": same language, but no catastrophic backtracking.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH = rf"{_COMPONENT}(?:/{_COMPONENT})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"



_COMPILED: list = []


def _regexes() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    """The grammar as regular expressions, compiled on first need: compiling them costs ~3 ms (and
    importing `re` ~3 ms more), and the common references (`busybox`, `localhost/busybox:1.36`)
    never need them (_parse_simple)."""
    if not _COMPILED:
        import re

        reference = re.compile(
            rf"(?P<name>(?:{_DOMAIN}/)?{_PATH})(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
        )
        _COMPILED.extend((reference, re.compile(_PATH), re.compile(_DOMAIN)))
    return _COMPILED[0], _COMPILED[1], _COMPILED[2]


_LOWER_ALNUM = frozenset("abcdefghijklmnopqrstuvwxyz0123456789")
_ALNUM = _LOWER_ALNUM | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_TAG_CHARS = _ALNUM | frozenset("_.-")
_HEX = frozenset("0123456789abcdef")


def _is_component(c: str) -> bool:
    """_COMPONENT without a regex: alnum runs joined by ".", "_", "__" or a run of "-"."""
    if not c or c[0] not in _LOWER_ALNUM or c[-1] not in _LOWER_ALNUM:
        return False
    i, n = 0, len(c)
    while i < n:
        if c[i] in _LOWER_ALNUM:
            i += 1
            continue
        j = i
        while j < n and c[j] not in _LOWER_ALNUM:
            j += 1
        sep = c[i:j]
        if sep not in (".", "_", "__") and sep.strip("-"):
            return False
        i = j
    return True


def _is_path(p: str) -> bool:
    return all(_is_component(c) for c in p.split("/"))


def _is_domain(d: str) -> bool:
    """_DOMAIN for DNS names (an IPv6 literal is left to the regex)."""
    host, colon, port = d.partition(":")
    if colon and not (port.isascii() and port.isdigit()):
        return False
    for part in host.split("."):
        if not part or part[0] == "-" or part[-1] == "-" or not all(ch in _ALNUM or ch == "-" for ch in part):
            return False
    return True


def _is_tag(t: str) -> bool:
    return 0 < len(t) <= 128 and t[0] != "." and t[0] != "-" and all(ch in _TAG_CHARS for ch in t)


def _is_hex(s: str) -> bool:
    return all(ch in _HEX for ch in s)


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
        if not _is_tag(tag):
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


def _parse_simple(s: str) -> Reference | None:
    """The grammar for references without a digest or an IPv6 registry, by hand; None means
    "ask the regexes", which also produce every error message."""
    if "@" in s or "[" in s:
        return None
    name, tag = s, None
    colon = s.rfind(":")
    if colon >= 0 and "/" not in s[colon + 1:]:
        name, tag = s[:colon], s[colon + 1:]
        if not _is_tag(tag):
            return None
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        return None
    registry: str | None = None
    repository = name
    first, slash, rest = name.partition("/")
    if slash and _looks_like_registry(first):
        if not _is_domain(first):
            return None
        registry, repository = first, rest
    if not _is_path(repository):
        return None
    return Reference(registry, repository, tag, None)


def parse(s: str) -> Reference:
    """Parse `s` strictly: nothing is added or normalized."""
    simple = _parse_simple(s)
    return simple if simple is not None else _parse_regex(s)


def _parse_regex(s: str) -> Reference:
    reference_re, path_re, domain_re = _regexes()
    m = reference_re.fullmatch(s)
    if m is None:
        if not s:
            raise _invalid("repository name must have at least one component")
        if reference_re.fullmatch(s.lower()):
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
        if not domain_re.fullmatch(registry):
            raise _invalid()
    if not path_re.fullmatch(repository):
        # The grammar allowed it only by reading an uppercase first part as a domain.
        raise _invalid(
            "repository name must be lowercase" if path_re.fullmatch(repository.lower()) else None
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
    if len(s) == 64 and _is_hex(s):
        raise InvalidArgument(f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings")
    ref = parse(s)
    registry = ref.registry
    if registry is None and default_registry is not None:
        if not ((_is_domain(default_registry) or _regexes()[2].fullmatch(default_registry))
                and _looks_like_registry(default_registry)):
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
    return 3 <= len(s) <= 64 and _is_hex(s)


def split_tag(s: str) -> tuple[str, str | None]:
    """Split "name:tag" into (name, tag); a ":" followed by a "/" is a port, not a tag.

    Only the part before any "@digest" is searched; the digest stays with the name.
    """
    head, at, digest = s.partition("@")
    colon = head.rfind(":")
    if colon < 0 or "/" in head[colon + 1 :]:
        return s, None
    return head[:colon] + at + digest, head[colon + 1 :]
