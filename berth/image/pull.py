"""Pulling images: reference → registries.conf → manifest (list) → config → layers → image store.

Layers stream from the registry through digest verification and decompression into
`LayerStore.create`, several at once (overlay extracts every layer into its own directory, so
order does not matter).  A layer that fails (digest, size, diff ID, connection) makes the whole
pull fail: the other transfers are stopped and every layer this pull created that no image uses
is removed again, so a failed pull stores nothing.
"""

from __future__ import annotations

import json
import sys
import threading
from typing import TYPE_CHECKING

from berth.errors import BerthError, InvalidArgument
from berth.image import blobmap
from berth.image.progress import Progress
from berth.image.reference import Reference, normalize, parse
from berth.image.registry.errors import RegistryError
from berth.image.registry.manifest import DOCKER_V2S1, IMAGES, LISTS, Platform, choose, host_platform
from berth.image.registry.manifest import layer_compression as _compression
from berth.util.record import field, record

if TYPE_CHECKING:
    from berth.image.session import Session

PARALLEL = 6  # concurrent layer transfers, as Podman; extraction waits on the disk more than the CPU


@record
class PullOptions:
    platform: Platform | None = None     # None: the host's
    tls_verify: bool | None = None        # None: registries.conf decides
    authfile: str | None = None
    creds: tuple[str, str] | None = None
    cert_dir: str | None = None
    quiet: bool = False
    all_tags: bool = False
    registries_conf: object = None       # a loaded RegistriesConf (tests, callers that have one)
    out: object = field(default_factory=lambda: sys.stderr)


class _Aborted(Exception):
    """Another layer of the same pull failed; this transfer stops."""


def candidates(name: str, session: Session) -> list[str]:
    """Fully qualified references to try for user input `name`."""
    from berth.image.registries_conf import resolve_short_name

    return resolve_short_name(session.conf, name)


def pull(rt, name: str, opts: PullOptions) -> list:
    """Pull `name` (short or qualified, tag or digest); returns the stored images."""
    from berth.image.session import Session

    session = Session(opts.tls_verify, opts.authfile, opts.creds, opts.cert_dir, opts.registries_conf)
    progress = Progress(opts.out, quiet=opts.quiet)  # type: ignore[arg-type]
    refs = candidates(name, session)
    if opts.all_tags:
        given = parse(name)
        if given.tag is not None or given.digest is not None:
            raise InvalidArgument("tag or digest can't be used with --all-tags option")
        ref = parse(refs[0])
        base = ref.name()
        client = session.client_for(ref.registry or "", None)
        tags = client.tags(ref.repository)
        if not tags:
            raise RegistryError(f"{base}: no tags found")
        return [pull_reference(rt, f"{base}:{t}", session, opts, progress) for t in tags]
    errors: list[str] = []
    for ref_str in refs:
        try:
            return [pull_reference(rt, ref_str, session, opts, progress)]
        except RegistryError as e:
            errors.append(e.message)
    if len(errors) == 1:
        raise RegistryError(errors[0])
    raise RegistryError(f"{len(errors)} errors occurred while pulling:\n" + "\n".join(f" * {e}" for e in errors))


def pull_reference(rt, ref_str: str, session: Session, opts: PullOptions, progress: Progress):
    """Pull one fully qualified reference, through its mirrors first (registries.conf)."""
    ref = normalize(ref_str)
    progress.line(f"Trying to pull {ref.string()}...")
    sources = session.conf.pull_sources(ref.string(), by_digest=ref.digest is not None)
    last: RegistryError | None = None
    for src in sources:
        try:
            return _pull_from(rt, parse(src.reference), ref, src.insecure, session, opts, progress)
        except RegistryError as e:
            last = e
    assert last is not None
    raise last


def _pull_from(rt, src: Reference, named: Reference, insecure: bool, session: Session, opts: PullOptions,
               progress: Progress):
    where = f"docker://{src.string()}"
    repo = src.repository
    try:
        client = session.client_for(src.registry or "", insecure, repo)
        data, mt, digest = client.get_manifest(repo, src.digest or src.tag or "latest")
        list_digest = ""
        if mt in LISTS:
            want = opts.platform or host_platform()
            desc = choose(json.loads(data), want, where)
            list_digest = digest
            data, mt, digest = client.get_manifest(repo, desc["digest"])
    except RegistryError as e:
        raise RegistryError(f"initializing source {where}: {e.message}") from None
    if mt == DOCKER_V2S1:
        raise RegistryError(f"{where}: Docker schema 1 manifests are not supported")
    if mt not in IMAGES:
        raise RegistryError(f"{where}: unsupported manifest type {mt}")
    manifest = json.loads(data)
    progress.line("Getting image source signatures")
    cfg_desc = manifest["config"]
    layers = manifest.get("layers") or []
    config_bytes = client.get_blob(repo, cfg_desc["digest"], cfg_desc.get("size", -1))
    config = json.loads(config_bytes)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layers):
        raise RegistryError(f"{where}: the manifest has {len(layers)} layers but the config {len(diff_ids)}")
    _check_platform(config, opts.platform, progress)
    location = f"{src.registry}/{repo}"
    fetch_layers(rt, client, repo, layers, diff_ids, progress, location)
    row = progress.blob("config", cfg_desc["digest"], len(config_bytes))
    progress.finish(row)
    progress.line("Writing manifest to image destination")
    progress.line("Storing signatures")
    from berth.storage.layers import chain_id

    name = f"{named.name()}@{named.digest}" if named.digest else named.string()
    return rt.images.add(config_bytes, chain_id(diff_ids), diff_ids, [name], digest=digest,
                         extra_digests=[list_digest] if list_digest else [], manifest_type=mt)


