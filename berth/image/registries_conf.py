"""registries.conf: where a reference is pulled from, as containers/image's sysregistriesv2 decides.

Files: $CONTAINERS_REGISTRIES_CONF, else ~/.config/containers/registries.conf when it exists (rootless),
else /etc/containers/registries.conf; then every *.conf of registries.conf.d (the user's directory when
it exists, else /etc/containers/registries.conf.d) in lexical order.  A drop-in replaces the
top-level lists it sets, merges `[aliases]` and replaces `[[registry]]` entries with the same prefix.

Version 2 (what Podman writes): `unqualified-search-registries`, `[[registry]]` with
`prefix`/`location`/`insecure`/`blocked`/`mirror-by-digest-only`/`pull-from-mirror` and
`[[registry.mirror]]` (`location`, `insecure`), `[aliases]`.  Version 1 (`[registries.search]`,
`[registries.insecure]`, `[registries.block]`) is read too.  tomllib is imported only here, and only
the commands that talk to registries import this module.
"""

from __future__ import annotations

import glob
import os

from berth.errors import InvalidArgument
from berth.util.record import field, record

SYSTEM_CONF = "/etc/containers/registries.conf"
SYSTEM_CONF_DIR = "/etc/containers/registries.conf.d"


@record(frozen=True)
class Endpoint:
    location: str          # host[:port][/path] that replaces the registry entry's prefix
    insecure: bool = False  # plain HTTP or unverified TLS allowed


@record
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    pull_from_mirror: str = "all"          # all, digest-only, tag-only
    mirrors: list[Endpoint] = field(default_factory=list)


@record(frozen=True)
class PullSource:
    """One place to try: `reference` rewritten for that endpoint."""

    reference: str
    insecure: bool
    mirror: bool


@record
class RegistriesConf:
    path: str = SYSTEM_CONF
    search: list[str] = field(default_factory=list)
    registries: list[RegistryEntry] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)
    short_name_mode: str = "enforcing"

    def find(self, name: str) -> RegistryEntry | None:
        """The entry whose prefix matches `name` (registry/repository) most specifically."""
        best: RegistryEntry | None = None
        best_len = -1
        for reg in self.registries:
            n = _prefix_match(reg.prefix, name)
            if n > best_len:
                best, best_len = reg, n
        return best

    def pull_sources(self, ref: str, by_digest: bool) -> list[PullSource]:
        """Where to pull `ref` (fully qualified) from: mirrors first, then the (rewritten) primary."""
        name, suffix = _split_name(ref)
        reg = self.find(name)
        if reg is None:
            return [PullSource(ref, False, False)]
        if reg.blocked:
            raise InvalidArgument(f'registry {name.split("/", 1)[0]} is blocked in {self.path} or '
                                  f'registries.conf.d')
        rest = name[_prefix_len(reg.prefix, name):]
        out: list[PullSource] = []
        use_mirrors = not (reg.mirror_by_digest_only or reg.pull_from_mirror == "digest-only") or by_digest
        if reg.pull_from_mirror == "tag-only" and by_digest:
            use_mirrors = False
        if use_mirrors:
            out += [PullSource(m.location + rest + suffix, m.insecure, True) for m in reg.mirrors]
        out.append(PullSource(reg.location + rest + suffix, reg.insecure, False))
        return out

    def insecure(self, host: str) -> bool:
        reg = self.find(host)
        return bool(reg and reg.insecure and _prefix_len(reg.prefix, host) > 0)

    def blocked(self, name: str) -> bool:
        reg = self.find(name)
        return bool(reg and reg.blocked)


def _split_name(ref: str) -> tuple[str, str]:
    """'reg/repo:tag@d' -> ('reg/repo', ':tag@d')."""
    at = ref.find("@")
    head = ref if at < 0 else ref[:at]
    colon = head.rfind(":")
    if colon > head.rfind("/"):
        return head[:colon], ref[colon:]
    return head, ref[len(head):]


def _prefix_match(prefix: str, name: str) -> int:
    """Length of the match, -1 when `prefix` does not apply to `name`."""
    if prefix.startswith("*."):
        host = name.split("/", 1)[0]
        return len(prefix) if host.endswith(prefix[1:]) else -1
    if name == prefix or name.startswith(prefix + "/") or (prefix.endswith("/") and name.startswith(prefix)):
        return len(prefix)
    return -1


