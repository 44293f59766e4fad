"""The image store: image records in the state DB, config blobs on disk, layers in the layer store.

An image's ID is the sha256 of its config blob, as everywhere in OCI.  Names are kept fully
qualified (`localhost/busybox:latest`); short names given by a user are looked up the way Podman
does for local images: the exact name, then `localhost/NAME`, then any registry's `NAME`.
"""

from __future__ import annotations

import os
import time

from berth.engine.db import Database
from berth.errors import InvalidArgument, NoSuchImage
from berth.storage.layers import LayerStore
from berth.util import jsonc
from berth.util.record import field, record


@record
class Image:
    id: str
    created: float
    names: list[str]
    layers: list[str]                # chain IDs, base first
    diff_ids: list[str]
    config: dict                     # the OCI image config document
    size: int = 0
    digest: str = ""                 # manifest digest, when the image came with one
    digests: list[str] = field(default_factory=list)
    manifest_type: str = ""          # media type of the manifest it was pulled or loaded with

    @property
    def top_layer(self) -> str | None:
        return self.layers[-1] if self.layers else None

    @property
    def run_config(self) -> dict:
        return self.config.get("config") or {}

    def repo_tags(self) -> list[str]:
        """Names with a tag; an image pulled by digest is named "repo@sha256:..." (as in Podman)."""
        return [n for n in self.names if "@" not in n]

    def repo_digests(self) -> list[str]:
        """repo@digest for every repository the image is named in and every manifest digest it has."""
        out: list[str] = []
        for n in self.names:
            repo = repository_of(n)
            for d in self.digests:
                if f"{repo}@{d}" not in out:
                    out.append(f"{repo}@{d}")
        return out

    def to_record(self) -> dict:
        return {"layers": self.layers, "diff_ids": self.diff_ids, "config": self.config,
                "size": self.size, "digest": self.digest, "digests": self.digests,
                "manifest_type": self.manifest_type}

    @classmethod
    def from_row(cls, row: tuple, names: list[str]) -> Image:
        iid, created, data = row
        d = jsonc.loads(data)
        return cls(id=iid, created=created, names=names, layers=d["layers"], diff_ids=d["diff_ids"],
                   config=d["config"], size=d.get("size", 0), digest=d.get("digest", ""),
                   digests=d.get("digests", []), manifest_type=d.get("manifest_type", ""))


