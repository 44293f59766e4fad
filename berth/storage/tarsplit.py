"""Tar-split: rebuild a layer's exact tar stream from its extracted files.

An image's config names each layer by its diff ID, the sha256 of the uncompressed tar.  Push and
save must hand out a tar with that very digest, but a tar written afresh from the files on disk
differs (member order, header fields, padding).  containers/storage solves this with "tar-split"
metadata and so does berth: while a layer is applied, every member's raw header blocks are
recorded (the file data is not: it is on disk), plus the bytes after the end-of-archive block.
`rebuild` replays the headers and reads each file's data back from the layer directory.

The record file is zlib-compressed (level 1), made of records:
    b"H" u32 len  header bytes            (one member's header blocks, extension headers included)
    b"D" u64 size u32 len  name           (file data: `size` bytes from `name`, then zero padding)
    b"T" u32 len  bytes                   (bytes from the end-of-archive block to the stream's end)

A layer whose tar cannot be replayed exactly (a path written twice, non-zero padding) is caught by
the caller, which checks the rebuilt stream against the diff ID.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from types import ModuleType

from berth.errors import StorageError
from berth.storage.tarstream import BLOCK, Member

_ZLIB: ModuleType
try:
    from isal import isal_zlib as _ZLIB
except ImportError:  # pragma: no cover
    _ZLIB = zlib

_FLUSH_AT = 1 << 20
_READ = 1 << 20
_U32 = struct.Struct("<I")
_DATA = struct.Struct("<QI")


class SplitWriter:
    """Collects the records of one layer; `close` writes them to `path`."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._f = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._z = _ZLIB.compressobj(1)
        self._buf = bytearray()

    def member(self, headers: memoryview, m: Member) -> None:
        buf = self._buf
        buf += b"H"
        buf += _U32.pack(len(headers))
        buf += headers
        if m.size:
            buf += b"D"
            buf += _DATA.pack(m.size, len(m.name))
            buf += m.name
        if len(buf) >= _FLUSH_AT:
            self._f.write(self._z.compress(bytes(buf)))
            buf.clear()

    def trailer(self, data: bytes | memoryview) -> None:
        if data:
            self._buf += b"T" + _U32.pack(len(data))
            self._buf += data

    def close(self) -> None:
        self._f.write(self._z.compress(bytes(self._buf)) + self._z.flush())
        self._buf.clear()
        self._f.close()

    def abort(self) -> None:
        self._f.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def _records(path: str) -> Iterator[tuple[int, bytes, int]]:
    """(kind, payload, size) for each record; payload is the header bytes or the data's name."""
    d = _ZLIB.decompressobj()
    buf = bytearray()
    pos = 0
    with open(path, "rb") as f:
        eof = False
        while True:
            while not eof and len(buf) - pos < 1 << 16:
                chunk = f.read(_READ)
                if not chunk:
                    buf += d.flush()
                    eof = True
                    break
                buf += d.decompress(chunk)
            if pos >= len(buf):
                return
            kind = buf[pos]
            if kind == 0x44:  # "D"
                size, n = _DATA.unpack_from(buf, pos + 1)
                start = pos + 1 + _DATA.size
                need = start + n
            else:
                (n,) = _U32.unpack_from(buf, pos + 1)
                start = pos + 5
                need = start + n
                size = 0
            while need > len(buf) and not eof:
                chunk = f.read(_READ)
                if not chunk:
                    buf += d.flush()
                    eof = True
                else:
                    buf += d.decompress(chunk)
            if need > len(buf):
                raise StorageError(f"tar-split data {path} is truncated")
            yield kind, bytes(buf[start:need]), size
            pos = need
            if pos > _FLUSH_AT:
                del buf[:pos]
                pos = 0


def rebuild(split_path: str, layer_dir: str) -> Iterator[bytes]:
    """The layer's original tar stream, in chunks.  Raises StorageError when a file's size differs."""
    base = os.fsencode(layer_dir)
    for kind, payload, size in _records(split_path):
        if kind == 0x44:
            yield from _file_data(base, payload, size)
        else:
            yield payload


def _file_data(base: bytes, name: bytes, size: int) -> Iterator[bytes]:
    rel = name.lstrip(b"/")
    path = os.path.join(base, rel)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise StorageError(f"rebuilding layer: {os.fsdecode(rel)}: {e.strerror}") from None
    try:
        left = size
        while left:
            chunk = os.read(fd, min(left, _READ))
            if not chunk:
                raise StorageError(f"rebuilding layer: {os.fsdecode(rel)} is shorter than recorded")
            left -= len(chunk)
            yield chunk
    finally:
        os.close(fd)
    pad = -size % BLOCK
    if pad:
        yield bytes(pad)