def _prefix_len(prefix: str, name: str) -> int:
    if prefix.startswith("*."):
        return len(name.split("/", 1)[0])
    return len(prefix) if _prefix_match(prefix, name) >= 0 else 0


def conf_paths() -> tuple[str, list[str]]:
    env = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    user_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    if env:
        main = env
    else:
        user = os.path.join(user_home, "containers", "registries.conf")
        main = user if os.geteuid() != 0 and os.path.exists(user) else SYSTEM_CONF
    user_dir = os.path.join(user_home, "containers", "registries.conf.d")
    conf_dir = user_dir if os.geteuid() != 0 and os.path.isdir(user_dir) else SYSTEM_CONF_DIR
    return main, sorted(glob.glob(os.path.join(conf_dir, "*.conf")))


def load(path: str | None = None) -> RegistriesConf:
    import tomllib

    main, dropins = conf_paths()
    if path:
        main = path
    conf = RegistriesConf(path=main)
    for p in [main, *dropins]:
        try:
            with open(p, "rb") as f:
                doc = tomllib.load(f)
        except FileNotFoundError:
            continue
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise InvalidArgument(f"loading registries configuration {p!r}: {e}") from None
        _merge(conf, doc, p)
    return conf


def _merge(conf: RegistriesConf, doc: dict, path: str) -> None:
    if "unqualified-search-registries" in doc:
        conf.search = [str(r) for r in doc["unqualified-search-registries"]]
    if "short-name-mode" in doc:
        conf.short_name_mode = str(doc["short-name-mode"])
    conf.aliases.update({str(k): str(v) for k, v in (doc.get("aliases") or {}).items()})
    v1 = doc.get("registries")
    if isinstance(v1, dict):  # version 1
        conf.search = list((v1.get("search") or {}).get("registries", conf.search))
        for host in (v1.get("insecure") or {}).get("registries", []):
            _put(conf, RegistryEntry(prefix=host, location=host, insecure=True))
        for host in (v1.get("block") or {}).get("registries", []):
            _put(conf, RegistryEntry(prefix=host, location=host, blocked=True))
        return
    for entry in doc.get("registry") or []:
        location = str(entry.get("location", "")).rstrip("/")
        prefix = str(entry.get("prefix", "") or location).rstrip("/")
        if not prefix:
            raise InvalidArgument(f"invalid registries configuration {path!r}: a [[registry]] has neither "
                                  "prefix nor location")
        if prefix.startswith("*.") and location:
            raise InvalidArgument(f"invalid registries configuration {path!r}: wildcarded prefix "
                                  f"{prefix!r} cannot have a location")
        mirrors = [Endpoint(str(m["location"]).rstrip("/"), bool(m.get("insecure", False)))
                   for m in entry.get("mirror") or [] if m.get("location")]
        _put(conf, RegistryEntry(prefix=prefix, location=location or prefix,
                                 insecure=bool(entry.get("insecure", False)),
                                 blocked=bool(entry.get("blocked", False)),
                                 mirror_by_digest_only=bool(entry.get("mirror-by-digest-only", False)),
                                 pull_from_mirror=str(entry.get("pull-from-mirror", "all") or "all"),
                                 mirrors=mirrors))


def _put(conf: RegistriesConf, entry: RegistryEntry) -> None:
    conf.registries = [r for r in conf.registries if r.prefix != entry.prefix] + [entry]


def resolve_short_name(conf: RegistriesConf, name: str) -> list[str]:
    """Fully qualified candidates for user input `name`, in the order Podman tries them.

    A name with a registry is returned as is; a short name goes through `[aliases]`, then every
    unqualified-search registry.  The returned strings are normalized references.
    """
    from berth.image.reference import normalize, parse

    ref = parse(name)
    if ref.registry is not None:
        return [normalize(name).string()]
    suffix = name[len(ref.repository):]
    alias = conf.aliases.get(ref.repository)
    if alias is not None:
        if ref.digest is None and ref.tag is None and ":" in alias.rsplit("/", 1)[-1]:
            return [normalize(alias).string()]
        return [normalize(alias.rsplit("@", 1)[0] + suffix).string()]
    if not conf.search:
        raise InvalidArgument(f'short-name "{name}" did not resolve to an alias and no unqualified-search '
                              f'registries are defined in "{conf.path}"')
    return [normalize(f"{reg}/{name}").string() for reg in conf.search]
