"""A minimal, incremental tar header scanner that reads members the way GNU tar does.

`TarScanner` is fed the uncompressed layer stream chunk by chunk.  For every member
it calls ``on_member(member) -> keep`` and passes the bytes it has validated to
``sink``: the header blocks of a member (including its ``L``/``K``/``x`` extension
headers) reach the sink only after ``on_member`` accepted the member, so a hostile
member never reaches the extractor.  File data is passed through as memoryview
slices of the input chunks, never copied.

The scanner's job is to agree with GNU tar (which does the extraction) about where
every member starts and what it is called.  Anything on which two readers could
disagree is refused instead of guessed: bad checksums (GNU tar would resynchronise
on the next block that looks like a header), sizes other than plain octal or
positive base-256, malformed or duplicated pax records, pax ``size`` or ``path``
in a global header, ``GNU.*`` pax keywords (sparse files), data on members that
carry none, long names whose terminator lies in the padding, and every typeflag
other than regular/contiguous file, hard link, symlink, char/block device,
directory and fifo.
"""

from __future__ import annotations

import re
import zlib
from collections import namedtuple
from collections.abc import Callable

from berth.errors import StorageError, UnsafeArchive

BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
MAX_META = 64 << 20  # largest L/K/x/g payload we buffer

LNKTYPE, SYMTYPE, CHRTYPE, BLKTYPE, DIRTYPE, FIFOTYPE = b"123456"
REGULAR = frozenset(b"0\x007")
SUPPORTED = REGULAR | frozenset(b"123456")
LONGNAME, LONGLINK, PAX, PAX_GLOBAL = b"LKxg"
_META = frozenset((LONGNAME, LONGLINK, PAX, PAX_GLOBAL))
_SPACES = frozenset(b" \t\n\v\f\r")
_HIGH = bytes(range(0x80, 0x100))
_PLAIN_OCTAL = re.compile(rb"[0-7]+(?=[ \0]|\Z)")  # what nearly every tar writer emits
_NAMED_TYPES = {ord("S"): "GNU sparse file", ord("D"): "GNU dump directory", ord("M"): "multi-volume continuation",
                ord("V"): "volume label", ord("N"): "old GNU long name", ord("X"): "Solaris extended header"}


def show(name: bytes) -> str:
    """Quote an entry name for a one-line error message."""
    text = name.decode("utf-8", "backslashreplace")
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return f'"{text}"'


def _cstr(field: bytes) -> bytes:
    end = field.find(0)
    return field if end < 0 else field[:end]


def _round(size: int) -> int:
    return (size + BLOCK - 1) & ~(BLOCK - 1)


def gnu_number(field: bytes, octal_only: bool) -> int | None:
    """GNU tar's ``from_header`` for non-negative values; None where GNU would fail or we refuse."""
    if plain := _PLAIN_OCTAL.match(field):
        return int(plain[0], 8)
    i, n = (1 if field[:1] == b"\0" else 0), len(field)
    while i < n and field[i] in _SPACES:
        i += 1
    if i == n:
        return None
    value, c = 0, field[i]
    if 0x30 <= c <= 0x37:
        j = i
        while j < n and 0x30 <= field[j] <= 0x37:
            j += 1
        value, i = int(field[i:j], 8), j
    elif octal_only:
        pass
    elif c == 0x80 and i <= n - 2:
        value, i = int.from_bytes(field[i + 1 :], "big"), n
    elif c in b"+-\xff":
        return None  # base-64 and negative numbers: refuse
    if i != n and field[i] != 0 and field[i] not in _SPACES:
        return None
    return value


