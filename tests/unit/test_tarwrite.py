"""The checkpoint archive's tar writer: what it writes, GNU tar, Python's tarfile and berth's own
hardened extractor all read the same way."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from berth.storage import tarwrite
from berth.storage.apply import apply_layer
from berth.storage.tarstream import gnu_number

LONG = "d" * 60 + "/" + "e" * 70  # 131 characters: needs the ustar prefix field


def _tree(root: Path) -> dict[str, bytes]:
    images = root / "images"
    (images / LONG).parent.mkdir(parents=True)
    files = {
        "config.dump": b'{"id": "x"}',
        "empty": b"",
        "images/block": b"b" * 512,
        "images/pages-1.img": os.urandom(3 * tarwrite.CHUNK + 123),  # several buffer fills
        f"images/{LONG}": b"long name",
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    os.chmod(root / "config.dump", 0o600)
    (root / "checkpoint").symlink_to(images)  # followed, as tar -h does
    return {n.replace("images/", "checkpoint/", 1): d for n, d in files.items()}


def _archive(root: Path) -> bytes:
    out = io.BytesIO()
    tarwrite.write(tarwrite.plan(str(root), ["config.dump", "empty", "checkpoint"]), out)
    return out.getvalue()


def test_python_and_gnu_tar_read_what_it_writes(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    want = _tree(root)
    data = _archive(root)
    assert len(data) % 512 == 0 and data.endswith(bytes(1024))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        got = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}
        assert tf.getmember("checkpoint").isdir()
        assert tf.getmember("config.dump").mode == 0o600
        assert {m.uname for m in tf.getmembers()} == {""}  # numeric owners only
    assert got == want
    listing = subprocess.run(["tar", "-tf", "-"], input=data, capture_output=True, check=True).stdout.decode()
    assert f"checkpoint/{LONG}" in listing.splitlines()


def test_berths_extractor_takes_it(tmp_path: Path) -> None:
    root = tmp_path / "src"
    root.mkdir()
    want = _tree(root)
    dest = tmp_path / "dest"
    apply_layer(io.BytesIO(_archive(root)), dest, digest=False)
    for name, content in want.items():
        assert (dest / name).read_bytes() == content
    assert not (dest / "checkpoint").is_symlink()


def test_sizes_beyond_octal_use_base_256() -> None:
    st = os.stat("/")
    big = 9 << 30  # more than 11 octal digits hold (8 GiB)
    block = tarwrite.header("pages-1.img", st, b"0", big)
    assert gnu_number(block[124:136], False) == big
    assert tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape").size == big


def test_anything_but_files_and_directories_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(tarwrite.TarUnsupported):
        tarwrite.plan(str(tmp_path), ["fifo"])
    with pytest.raises(tarwrite.TarUnsupported):
        tarwrite.header("x" * 101 + "y" * 100, os.stat("/"), b"0")  # no slash to split at
