"""In-memory tar builders for the layer-application tests: normal layers and a hostile corpus.

Most archives are written with `tarfile` from raw TarInfo entries (tarfile does not
sanitise names on `addfile`); the few shapes tarfile cannot produce (a GNU long name
of our choosing, a ustar prefix, bad checksums, odd typeflags) are written block by
block with `raw_header`.  Every hostile member's name or target contains "evil" and
no harmless member's does, so a test can check that "evil" never reached tar.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable

Member = tuple[tarfile.TarInfo, bytes | None]


def build(members: list[Member], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _info(name: str, type_: bytes, *, mode: int = 0o644, uid: int = 0, gid: int = 0,
          linkname: str = "", pax: dict[str, str] | None = None) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.uid, info.gid, info.linkname = type_, mode, uid, gid, linkname
    info.mtime = 1_600_000_000
    if pax:
        info.pax_headers = pax
    return info


def reg(name: str, data: bytes = b"", **kw: object) -> Member:
    info = _info(name, tarfile.REGTYPE, **kw)  # type: ignore[arg-type]
    info.size = len(data)
    return info, data


def dir_(name: str, mode: int = 0o755, **kw: object) -> Member:
    return _info(name, tarfile.DIRTYPE, mode=mode, **kw), None  # type: ignore[arg-type]


def sym(name: str, target: str, **kw: object) -> Member:
    return _info(name, tarfile.SYMTYPE, mode=0o777, linkname=target, **kw), None  # type: ignore[arg-type]


def link(name: str, target: str, **kw: object) -> Member:
    return _info(name, tarfile.LNKTYPE, linkname=target, **kw), None  # type: ignore[arg-type]


def node(name: str, type_: bytes, major: int = 0, minor: int = 0, mode: int = 0o644) -> Member:
    info = _info(name, type_, mode=mode)
    info.devmajor, info.devminor = major, minor
    return info, None


def raw_header(name: bytes, typeflag: bytes = b"0", size: int = 0, *, linkname: bytes = b"",
               prefix: bytes = b"", mode: int = 0o644, bad_checksum: bool = False) -> bytes:
    """One ustar header block written by hand."""
    h = bytearray(512)
    h[0:100] = name[:100].ljust(100, b"\0")
    h[100:108] = b"%07o\0" % mode
    h[108:116] = b"0000000\0"
    h[116:124] = b"0000000\0"
    h[124:136] = b"%011o\0" % size
    h[136:148] = b"%011o\0" % 1_600_000_000
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:257] = linkname[:100].ljust(100, b"\0")
    h[257:265] = b"ustar\x0000"
    h[345:500] = prefix[:155].ljust(155, b"\0")
    checksum = sum(h) + (1 if bad_checksum else 0)
    h[148:156] = b"%06o\0 " % checksum
    return bytes(h)


def payload(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


def raw_member(name: bytes, data: bytes = b"", typeflag: bytes = b"0", **kw: object) -> bytes:
    return raw_header(name, typeflag, len(data), **kw) + payload(data)  # type: ignore[arg-type]


END = bytes(1024)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode() + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n)) + len(body) != n:
        n += 1
    return str(n).encode() + body


def raw_pax(records: dict[str, bytes] | list[tuple[str, bytes]], typeflag: bytes = b"x") -> bytes:
    items = records.items() if isinstance(records, dict) else records
    data = b"".join(_pax_record(k, v) for k, v in items)
    return raw_header(b"PaxHeader", typeflag, len(data)) + payload(data)


# --- the hostile corpus: name -> builder(outside directory) -> tar bytes -------------------------


def _longname_evil(outside: str) -> bytes:
    name = b"../../evil\0"
    return raw_header(b"././@LongLink", b"L", len(name)) + payload(name) + raw_member(b"decoy", b"x") + END


def _longname_unterminated(outside: str) -> bytes:
    # GNU tar reads the name as a C string over the padded block: "ok/../../evil"
    data = b"ok"
    block = raw_header(b"././@LongLink", b"L", len(data)) + data + b"/../../evil".ljust(510, b"\0")
    return block + raw_member(b"decoy", b"x") + END


def _prefix_evil(outside: str) -> bytes:
    return raw_member(b"evil", b"x", prefix=b"../..") + END


def _checksum(outside: str) -> bytes:
    return raw_member(b"evil", b"x", bad_checksum=True) + END


def _dir_with_data(outside: str) -> bytes:
    inner = raw_member(b"../../evil", b"pwned")
    return raw_header(b"evil_dir/", b"5", len(inner)) + inner + END


HOSTILE: dict[str, Callable[[str], bytes]] = {
    "dotdot": lambda o: build([reg("../evil", b"x")]),
    "nested-dotdot": lambda o: build([dir_("a"), reg("a/../../evil", b"x")]),
    "absolute-dotdot": lambda o: build([reg("/abs/../../evil", b"x")]),
    "harmless-looking-dotdot": lambda o: build([dir_("a"), reg("a/b/../evil", b"x")]),
    "symlink-absolute-then-file": lambda o: build([sym("s", o), reg("s/evil", b"x")]),
    "symlink-up-then-file": lambda o: build([sym("s", ".."), reg("s/evil", b"x")]),
    "symlink-chain": lambda o: build([sym("a", "b"), sym("b", "../.."), reg("a/evil", b"x")]),
    "symlink-over-dir": lambda o: build([dir_("d"), sym("d", o), reg("d/evil", b"x")]),
    "symlink-then-dir-then-file": lambda o: build([sym("d", o), dir_("d"), reg("d/evil", b"x")]),
    "hardlink-escape": lambda o: build([link("evil_link", "../../etc/passwd")]),
    "hardlink-through-symlink": lambda o: build([sym("s", o), link("evil_link", "s/passwd")]),
    "hardlink-to-symlink-then-file": lambda o: build([sym("s", o), link("h", "s"), reg("h/evil", b"x")]),
    "hardlink-pax-linkpath": lambda o: build([link("evil_link", "x", pax={"linkpath": "../../evil"})],
                                              tarfile.PAX_FORMAT),
    "pax-path": lambda o: build([reg("innocent", b"x", pax={"path": "../evil"})], tarfile.PAX_FORMAT),
    "gnu-longname": _longname_evil,
    "gnu-longname-in-padding": _longname_unterminated,
    "ustar-prefix": _prefix_evil,
    "nul-in-pax-path": lambda o: build([reg("innocent", b"x", pax={"path": "ok\0/../../evil"})],
                                        tarfile.PAX_FORMAT),
    "nul-in-longname": lambda o: (raw_header(b"././@LongLink", b"L", 14) + payload(b"ok\0../../evil")
                                  + raw_member(b"decoy", b"x") + END),
    "whiteout-through-symlink": lambda o: build([sym("s", o), reg("s/.wh.evil")]),
    "opaque-through-symlink": lambda o: build([sym("evil", o), reg("evil/.wh..wh..opq")]),
    "symlink-as-root": lambda o: build([sym("./", o + "/evil")]),
    "bad-checksum": _checksum,
    "dir-with-data": _dir_with_data,
    "gnu-sparse": lambda o: raw_member(b"evil", b"x", typeflag=b"S") + END,
    "unknown-type": lambda o: raw_member(b"evil", b"x", typeflag=b"Z") + END,
    "pax-gnu-sparse": lambda o: raw_pax({"GNU.sparse.major": b"1"}) + raw_member(b"evil", b"x") + END,
    "global-pax-path": lambda o: raw_pax({"path": b"../evil"}, b"g") + raw_member(b"x", b"x") + END,
    "pax-bad-size": lambda o: raw_pax({"size": b"-1"}) + raw_member(b"evil", b"x") + END,
    "pax-repeated-path": lambda o: raw_pax([("path", b"ok"), ("path", b"../evil")]) + raw_member(b"x", b"x") + END,
    "pax-malformed": lambda o: raw_header(b"PaxHeader", b"x", 12) + payload(b"99 path=evil") + raw_member(b"x") + END,
}
