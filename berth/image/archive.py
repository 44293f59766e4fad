"""save / load: docker-archive, oci-archive and OCI directory layouts, one or several images each.

docker-archive (what `docker save` and `podman save` write): manifest.json lists, per image, its
config file and its layer tars (uncompressed, named by diff ID) and RepoTags; a legacy
`repositories` file is added for old readers.  oci-archive is a tar of an OCI image layout
(oci-layout, index.json, blobs/sha256/...); oci-dir is the same layout as a directory.  Images
are written with uncompressed layers (as Podman does by default), each rebuilt exactly from its
tar-split record, so the archive's digests are the image's own.

Loading reads the archive from a file (stdin is spooled to a temporary file first: both formats
need random access), verifies every blob against its digest or diff ID and stores the layers
through the layer store; nothing is recorded unless every layer applied.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from berth.errors import InvalidArgument, StorageError
from berth.image.reference import normalize
from berth.image.registry import manifest as m

FORMATS = ("docker-archive", "oci-archive", "oci-dir", "docker-dir")
REF_NAME = "org.opencontainers.image.ref.name"


class _IterReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (for tarfile.addfile)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[override]
        while not self._buf:
            nxt = next(self._chunks, None)
            if nxt is None:
                return 0
            self._buf = nxt
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


class _Verified(io.RawIOBase):
    """Reads `f` and raises at its end unless the bytes hash to `digest`."""

    def __init__(self, f: BinaryIO, digest: str, what: str) -> None:
        self.f, self.digest, self.what = f, digest, what
        self.h = hashlib.new(digest.partition(":")[0] or "sha256")

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        data = self.f.read(n)
        if data:
            self.h.update(data)
            return data
        got = f"{self.digest.partition(':')[0]}:{self.h.hexdigest()}"
        if got != self.digest:
            raise StorageError(f"{self.what} does not match its digest {self.digest}: got {got}")
        return b""


def _layer_reader(rt, layer_id: str, diff_id: str) -> BinaryIO:
    from berth.image.push import _verified

    return io.BufferedReader(_IterReader(_verified(rt.layers.diff_tar(layer_id), diff_id)), 1 << 20)


def _layer_size(rt, layer_id: str) -> int:
    row = rt.db.layer(layer_id)
    if row is None:
        raise StorageError(f"layer not known: {layer_id}")
    return int(row[4])


def _tags(img, ref: str) -> list[str]:
    """RepoTags for an image saved as `ref`: the name asked for, else all its tagged names."""
    if not ref.startswith(img.id[:3]) or not img.id.startswith(ref.removeprefix("sha256:")):
        try:
            full = normalize(ref).string()
            for n in img.names:
                if n == full or n.endswith("/" + full):
                    return [n]
        except InvalidArgument:
            pass
    return img.repo_tags()


# --- save -------------------------------------------------------------------------------------


def save(rt, refs: list[str], fmt: str, out: str | BinaryIO) -> None:
    images = [(ref, rt.images.lookup(ref)) for ref in refs]
    if fmt == "oci-dir":
        if not isinstance(out, str):
            raise InvalidArgument("oci-dir needs --output DIRECTORY")
        _save_oci_dir(rt, images, out)
        return
    if fmt not in ("docker-archive", "oci-archive"):
        raise InvalidArgument(f"unknown format {fmt!r}: use docker-archive, oci-archive or oci-dir")
    if isinstance(out, str):
        tmp = f"{out}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as f:
                _save_tar(rt, images, fmt, f)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    else:
        _save_tar(rt, images, fmt, out)


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = len(data), 0o644
    tf.addfile(ti, io.BytesIO(data))


def _add_layer(tf: tarfile.TarFile, rt, name: str, layer_id: str, diff_id: str) -> None:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode = _layer_size(rt, layer_id), 0o644
    tf.addfile(ti, _layer_reader(rt, layer_id, diff_id))


def _save_tar(rt, images: list, fmt: str, f: BinaryIO) -> None:
    with tarfile.open(fileobj=f, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if fmt == "docker-archive":
            _write_docker(rt, images, tf)
        else:
            _write_oci(rt, images, lambda name, data: _add_bytes(tf, name, data),
                       lambda name, lid, did: _add_layer(tf, rt, name, lid, did))


def _write_docker(rt, images: list, tf: tarfile.TarFile) -> None:
    written: set[str] = set()
    entries, repositories = [], {}
    for ref, img in images:
        config_name = f"{img.id}.json"
        if config_name not in written:
            _add_bytes(tf, config_name, rt.images.config_bytes(img.id))
            written.add(config_name)
        names = []
        for lid, did in zip(img.layers, img.diff_ids, strict=True):
            name = f"{did.partition(':')[2]}.tar"
            if name not in written:
                _add_layer(tf, rt, name, lid, did)
                written.add(name)
            names.append(name)
        tags = _tags(img, ref)
        entries.append({"Config": config_name, "RepoTags": tags, "Layers": names})
        for t in tags:
            repo, _, tag = t.rpartition(":")
            repositories.setdefault(repo, {})[tag] = img.diff_ids[-1].partition(":")[2] if img.diff_ids else ""
    _add_bytes(tf, "manifest.json", json.dumps(entries, separators=(",", ":")).encode())
    _add_bytes(tf, "repositories", json.dumps(repositories, separators=(",", ":")).encode())


def _write_oci(rt, images: list, put_bytes, put_layer) -> None:
    written: set[str] = set()
    index = []
    put_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')

    def blob(digest: str, data: bytes) -> None:
        name = f"blobs/sha256/{digest.partition(':')[2]}"
        if name not in written:
            put_bytes(name, data)
            written.add(name)

    for ref, img in images:
        layers = []
        for lid, did in zip(img.layers, img.diff_ids, strict=True):
            name = f"blobs/sha256/{did.partition(':')[2]}"
            if name not in written:
                put_layer(name, lid, did)
                written.add(name)
            layers.append({"mediaType": m.OCI_LAYER, "digest": did, "size": _layer_size(rt, lid)})
        config = rt.images.config_bytes(img.id)
        blob(f"sha256:{img.id}", config)
        doc = {"schemaVersion": 2, "mediaType": m.OCI_MANIFEST,
               "config": {"mediaType": m.OCI_CONFIG, "digest": f"sha256:{img.id}", "size": len(config)},
               "layers": layers}
        body = json.dumps(doc, separators=(",", ":")).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        blob(digest, body)
        tags = _tags(img, ref) or [""]
        for t in tags:
            entry = {"mediaType": m.OCI_MANIFEST, "digest": digest, "size": len(body)}
            if t:
                entry["annotations"] = {REF_NAME: t}
            index.append(entry)
    put_bytes("index.json", json.dumps({"schemaVersion": 2, "manifests": index}, separators=(",", ":")).encode())


def _save_oci_dir(rt, images: list, out: str) -> None:
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)

    def put_bytes(name: str, data: bytes) -> None:
        path = os.path.join(out, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)

    def put_layer(name: str, lid: str, did: str) -> None:
        path = os.path.join(out, name)
        if os.path.exists(path):
            return
        with open(path + ".tmp", "wb") as f:
            shutil.copyfileobj(_layer_reader(rt, lid, did), f, 1 << 20)
        os.replace(path + ".tmp", path)

    _write_oci(rt, images, put_bytes, put_layer)


def save_to_transport(rt, image: str, dest: str) -> None:
    """push IMAGE docker-archive:PATH[:REF] / oci-archive:PATH[:REF] / oci:DIR[:REF]."""
    transport, _, rest = dest.partition(":")
    path = rest.split(":", 1)[0]
    fmt = {"docker-archive": "docker-archive", "oci-archive": "oci-archive", "oci": "oci-dir"}[transport]
    save(rt, [image], fmt, path)


# --- load -------------------------------------------------------------------------------------


def load(rt, src: str | BinaryIO) -> list[str]:
    """Load every image of an archive or OCI directory; returns "Loaded image: ..." names."""
    if isinstance(src, str) and os.path.isdir(src):
        return _load_oci(rt, _DirSource(src))
    if not isinstance(src, str):
        with tempfile.TemporaryFile(dir=os.environ.get("TMPDIR") or "/var/tmp") as spool:
            shutil.copyfileobj(src, spool, 1 << 20)
            spool.seek(0)
            return _load_tar(rt, spool, "stdin")
    try:
        f = open(src, "rb")  # noqa: SIM115
    except OSError as e:
        raise InvalidArgument(f"open {src}: {(e.strerror or str(e)).lower()}") from None
    with f:
        return _load_tar(rt, f, src)


def _load_tar(rt, f: BinaryIO, what: str) -> list[str]:
    try:
        tf = tarfile.open(fileobj=f, mode="r:*")
    except tarfile.TarError as e:
        raise InvalidArgument(f"payload does not match any of the supported image formats: {what}: {e}") from None
    with tf:
        src = _TarSource(tf)
        if src.has("manifest.json"):
            return _load_docker(rt, src)
        if src.has("index.json"):
            return _load_oci(rt, src)
    raise InvalidArgument(f"payload does not match any of the supported image formats (oci, oci-archive, "
                          f"dir, docker-archive): {what}")


class _TarSource:
    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        self.members = {os.path.normpath(mm.name): mm for mm in tf.getmembers()}

    def has(self, name: str) -> bool:
        return os.path.normpath(name) in self.members

    def open(self, name: str) -> BinaryIO:
        mm = self.members.get(os.path.normpath(name))
        while mm is not None and mm.issym():
            mm = self.members.get(os.path.normpath(os.path.join(os.path.dirname(mm.name), mm.linkname)))
        f = self.tf.extractfile(mm) if mm is not None else None
        if f is None:
            raise InvalidArgument(f"archive has no file {name!r}")
        return f  # type: ignore[return-value]

    def read(self, name: str, limit: int = 64 << 20) -> bytes:
        data = self.open(name).read(limit + 1)
        if len(data) > limit:
            raise InvalidArgument(f"{name} in the archive is too large")
        return data


class _DirSource(_TarSource):
    def __init__(self, root: str) -> None:
        self.root = root

    def has(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.root, name))

    def open(self, name: str) -> BinaryIO:
        try:
            return open(os.path.join(self.root, name), "rb")  # noqa: SIM115
        except OSError as e:
            raise InvalidArgument(f"open {os.path.join(self.root, name)}: {(e.strerror or '').lower()}") from None


def _store(rt, config: bytes, opener, names: list[str], digest: str = "", mt: str = "") -> str:
    """Apply the layers (opener(i) -> file) and record the image; removes new layers on failure."""
    from berth.image.pull import _discard
    from berth.storage.layers import chain_id

    doc = json.loads(config)
    diff_ids = list((doc.get("rootfs") or {}).get("diff_ids") or [])
    chain = chain_id(diff_ids)
    created: list[str] = []
    try:
        for i, did in enumerate(diff_ids):
            if rt.layers.exists(chain[i]):
                continue
            with opener(i) as f:
                lid, _, _ = rt.layers.create(f, chain[i - 1] if i else None, did)
            created.append(lid)
    except BaseException:
        _discard(rt, created)
        raise
    img = rt.images.add(config, chain, diff_ids, names, digest=digest, manifest_type=mt)
    return img.id


def _qualify(tag: str) -> str:
    ref = normalize(tag)
    return normalize(tag, default_registry="docker.io").string() if ref.registry is None else ref.string()


def _load_docker(rt, src: _TarSource) -> list[str]:
    try:
        entries = json.loads(src.read("manifest.json"))
    except ValueError as e:
        raise InvalidArgument(f"archive's manifest.json is not valid JSON: {e}") from None
    out = []
    for entry in entries:
        config = src.read(entry["Config"])
        hexname = os.path.basename(entry["Config"]).removesuffix(".json")
        if len(hexname) == 64 and hashlib.sha256(config).hexdigest() != hexname:
            raise StorageError(f"config {entry['Config']} does not match its digest")
        layers = entry.get("Layers") or []
        names = [_qualify(t) for t in entry.get("RepoTags") or []]
        if len(layers) != len((json.loads(config).get("rootfs") or {}).get("diff_ids") or []):
            raise InvalidArgument("archive's manifest.json and config disagree on the number of layers")
        iid = _store(rt, config, lambda i, layers=layers: src.open(layers[i]), names, mt=m.DOCKER_V2S2)
        out += names or [f"sha256:{iid}"]
    return out


def _load_oci(rt, src: _TarSource) -> list[str]:
    index = json.loads(src.read("index.json"))
    out = []
    for desc in index.get("manifests") or []:
        body = _blob(src, desc["digest"], 4 << 20)
        mt = desc.get("mediaType") or m.media_type(body, None)
        if mt in m.LISTS:
            desc = m.choose(json.loads(body), m.host_platform(), "oci index")
            body = _blob(src, desc["digest"], 4 << 20)
            mt = desc.get("mediaType") or m.OCI_MANIFEST
        doc = json.loads(body)
        config = _blob(src, doc["config"]["digest"], 64 << 20)
        layers = doc.get("layers") or []
        ref_name = (desc.get("annotations") or {}).get(REF_NAME, "")
        # A full reference names the image; a bare tag (skopeo's oci:DIR:TAG) names nothing.
        names = [_qualify(ref_name)] if ("/" in ref_name or ":" in ref_name) else []

        def opener(i: int, layers=layers):
            d = layers[i]["digest"]
            return _Verified(src.open(_blob_path(d)), d, f"blob {d}")

        iid = _store(rt, config, opener, names, digest=desc["digest"], mt=mt)
        out += names or [f"sha256:{iid}"]
    return out


def _blob_path(digest: str) -> str:
    algo, _, hexpart = digest.partition(":")
    if not hexpart or "/" in hexpart or algo not in ("sha256", "sha512"):
        raise InvalidArgument(f"invalid digest {digest!r}")
    return f"blobs/{algo}/{hexpart}"


def _blob(src: _TarSource, digest: str, limit: int) -> bytes:
    data = src.read(_blob_path(digest), limit)
    algo = digest.partition(":")[0]
    if f"{algo}:{hashlib.new(algo, data).hexdigest()}" != digest:
        raise StorageError(f"blob {digest} does not match its digest")
    return data