def checksum_ok(block: bytes) -> bool:
    recorded = gnu_number(block[148:156], True)
    if recorded is None:
        return False
    # adler32's low half is 1 + the byte sum mod 65521: exact for 256 bytes (sum <= 65280)
    unsigned = (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2
    unsigned += 8 * 32 - sum(block[148:156])
    if unsigned == recorded:
        return True
    high = (BLOCK - len(block.translate(None, _HIGH))) - (8 - len(block[148:156].translate(None, _HIGH)))
    return unsigned - 256 * high == recorded


def parse_pax(data: bytes, where: str) -> dict[bytes, bytes]:
    """Strictly parse pax records ("%d %s=%s\\n"); any malformation is refused."""
    records: dict[bytes, bytes] = {}
    pos, n = 0, len(data)
    while pos < n:
        if data[pos] == 0 and not data[pos:].strip(b"\0"):
            break
        space = data.find(b" ", pos, pos + 20)
        length = int(data[pos:space]) if space > pos and data[pos:space].isdigit() else 0
        end = pos + length
        record = data[space + 1 : end]
        eq = record.find(b"=")
        if length <= space - pos or end > n or not record.endswith(b"\n") or eq <= 0 or 0 in record[:eq]:
            raise UnsafeArchive(f"malformed pax header {where}")
        key = record[:eq]
        if key in records and key in (b"path", b"linkpath", b"size"):
            raise UnsafeArchive(f"pax header {where} repeats {key.decode()!r}")
        if key.startswith(b"GNU."):
            raise UnsafeArchive(f"pax header {where} uses unsupported keyword {show(key)} (GNU sparse file?)")
        records[key] = record[eq + 1 : -1]
        pos = end
    return records


def _longname(data: bytes, size: int, where: str) -> bytes:
    """GNU tar reads an L/K payload as a C string over the padded blocks: mirror that."""
    end = data.find(0)
    if end > size or (end < 0 and len(data) != size):
        raise UnsafeArchive(f"GNU long name {where} is not terminated inside its payload")
    if end < 0:
        return data
    if data[end:size].strip(b"\0"):
        raise UnsafeArchive(f"layer entry {show(data[:size])} contains a NUL byte")
    return data[:end]


# not a dataclass (importing dataclasses costs ~8 ms per command), nor typing.NamedTuple (~3.5 ms)
class Member(namedtuple("Member", "name linkname type size")):
    """name: as GNU tar reads it, before stripping "/" and trailing slashes; linkname; type: the
    typeflag byte; size: data bytes following the header (0 unless regular)."""

    __slots__ = ()
    name: bytes
    linkname: bytes
    type: int
    size: int

    @property
    def is_dir(self) -> bool:
        return self.type == DIRTYPE or (self.type in REGULAR and self.name.endswith(b"/"))


class TarScanner:
    def __init__(self, on_member: Callable[[Member], bool], sink: Callable[[memoryview], None],
                 record: Callable[[memoryview, Member], None] | None = None) -> None:
        self._on_member = on_member
        self._sink = sink
        # `record` sees each member's raw header blocks (extension headers included) before
        # on_member: the tar-split recorder keeps them so the exact stream can be rebuilt.
        self._record = record
        self.end_offset = -1  # stream offset of the end-of-archive block, once seen
        self._tail = b""  # unprocessed bytes (partial header or incomplete extension headers)
        self._abs = 0  # stream offset of _tail[0]
        self._skip = 0  # data bytes of the current member still to come
        self._keep = True
        self._meta: dict[int, bytes | dict[bytes, bytes]] = {}
        self._mv = memoryview(b"")
        self._fwd = self._mstart = 0
        self._current = b""
        self.done = False  # end-of-archive block seen; later bytes are ignored

    def feed(self, chunk: bytes) -> None:
        if self.done:
            return
        mv = memoryview(chunk)
        if self._skip:
            take = min(self._skip, len(mv))
            if self._keep:
                self._sink(mv[:take])
            self._skip -= take
            self._abs += take
            if take == len(mv):
                return
            mv = mv[take:]
        if self._tail:
            mv = memoryview(self._tail + mv)
        self._scan(mv)

    def flush(self) -> None:
        """From inside on_member: hand every byte before the current member to the sink now."""
        if self._mstart > self._fwd:
            self._sink(self._mv[self._fwd : self._mstart])
            self._fwd = self._mstart

    def finish(self) -> None:
        if not self.done and (self._tail or self._skip or self._meta):
            what = f" in entry {show(self._current)}" if self._skip else ""
            raise StorageError(f"layer stream is truncated{what}")

    def _scan(self, mv: memoryview) -> None:
        n, pos, fwd, group = len(mv), 0, 0, -1
        while n - pos >= BLOCK:
            block = mv[pos : pos + BLOCK].tobytes()
            if block == ZERO_BLOCK:
                if group >= 0:
                    raise UnsafeArchive(f"extension header without a member at offset {self._abs + pos}")
                self.done = True
                self.end_offset = self._abs + pos
                break
            if not checksum_ok(block):
                raise UnsafeArchive(f"corrupt tar header (bad checksum) at offset {self._abs + pos}")
            typ = block[156]
            size = gnu_number(block[124:136], False)
            if size is None:
                raise UnsafeArchive(f"tar header at offset {self._abs + pos} has an invalid size field")
            if typ in _META:
                where = f"at offset {self._abs + pos}"
                if size > MAX_META:
                    raise UnsafeArchive(f"extension header {where} is too large")
                need = BLOCK + _round(size)
                if n - pos < need:
                    break
                data = mv[pos + BLOCK : pos + need].tobytes()
                if typ == PAX_GLOBAL:
                    if group >= 0 or {b"path", b"linkpath", b"size"} & parse_pax(data[:size], where).keys():
                        raise UnsafeArchive(f"global pax header {where} is not allowed to set path or size")
                elif typ in self._meta:
                    raise UnsafeArchive(f"repeated extension header {where}")
                else:
                    self._meta[typ] = parse_pax(data[:size], where) if typ == PAX else _longname(data, size, where)
                    group = pos if group < 0 else group
                pos += need
                continue
            mstart = pos if group < 0 else group
            member = self._member(block, typ, size)
            group = -1
            pos += BLOCK
            if self._record is not None:
                self._record(mv[mstart:pos], member)
            self._mv, self._fwd, self._mstart = mv, fwd, mstart
            keep = self._on_member(member)
            fwd = self._fwd
            if not keep:
                if mstart > fwd:
                    self._sink(mv[fwd:mstart])
                fwd = pos
            data_len = _round(member.size)
            take = min(data_len, n - pos)
            pos += take
            if not keep:
                fwd = pos
            if take < data_len:
                self._skip, self._keep, self._current = data_len - take, keep, member.name
                break
        end = pos if group < 0 else group
        if group >= 0:
            self._meta.clear()  # re-parsed from the tail once the rest has arrived
        if end > fwd:
            self._sink(mv[fwd:end])
        self._tail = b"" if self.done else mv[end:].tobytes()
        self._abs += end
        self._mv = memoryview(b"")

    def _member(self, block: bytes, typ: int, size: int) -> Member:
        name = block[:100].partition(b"\0")[0]
        if block[345] and block[257:263] == b"ustar\0":
            name = block[345:500].partition(b"\0")[0] + b"/" + name
        link = block[157:257].partition(b"\0")[0]
        if self._meta:
            name, link, size = self._extended(name, link, size)
        if typ not in SUPPORTED:
            kind = _NAMED_TYPES.get(typ, "tar member")
            raise UnsafeArchive(f"layer entry {show(name)} has unsupported type {chr(typ)!r} ({kind})")
        member = Member(name, link, typ, size)
        if size and (typ not in REGULAR or member.is_dir):
            raise UnsafeArchive(f"layer entry {show(name)} carries data but is not a regular file")
        return member

    def _extended(self, name: bytes, link: bytes, size: int) -> tuple[bytes, bytes, int]:
        """Apply the pending L/K/x headers: pax wins, as in GNU tar (both at once is refused)."""
        meta, self._meta = self._meta, {}
        pax: dict[bytes, bytes] = meta.get(PAX, {})  # type: ignore[assignment]
        longname, longlink = meta.get(LONGNAME), meta.get(LONGLINK)
        if (longname is not None and b"path" in pax) or (longlink is not None and b"linkpath" in pax):
            raise UnsafeArchive("tar member has both a GNU long name and a pax path")
        name = pax.get(b"path", longname if isinstance(longname, bytes) else name)
        link = pax.get(b"linkpath", longlink if isinstance(longlink, bytes) else link)
        for value in (name, link):
            if 0 in value:
                raise UnsafeArchive(f"layer entry {show(value)} contains a NUL byte")
        if b"size" in pax:
            raw = pax[b"size"]
            if not raw.isdigit() or int(raw) >= 1 << 63:
                raise UnsafeArchive(f"layer entry {show(name)} has an invalid pax size")
            size = int(raw)
        return name, link, size
