"""Pushing images: layers (reused, mounted or compressed and uploaded), config, manifest.

For every layer the registry is asked first (HEAD) for each compressed blob already known to
hold that layer (pulled from somewhere, or pushed before: image/blobmap.py); a blob seen in
another repository of the same registry is cross-mounted.  Only when neither works is the
layer's original tar rebuilt (storage/tarsplit.py), checked against its diff ID, compressed
(isal gzip or zstd) and streamed up without a temporary file; the result is recorded, so the
next push of the same layer compresses nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from berth.errors import InvalidArgument, StorageError
from berth.image import blobmap
from berth.image.progress import Progress
from berth.image.reference import normalize
from berth.image.registry import manifest as m
from berth.image.registry.errors import RegistryError
from berth.image.session import Session
from berth.util.record import field, record

PARALLEL = 3
GZIP_LEVEL = 1  # ISA-L level 1: about 3x zlib -6's speed for a few percent more bytes


@record
class PushOptions:
    tls_verify: bool | None = None
    authfile: str | None = None
    creds: tuple[str, str] | None = None
    cert_dir: str | None = None
    format: str = ""                  # "oci", "v2s2"; "" keeps the image's own
    compression: str = "gzip"         # "gzip" or "zstd"
    quiet: bool = False
    chunk_size: int = 0               # >0: compress to memory, then upload in PATCH chunks of this size
    registries_conf: object = None
    out: object = field(default_factory=lambda: sys.stderr)


@record
class Pushed:
    digest: str
    size: int
    media_type: str
    reference: str


def _gzip(chunks: Iterable[bytes]) -> Iterator[bytes]:
    try:
        from isal import isal_zlib as z
        c = z.compressobj(GZIP_LEVEL, z.DEFLATED, 31)
    except ImportError:  # pragma: no cover
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = c.compress(chunk)
        if out:
            yield out
    yield c.flush()


def _zstd(chunks: Iterable[bytes]) -> Iterator[bytes]:
    import zstandard

    c = zstandard.ZstdCompressor(level=3).compressobj()
    for chunk in chunks:
        out = c.compress(chunk)
        if out:
            yield out
    yield c.flush()


def _verified(chunks: Iterable[bytes], diff_id: str) -> Iterator[bytes]:
    """Pass the rebuilt layer tar through, failing at the end if it is not the recorded layer."""
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(chunk)
        yield chunk
    if f"sha256:{h.hexdigest()}" != diff_id:
        raise StorageError(f"layer {diff_id} could not be reproduced exactly from storage")


def compressed_layer(rt, layer_id: str, diff_id: str, compression: str) -> Iterator[bytes]:
    tar = _verified(rt.layers.diff_tar(layer_id), diff_id)
    return _zstd(tar) if compression == "zstd" else _gzip(tar)


def _media_types(fmt: str, compression: str) -> tuple[str, str, str]:
    if fmt == "v2s2":
        if compression != "gzip":
            raise InvalidArgument(f"{compression} compression is not supported by the docker v2s2 manifest "
                                  "format: use --format oci")
        return m.DOCKER_V2S2, m.DOCKER_CONFIG, m.DOCKER_LAYER_GZIP
    return m.OCI_MANIFEST, m.OCI_CONFIG, m.OCI_LAYER_ZSTD if compression == "zstd" else m.OCI_LAYER_GZIP


def destination(img, source: str, dest: str | None) -> str:
    """The registry reference to push to: DEST, else the name the image was given by."""
    from berth.image.store import repository_of

    target = (dest or source).removeprefix("docker://")
    ref = normalize(target)
    if ref.registry is None and dest is None:
        # "berth push busybox" pushes the local image's own name ("localhost/busybox:latest")
        names = [n for n in img.names if "@" not in n and repository_of(n).endswith("/" + ref.repository)]
        ref = normalize(names[0]) if names else ref
    if ref.registry is None:
        ref = normalize(f"docker.io/{target}")
    if ref.digest:
        raise InvalidArgument(f"{target}: can not push to a reference with a digest")
    return ref.string()


def push(rt, source: str, dest: str | None, opts: PushOptions) -> Pushed:
    img = rt.images.lookup(source)
    target = destination(img, source, dest)
    ref = normalize(target)
    # The image's own manifest type, unless it cannot carry the compression asked for (as
    # containers/image converts a docker image to OCI for zstd).
    docker = img.manifest_type in (m.DOCKER_V2S2, m.DOCKER_LIST) and opts.compression == "gzip"
    fmt = opts.format or ("v2s2" if docker else "oci")
    if fmt not in ("oci", "v2s2"):
        raise InvalidArgument(f"unknown format {fmt!r}: use oci or v2s2")
    if opts.compression not in ("gzip", "zstd"):
        raise InvalidArgument(f"unsupported compression format {opts.compression!r}: use gzip or zstd")
    manifest_type, config_type, layer_type = _media_types(fmt, opts.compression)
    session = Session(opts.tls_verify, opts.authfile, opts.creds, opts.cert_dir, opts.registries_conf)
    host, repo = ref.registry or "", ref.repository
    if session.conf.blocked(ref.name()):
        raise InvalidArgument(f"registry {host} is blocked in registries.conf")
    client = session.client_for(host, None, repo)
    progress = Progress(opts.out, quiet=opts.quiet)  # type: ignore[arg-type]
    progress.line("Getting image source signatures")
    location = f"{host}/{repo}"

    # Read the blob map here: the workers must not use the store's SQLite connection.
    known = {d: blobmap.candidates(rt.db, d, opts.compression) for d in img.diff_ids}
    places = {dg: blobmap.locations(rt.db, dg) for c in known.values() for dg, _ in c}
    seen: list[tuple[str, str, int]] = []

    def one(i: int) -> dict:
        layer_id, diff_id = img.layers[i], img.diff_ids[i]
        for digest, size in known[diff_id]:
            reused = client.blob_exists(repo, digest)
            if not reused:
                for loc in places[digest]:
                    other_host, _, other_repo = loc.partition("/")
                    if other_host == host and other_repo != repo and client.mount_blob(repo, digest, other_repo):
                        reused = True
                        break
            if reused:
                progress.skipped("blob", digest)
                seen.append((digest, diff_id, size))
                return {"mediaType": layer_type, "digest": digest, "size": size}
        row = progress.blob("blob", diff_id, 0)
        if opts.chunk_size:
            data = b"".join(compressed_layer(rt, layer_id, diff_id, opts.compression))
            digest, size = "sha256:" + hashlib.sha256(data).hexdigest(), len(data)
            client.upload_bytes(repo, digest, data, opts.chunk_size)
        else:
            # A streamed upload cannot be replayed by the transport: on a failure the layer is
            # compressed again into a new upload session, once.
            for attempt in (1, 2):
                try:
                    digest, size = client.upload_stream(
                        repo, compressed_layer(rt, layer_id, diff_id, opts.compression))
                    break
                except RegistryError:
                    if attempt == 2:
                        raise
        progress.finish(row)
        seen.append((digest, diff_id, size))
        return {"mediaType": layer_type, "digest": digest, "size": size}

    n = len(img.layers)
    if n > 1:
        with ThreadPoolExecutor(max_workers=min(PARALLEL, n)) as pool:
            layers = list(pool.map(one, range(n)))
    else:
        layers = [one(i) for i in range(n)]
    for digest, diff_id, size in seen:
        blobmap.record(rt.db, digest, diff_id, opts.compression, size, location)
    config = rt.images.config_bytes(img.id)
    config_digest = f"sha256:{img.id}"
    row = progress.blob("config", config_digest, len(config))
    if not client.blob_exists(repo, config_digest):
        client.upload_bytes(repo, config_digest, config)
    progress.finish(row)
    doc = {"schemaVersion": 2, "mediaType": manifest_type,
           "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
           "layers": layers}
    body = json.dumps(doc, separators=(",", ":")).encode()
    progress.line("Writing manifest to image destination")
    digest = client.put_manifest(repo, ref.tag or "latest", body, manifest_type)
    return Pushed(digest, len(body), manifest_type, ref.string())


def push_index(session: Session, target: str, entries: list[tuple[Pushed, m.Platform]], oci: bool = True) -> str:
    """Put a manifest list / OCI index of already pushed manifests under `target`'s tag."""
    ref = normalize(target)
    client = session.client_for(ref.registry or "", None, ref.repository)
    mt = m.OCI_INDEX if oci else m.DOCKER_LIST
    manifests = []
    for pushed, plat in entries:
        p = {"architecture": plat.architecture, "os": plat.os}
        if plat.variant:
            p["variant"] = plat.variant
        manifests.append({"mediaType": pushed.media_type, "digest": pushed.digest, "size": pushed.size,
                          "platform": p})
    body = json.dumps({"schemaVersion": 2, "mediaType": mt, "manifests": manifests}, separators=(",", ":")).encode()
    return client.put_manifest(ref.repository, ref.tag or "latest", body, mt)