def _check_platform(config: dict, want: Platform | None, progress: Progress) -> None:
    if want is None:
        return
    have = Platform(config.get("os", ""), config.get("architecture", ""), config.get("variant", ""))
    if (have.os, have.architecture) != (want.os, want.architecture):
        progress.line(f"WARNING: image platform ({have}) does not match the expected platform ({want})")


def fetch_layers(rt, client, repo: str, layers: list[dict], diff_ids: list[str], progress: Progress,
                 location: str) -> None:
    """Store every missing layer; on failure remove the ones this call created."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    from berth.storage.layers import chain_id

    chain = chain_id(diff_ids)
    missing = [i for i, lid in enumerate(chain) if not rt.layers.exists(lid)]
    for i, desc in enumerate(layers):
        if i not in missing:
            progress.skipped("blob", desc["digest"])
    abort = threading.Event()
    created: list[str] = []
    seen: list[tuple[str, str, str, int]] = []  # blob map rows, written by this thread at the end
    lock = threading.Lock()

    def one(i: int) -> None:
        desc = layers[i]
        row = progress.blob("blob", desc["digest"], int(desc.get("size", 0)))

        def tick(n: int) -> None:
            if abort.is_set():
                raise _Aborted()
            progress.advance(row, n)

        reader = client.open_blob(repo, desc["digest"], int(desc.get("size", -1)), tick)
        try:
            parent = chain[i - 1] if i else None
            existed = rt.layers.exists(chain[i])
            lid, _, _ = rt.layers.create(reader, parent, diff_ids[i])
            if not existed:
                with lock:
                    created.append(lid)
        finally:
            reader.close()
        progress.finish(row)
        comp = _compression(desc.get("mediaType", ""))
        if comp:
            with lock:
                seen.append((desc["digest"], diff_ids[i], comp, int(desc.get("size", 0))))

    try:
        if rt.layers.driver != "overlay" or len(missing) < 2:
            for i in missing:  # vfs copies the parent into each layer: strictly in order
                one(i)
        else:
            with ThreadPoolExecutor(max_workers=min(PARALLEL, len(missing))) as pool:
                futures = [pool.submit(one, i) for i in missing]
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
                failed = [f for f in futures if f.done() and f.exception()
                          and not isinstance(f.exception(), _Aborted)]
                if failed:
                    abort.set()
                    for f in futures:
                        f.cancel()
                    wait(futures)
                    raise failed[0].exception()  # type: ignore[misc]
    except BaseException:
        abort.set()
        _discard(rt, created)
        raise
    # The workers share one SQLite connection: only LayerStore's commits (under its lock) write there.
    for digest, diff_id, comp, size in seen:
        blobmap.record(rt.db, digest, diff_id, comp, size, location)


def _discard(rt, created: list[str]) -> None:
    in_use: set[str] = set()
    for img in rt.images.list():
        in_use.update(img.layers)
    for lid in reversed(created):
        if lid not in in_use:
            try:
                rt.layers.remove(lid)
            except (OSError, BerthError):
                pass


def ensure_image(rt, ref: str, policy: str, out=None) -> None:
    """--pull for run/create: make `ref` available locally according to `policy`."""
    policy = policy or "missing"
    if policy not in ("always", "missing", "never", "newer"):
        raise InvalidArgument(f'"{policy}" is not a valid pull policy')
    if policy == "never":
        return
    local = rt.images.resolve_id(ref)
    if local and policy == "missing":
        return
    if local and _is_id(ref, local):
        return  # an image ID is never pulled
    opts = PullOptions(out=out or sys.stderr)
    if local and policy == "newer":
        if not _remote_differs(rt, ref, local, opts):
            return
        try:
            pull(rt, ref, opts)
        except RegistryError:
            pass  # Podman keeps the local image when the registry cannot be asked
        return
    pull(rt, ref, opts)


def _is_id(ref: str, image_id: str) -> bool:
    r = ref.removeprefix("sha256:")
    return len(r) >= 3 and image_id.startswith(r)


def _remote_differs(rt, ref: str, image_id: str, opts: PullOptions) -> bool:
    from berth.image.session import Session

    session = Session(None, None, None, None, None)
    img = rt.images.get(image_id)
    try:
        for ref_str in candidates(ref, session):
            r = normalize(ref_str)
            client = session.client_for(r.registry or "", None)
            remote = client.head_manifest(r.repository, r.digest or r.tag or "latest")
            if remote:
                return remote not in img.digests
    except (BerthError, OSError):
        return False
    return False
