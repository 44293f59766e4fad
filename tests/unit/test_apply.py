"""Layer application: normal layers, whiteouts, compression, and the hostile tar corpus."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import random
import re
import shutil
import stat
import sys
import tarfile
import zlib
from pathlib import Path

import pytest
import zstandard  # a dependency of berth's (pyproject): its absence must fail, not skip

from berth.errors import StorageError, UnsafeArchive
from berth.storage import apply as apply_mod
from berth.storage.apply import apply_layer
from tests.unit.hostile_tars import (
    END,
    HOSTILE,
    build,
    dir_,
    link,
    node,
    raw_header,
    raw_member,
    reg,
    sym,
)

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar"),
]

LONG_GNU = "usr/share/" + "g" * 60 + "/" + "n" * 70 + "/file.txt"
LONG_PAX = "usr/share/" + "p" * 60 + "/" + "ü" * 50 + "/file.txt"


def normal_layer(fmt: int = tarfile.GNU_FORMAT) -> bytes:
    caps = {"SCHILY.xattr.user.note": "hello"}
    return build([
        dir_("etc"),
        dir_("tmp", mode=0o1777),
        dir_("usr"),
        dir_("usr/bin"),
        dir_("usr/share"),
        dir_("home/u", uid=1000, gid=1000, mode=0o700),
        reg("etc/hostname", b"box\n"),
        reg("/etc/abs", b"absolute names are made relative\n"),
        reg("etc/x.wh.y", b"not a whiteout\n"),
        reg("usr/bin/su", b"#!su\n", mode=0o4755),
        reg("usr/bin/wall", b"#!wall\n", mode=0o2755, gid=5),
        reg("home/u/f", b"mine\n", uid=1000, gid=1000, mode=0o600),
        reg("var/www/index.html", b"<html>\n", uid=33, gid=33, pax=caps if fmt == tarfile.PAX_FORMAT else None),
        sym("bin", "/usr/bin"),
        sym("etc/localtime", "../usr/share/zoneinfo/UTC"),
        link("usr/bin/su2", "usr/bin/su"),
        reg(LONG_GNU, b"gnu long name\n"),
        reg(LONG_PAX, b"pax long name\n"),
        node("dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666),
        node("run/fifo", tarfile.FIFOTYPE),
        reg("etc/.wh.gone"),
        reg("usr/share/.wh..wh..opq"),
    ], fmt)


def check_normal(dest: Path) -> None:
    def st(rel: str) -> os.stat_result:
        return os.lstat(dest / rel)

    assert (dest / "etc/hostname").read_bytes() == b"box\n"
    assert (dest / "etc/abs").is_file()
    assert (dest / "etc/x.wh.y").read_bytes() == b"not a whiteout\n"
    assert stat.S_IMODE(st("tmp").st_mode) == 0o1777
    su = st("usr/bin/su")
    assert (stat.S_IMODE(su.st_mode), su.st_uid, su.st_gid) == (0o4755, 0, 0)
    wall = st("usr/bin/wall")
    assert (stat.S_IMODE(wall.st_mode), wall.st_gid) == (0o2755, 5)
    assert (st("home/u").st_uid, st("home/u").st_gid, stat.S_IMODE(st("home/u").st_mode)) == (1000, 1000, 0o700)
    assert (st("home/u/f").st_uid, stat.S_IMODE(st("home/u/f").st_mode)) == (1000, 0o600)
    assert (st("var/www/index.html").st_uid, st("var/www/index.html").st_gid) == (33, 33)
    assert st("etc/hostname").st_mtime == 1_600_000_000
    assert os.readlink(dest / "bin") == "/usr/bin"
    assert os.readlink(dest / "etc/localtime") == "../usr/share/zoneinfo/UTC"
    assert su.st_ino == st("usr/bin/su2").st_ino
    assert (dest / LONG_GNU).read_bytes() == b"gnu long name\n"
    assert (dest / LONG_PAX).read_bytes() == b"pax long name\n"
    null = st("dev/null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_ISFIFO(st("run/fifo").st_mode)
    gone = st("etc/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)
    assert not (dest / "etc/.wh.gone").exists() and not (dest / "usr/share/.wh..wh..opq").exists()
    assert os.getxattr(dest / "usr/share", "trusted.overlay.opaque") == b"y"


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("compression", ["plain", "gzip", "gzip-zlib", "zstd"])
def test_normal_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: int, compression: str) -> None:
    raw = normal_layer(fmt)
    data = raw
    if compression.startswith("gzip"):
        data = gzip.compress(raw)
        if compression == "gzip-zlib":
            # the stdlib zlib berth falls back to where isal is missing: a real codec, not a fake
            monkeypatch.setattr(apply_mod, "_ZLIB", zlib)
    elif compression == "zstd":
        data = zstandard.ZstdCompressor().compress(raw)
    dest = tmp_path / "dest"
    res = apply_layer(io.BytesIO(data), dest, expected_diff_id="sha256:" + hashlib.sha256(raw).hexdigest())
    assert res.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert res.size == len(raw)
    assert res.whiteouts == 2
    check_normal(dest)
    if fmt == tarfile.PAX_FORMAT:
        assert os.getxattr(dest / "var/www/index.html", "user.note") == b"hello"


class Trickle(io.RawIOBase):
    """A source that returns short reads of random sizes, like a network stream."""

    def __init__(self, data: bytes, seed: int) -> None:
        self.data, self.pos, self.rng = data, 0, random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self.rng.choice([1, 3, 511, 512, 513, 1000, 4096, 70000])
        out = self.data[self.pos : self.pos + min(n, size if size >= 0 else n)]
        self.pos += len(out)
        return out


@pytest.mark.parametrize("seed", range(4))
def test_short_reads(tmp_path: Path, seed: int) -> None:
    raw = normal_layer(tarfile.PAX_FORMAT if seed % 2 else tarfile.GNU_FORMAT)
    res = apply_layer(Trickle(raw, seed), tmp_path / "d")  # type: ignore[arg-type]
    assert res.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    check_normal(tmp_path / "d")
    end = len(raw)
    while not any(raw[end - 512 : end]):
        end -= 512
    with pytest.raises(UnsafeArchive, match="evil"):
        apply_layer(Trickle(raw[:end] + HOSTILE["pax-path"](""), seed), tmp_path / "e")  # type: ignore[arg-type]
    assert os.listdir(tmp_path / "e") == []


def test_huge_extension_headers_across_chunks(tmp_path: Path) -> None:
    big = "v" * (3 * 1024 * 1024)
    raw = build([reg("a", b"1"), reg("d/" + "x" * 200, b"2", pax={"comment": big}), reg("b", b"3")], tarfile.PAX_FORMAT)
    apply_layer(io.BytesIO(raw), tmp_path / "d")
    assert (tmp_path / "d/d" / ("x" * 200)).read_bytes() == b"2"
    assert (tmp_path / "d/b").read_bytes() == b"3"


def test_capabilities_and_overlay_xattrs(tmp_path: Path) -> None:
    cap = bytes.fromhex("0100000200200000000000000000000000000000")
    pax = {"SCHILY.xattr.security.capability": cap.decode("latin-1"),
           "SCHILY.xattr.trusted.overlay.redirect": "/elsewhere"}
    info, data = reg("ping", b"#!ping\n", mode=0o755, pax=pax)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="latin-1") as tar:
        tar.addfile(info, io.BytesIO(data))
    apply_layer(io.BytesIO(buf.getvalue()), tmp_path / "d")
    assert os.getxattr(tmp_path / "d/ping", "security.capability") == cap
    assert "trusted.overlay.redirect" not in os.listxattr(tmp_path / "d/ping")


def test_multi_member_gzip_and_trailing_zeros(tmp_path: Path) -> None:
    raw = build([reg("a", b"1" * 3000)]) + bytes(8192)
    data = gzip.compress(raw[:1000]) + gzip.compress(raw[1000:])
    res = apply_layer(io.BytesIO(data), tmp_path / "d")
    assert res.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert (tmp_path / "d/a").read_bytes() == b"1" * 3000


def test_large_file_across_chunks(tmp_path: Path) -> None:
    blob = os.urandom(3 * 1024 * 1024 + 17)
    raw = build([reg("small", b"s"), reg("big", blob), reg("after", b"a")])
    apply_layer(io.BytesIO(gzip.compress(raw, 1)), tmp_path / "d")
    assert (tmp_path / "d/big").read_bytes() == blob
    assert (tmp_path / "d/after").read_bytes() == b"a"


def test_empty_layers(tmp_path: Path) -> None:
    assert apply_layer(io.BytesIO(b""), tmp_path / "a").size == 0
    res = apply_layer(io.BytesIO(END), tmp_path / "b")
    assert (res.size, res.whiteouts, os.listdir(tmp_path / "b")) == (1024, 0, [])


def test_whiteout_of_own_directory_makes_it_opaque(tmp_path: Path) -> None:
    raw = build([dir_("d"), dir_("d/x"), reg("d/x/new", b"n"), reg("d/.wh.x"), reg("d/file"), reg("d/.wh.file")])
    apply_layer(io.BytesIO(raw), tmp_path / "d")
    assert os.getxattr(tmp_path / "d/d/x", "trusted.overlay.opaque") == b"y"
    assert (tmp_path / "d/d/x/new").read_bytes() == b"n"
    assert (tmp_path / "d/d/file").is_file()


def test_whiteout_keeps_parent_mtime_and_creates_missing_parent(tmp_path: Path) -> None:
    raw = build([dir_("d"), reg("d/.wh.a"), reg("missing/.wh.b")])
    apply_layer(io.BytesIO(raw), tmp_path / "d")
    assert os.lstat(tmp_path / "d/d").st_mtime == 1_600_000_000
    assert stat.S_ISCHR(os.lstat(tmp_path / "d/missing/b").st_mode)


def test_rootless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a kernel that refuses unprivileged 0:0 device nodes (before Linux 5.8, or a restrictive LSM):
    # not something this 6.18 host can be made to do, so mknod answers as such a kernel would
    def no_mknod(*args: object, **kw: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "mknod", no_mknod)
    raw = build([node("dev/sda", tarfile.BLKTYPE, 8, 0), node("dev/null", tarfile.CHRTYPE, 1, 3),
                 node("fifo", tarfile.FIFOTYPE), dir_("d"), reg("d/.wh.gone"), dir_("o"), reg("o/.wh..wh..opq")])
    res = apply_layer(io.BytesIO(raw), tmp_path / "d", rootless=True)
    dest = tmp_path / "d"
    assert res.whiteouts == 2
    assert not (dest / "dev").exists()
    assert stat.S_ISFIFO(os.lstat(dest / "fifo").st_mode)
    gone = os.lstat(dest / "d/gone")
    assert stat.S_ISREG(gone.st_mode) and gone.st_size == 0
    assert os.getxattr(dest / "d/gone", "user.overlay.whiteout") == b"y"
    assert os.getxattr(dest / "d", "user.overlay.opaque") == b"x"
    assert os.getxattr(dest / "o", "user.overlay.opaque") == b"y"


def test_vfs_whiteouts_delete(tmp_path: Path) -> None:
    dest, outside = tmp_path / "d", tmp_path / "outside"
    outside.mkdir()
    for rel in ("a/keep", "a/gone", "b/old", "b/sub/old2", "c/stuff/deep", "e/x"):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(rel)
    os.symlink(outside, dest / "lnk")
    os.symlink("a", dest / "alias")
    raw = build([
        dir_("b"), reg("b/new", b"new"), reg("b/.wh..wh..opq"),
        reg("a/.wh.gone"), reg(".wh.c"), reg("c/fresh", b"f"),
        dir_("lnk"), reg("lnk/inner", b"i"),
        reg("e", b"file replaces dir"),
        reg("n", b"same layer"), reg(".wh.n"),
        link("hl", "alias"), reg("x.wh.y"),
    ])
    res = apply_layer(io.BytesIO(raw), dest, whiteout_format="vfs")
    assert res.whiteouts == 4
    assert sorted(os.listdir(dest / "b")) == ["new"]
    assert sorted(os.listdir(dest / "a")) == ["keep"]
    assert os.listdir(dest / "c") == ["fresh"]
    assert not os.path.islink(dest / "lnk") and (dest / "lnk/inner").read_bytes() == b"i"
    assert (dest / "e").read_bytes() == b"file replaces dir"
    assert (dest / "n").read_bytes() == b"same layer"  # whiteouts only hide lower layers
    assert os.readlink(dest / "hl") == "a"
    assert os.listdir(outside) == []


def test_vfs_lower_symlink_is_not_followed(tmp_path: Path) -> None:
    dest, outside = tmp_path / "d", tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    os.symlink(outside, dest / "l")
    for raw in (build([reg("l/evil", b"x")]), build([link("evil", "l/passwd")]), build([reg("l/.wh.evil")])):
        with pytest.raises(UnsafeArchive, match="symlink"):
            apply_layer(io.BytesIO(raw), dest, whiteout_format="vfs")
        assert os.listdir(outside) == [] and os.listdir(dest) == []
        os.symlink(outside, dest / "l")


def snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int, float]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            out[os.path.join(dirpath, name)] = (st.st_mode, st.st_size, st.st_mtime)
    return out


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    base = tmp_path / "root" / "layers"
    dest, outside, sentinel = base / "dest", tmp_path / "outside", tmp_path / "sentinel"
    dest.mkdir(parents=True)
    outside.mkdir()
    sentinel.mkdir()
    (sentinel / "file").write_text("keep")
    before = snapshot(tmp_path, dest)
    # a spy, not a fake: every byte still goes to the real GNU tar, and the test sees what did
    forwarded = bytearray()
    real_write = apply_mod._Tar.write

    def spy(self: apply_mod._Tar, data: memoryview) -> None:
        forwarded.extend(data)
        real_write(self, data)

    monkeypatch.setattr(apply_mod._Tar, "write", spy)
    raw = HOSTILE[case](str(outside))
    with pytest.raises(UnsafeArchive) as info:
        apply_layer(io.BytesIO(raw), dest)
    msg = str(info.value)
    assert msg and "\n" not in msg
    assert b"evil" not in forwarded  # the hostile member never reached tar
    assert os.listdir(dest) == []
    assert snapshot(tmp_path, dest) == before
    assert os.listdir(outside) == []
    assert not (tmp_path.parent / "evil").exists()


@pytest.mark.parametrize("case", ["dotdot", "symlink-up-then-file", "hardlink-escape", "pax-path"])
def test_hostile_gzip(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(UnsafeArchive):
        apply_layer(io.BytesIO(gzip.compress(HOSTILE[case](str(outside)))), tmp_path / "d")
    assert os.listdir(tmp_path / "d") == [] and os.listdir(outside) == []


def test_messages(tmp_path: Path) -> None:
    with pytest.raises(UnsafeArchive, match='^layer entry "../../etc/passwd" escapes the layer directory$'):
        apply_layer(io.BytesIO(build([reg("../../etc/passwd")])), tmp_path / "a")
    with pytest.raises(UnsafeArchive, match='layer entry "s/x" goes through symlink "s"'):
        apply_layer(io.BytesIO(build([sym("s", "/etc"), reg("s/x")])), tmp_path / "b")
    with pytest.raises(UnsafeArchive, match="GNU sparse"):
        apply_layer(io.BytesIO(raw_member(b"sparse", b"x", typeflag=b"S") + END), tmp_path / "c")


def test_truncated_streams(tmp_path: Path) -> None:
    raw = build([reg("a", b"x" * 5000), reg("b", b"y" * 5000)])
    for data in (raw[:3000], raw[:512 * 12 + 100], gzip.compress(raw)[:-20]):
        dest = tmp_path / f"d{len(data)}"
        with pytest.raises(StorageError, match="truncated") as info:
            apply_layer(io.BytesIO(data), dest)
        assert not isinstance(info.value, UnsafeArchive)
        assert os.listdir(dest) == []


def test_corrupt_gzip(tmp_path: Path) -> None:
    data = bytearray(gzip.compress(build([reg("a", os.urandom(4000))])))
    data[40] ^= 0xFF
    with pytest.raises(StorageError):
        apply_layer(io.BytesIO(bytes(data)), tmp_path / "d")
    assert os.listdir(tmp_path / "d") == []


def test_diff_id_mismatch(tmp_path: Path) -> None:
    raw = build([reg("a", b"x")])
    with pytest.raises(StorageError, match="^layer diff ID mismatch: expected sha256:0+, got sha256:"):
        apply_layer(io.BytesIO(raw), tmp_path / "d", expected_diff_id="sha256:" + "0" * 64)
    assert os.listdir(tmp_path / "d") == []


def test_tar_failure_reports_stderr(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="^tar failed: .*nothere"):
        apply_layer(io.BytesIO(build([reg("a", b"x"), link("b", "nothere")])), tmp_path / "d")
    assert os.listdir(tmp_path / "d") == []


def _zstd_variants(raw: bytes) -> dict[str, bytes]:
    """The same tar as zstd streams with every frame-header shape the reader must walk over."""
    half = len(raw) // 2
    skippable = b"\x5a\x2a\x4d\x18" + (7).to_bytes(4, "little") + b"ignored"
    return {
        "plain": zstandard.ZstdCompressor().compress(raw),
        "checksum, no size": zstandard.ZstdCompressor(write_checksum=True, write_content_size=False).compress(raw),
        "two frames": zstandard.ZstdCompressor().compress(raw[:half]) + zstandard.ZstdCompressor().compress(raw[half:]),
        # zstd:chunked keeps its table of contents in a skippable frame at the end
        "skippable frames": zstandard.ZstdCompressor(level=19).compress(raw[:half]) + skippable
        + zstandard.ZstdCompressor().compress(raw[half:]) + skippable,
        "streamed by threads": zstandard.ZstdCompressor(threads=2, write_checksum=True).compress(raw),
    }


def test_zstd_frames_of_every_shape(tmp_path: Path) -> None:
    raw = normal_layer(tarfile.PAX_FORMAT)
    want = "sha256:" + hashlib.sha256(raw).hexdigest()
    for i, (what, data) in enumerate(_zstd_variants(raw).items()):
        assert apply_layer(io.BytesIO(data), tmp_path / f"d{i}").diff_id == want, what
        check_normal(tmp_path / f"d{i}")
        assert apply_layer(Trickle(data, i), tmp_path / f"t{i}").diff_id == want, what  # type: ignore[arg-type]


def test_truncated_zstd_is_refused_at_every_length(tmp_path: Path) -> None:
    """A zstd stream cut anywhere (inside a header, a block, the checksum) is refused, never applied
    as if it were whole, even where the cut leaves a valid tar behind."""
    raw = build([reg("a", b"x" * 300_000), reg("b", os.urandom(200_000))])
    for i, (what, data) in enumerate(_zstd_variants(raw).items()):
        cuts = sorted({*range(1, 40), *range(len(data) - 40, len(data)), *range(40, len(data), 997)})
        for cut in cuts:
            dest = tmp_path / f"d{i}-{cut}"
            try:
                res = apply_layer(io.BytesIO(data[:cut]), dest, digest=False)
            except StorageError as e:
                assert not isinstance(e, UnsafeArchive) and re.search("truncated|corrupt zstd", str(e)), (what, cut)
                assert os.listdir(dest) == [], (what, cut)
            else:  # only a cut between frames, before a skippable one, leaves every byte of the tar
                assert res.size == len(raw) and data[cut:].startswith(b"\x5a\x2a\x4d\x18"), (what, cut)


def test_zstd_memory_pages_decompress_in_bounded_chunks(tmp_path: Path) -> None:
    """200 MB of one repeated byte (a process's memory) is a few KB of zstd: it is written out in
    small chunks, not inflated into one huge buffer."""
    raw = build([reg("pages.img", b"x" * (64 << 20))])
    data = zstandard.ZstdCompressor(level=3).compress(raw)
    assert len(data) < 64 << 10
    sizes = [len(c) for c in apply_mod._uncompressed(io.BytesIO(data))]
    assert sum(sizes) == len(raw) and max(sizes) <= 1 << 17
    res = apply_layer(io.BytesIO(data), tmp_path / "d", digest=False)
    assert res.diff_id == "" and res.size == len(raw)
    assert os.path.getsize(tmp_path / "d/pages.img") == 64 << 20


def test_digest_is_needed_for_checks(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        apply_layer(io.BytesIO(build([reg("a", b"x")])), tmp_path / "d", digest=False, expected_diff_id="sha256:0")


def test_zstd_needs_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "zstandard", None)  # `import zstandard` raises ImportError
    with pytest.raises(StorageError, match="^zstd layer needs the zstandard module$"):
        apply_layer(io.BytesIO(b"\x28\xb5\x2f\xfd" + bytes(20)), tmp_path / "d")


def test_overlay_dest_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d/x").write_text("x")
    with pytest.raises(StorageError, match="not empty"):
        apply_layer(io.BytesIO(END), tmp_path / "d")
    assert (tmp_path / "d/x").exists()


def test_ustar_prefix_is_joined(tmp_path: Path) -> None:
    apply_layer(io.BytesIO(raw_member(b"name", b"p", prefix=b"some/prefix") + END), tmp_path / "d")
    assert (tmp_path / "d/some/prefix/name").read_bytes() == b"p"


def test_bad_checksum_header_is_refused_not_resynced(tmp_path: Path) -> None:
    inner = raw_member(b"smuggled", b"x")
    raw = raw_member(b"ok", b"x") + raw_header(b"carrier", b"0", len(inner), bad_checksum=True) + inner + END
    with pytest.raises(UnsafeArchive, match="checksum"):
        apply_layer(io.BytesIO(raw), tmp_path / "d")