def repository_of(name: str) -> str:
    """'reg:5000/a/b:tag' or 'reg/a@sha256:..' -> the repository part."""
    name = name.partition("@")[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def qualify(name: str) -> str:
    """A user's name for a new tag, made fully qualified (Podman tags short names as localhost/)."""
    from berth.image.reference import normalize

    ref = normalize(name)
    if ref.registry is None:
        ref = normalize(name, default_registry="localhost")
    return ref.string()


class ImageStore:
    def __init__(self, root: str, db: Database, layers: LayerStore) -> None:
        self.dir = os.path.join(root, "storage", "images")
        self.db = db
        self.layers = layers

    def list(self) -> list[Image]:
        names = self.db.image_names()
        return [Image.from_row(r, names.get(r[0], [])) for r in self.db.image_rows()]

    def get(self, image_id: str) -> Image:
        row = self.db.image_row(image_id)
        if row is None:
            raise NoSuchImage(f"{image_id}: image not known")
        return Image.from_row(row, self.db.names_of_image(image_id))

    def lookup(self, ref: str) -> Image:
        iid = self.resolve_id(ref)
        if iid is None:
            raise NoSuchImage(f"{ref}: image not known")
        return self.get(iid)

    def resolve_id(self, ref: str) -> str | None:
        ref = ref.strip()
        if ref.startswith("sha256:"):
            ref = ref[7:]
        if len(ref) == 64 and self.db.image_row(ref):
            return ref
        iid = self._by_name(ref)
        if iid:
            return iid
        if 3 <= len(ref) < 64 and all(c in "0123456789abcdef" for c in ref):
            ids = self.db.image_ids_with_prefix(ref)
            if len(ids) > 1:
                raise InvalidArgument(f"{ref}: image ID prefix is ambiguous")
            if ids:
                return ids[0]
        return None

    def _by_name(self, ref: str) -> str | None:
        from berth.image.reference import normalize

        try:
            parsed = normalize(ref)
        except InvalidArgument:
            return None
        if parsed.digest and not parsed.tag:
            iid = self.db.image_by_name(parsed.string())
            if iid:
                return iid
            want = parsed.name()
            for img in self.list():
                if parsed.digest in img.digests and any(
                        repository_of(n) == want or (parsed.registry is None and (
                            repository_of(n).endswith("/" + want))) for n in img.names):
                    return img.id
            return None
        full = parsed.string()
        iid = self.db.image_by_name(full)
        if iid or parsed.registry is not None:
            return iid
        iid = self.db.image_by_name("localhost/" + full)
        if iid:
            return iid
        matches = {i for n, i in self.db.names_ending(full)}
        if len(matches) == 1:
            return matches.pop()
        return None

    def add(self, config_bytes: bytes, layers: list[str], diff_ids: list[str], names: list[str],
            digest: str = "", extra_digests: list[str] | None = None, manifest_type: str = "") -> Image:
        """Record an image; `digest` is its manifest's, `extra_digests` e.g. the manifest list's."""
        image_id = _sha256(config_bytes).hexdigest()
        config = jsonc.loads(config_bytes)
        d = os.path.join(self.dir, image_id)
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".config.{os.getpid()}")
        with open(tmp, "wb") as f:
            f.write(config_bytes)
        os.replace(tmp, os.path.join(d, "config.json"))
        size = sum((self.db.layer(lid) or (0, 0, 0, 0, 0))[4] for lid in layers)
        created = _parse_created(config.get("created")) or time.time()
        img = Image(id=image_id, created=created, names=[], layers=layers, diff_ids=diff_ids,
                    config=config, size=size, digest=digest,
                    digests=([digest] if digest else []) + list(extra_digests or []),
                    manifest_type=manifest_type)
        with self.db.write():
            old = self.db.image_row(image_id)
            if old:
                prev = Image.from_row(old, [])
                img.digests = sorted(set(prev.digests + img.digests))
                img.digest = img.digest or prev.digest
                img.manifest_type = img.manifest_type or prev.manifest_type
            self.db.add_image(image_id, created, img.to_record())
            for n in names:
                self.db.set_image_name(n, image_id)
        return self.get(image_id)

    def config_bytes(self, image_id: str) -> bytes:
        with open(os.path.join(self.dir, image_id, "config.json"), "rb") as f:
            return f.read()

    def tag(self, image_id: str, name: str) -> str:
        full = qualify(name)
        with self.db.write():
            self.db.set_image_name(full, image_id)
        return full

    def untag(self, image_id: str, name: str | None) -> list[str]:
        names = self.db.names_of_image(image_id)
        if name is None:
            drop = names
        else:
            full = qualify(name)
            if full not in names:
                raise NoSuchImage(f"{name}: tag not known")
            drop = [full]
        with self.db.write():
            for n in drop:
                self.db.remove_image_name(n)
        return drop

    def remove(self, image_id: str) -> list[str]:
        """Delete the record and every layer no other image uses; returns removed layer IDs."""
        img = self.get(image_id)
        with self.db.write():
            self.db.remove_image(image_id)
        in_use: set[str] = set()
        for other in self.list():
            in_use.update(other.layers)
        removed = []
        for lid in reversed(img.layers):
            if lid not in in_use:
                self.layers.remove(lid)
                removed.append(lid)
        import shutil

        shutil.rmtree(os.path.join(self.dir, image_id), ignore_errors=True)
        return removed


def _parse_created(value: str | None) -> float | None:
    if not value:
        return None
    from datetime import datetime

    v = value.replace("Z", "+00:00")
    if "." in v:
        head, frac = v.split(".", 1)
        digits = "".join(c for c in frac if c.isdigit())
        rest = frac[len(digits):]
        v = f"{head}.{digits[:6]}{rest}"
    try:
        return datetime.fromisoformat(v).timestamp()
    except ValueError:
        return None


def _sha256(data: bytes):
    import hashlib

    return hashlib.sha256(data)
