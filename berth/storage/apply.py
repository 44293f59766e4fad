"""Apply an image layer (tar, tar+gzip or tar+zstd) to a directory, safely and fast.

Python reads the layer in 1 MiB chunks, decompresses and hashes it (the diff ID) and
runs `TarScanner` over it; GNU tar, on a pipe, gets only bytes of members that
`_Applier._on_member` accepted, so a hostile member kills tar before tar sees it
(tarfile is ~5x slower than GNU tar on many small files).  Refused: any ".."
component (GNU tar strips up to the last ".." rather than resolving it, so even
"a/../b" would land elsewhere than a lexical check thinks; a leading "/" is merely
dropped, as Docker does), parents or hard-link targets that go through a symlink
made by this layer (vfs: or a lower-layer symlink on disk), a hard link to a
symlink counts as a symlink.  Symlink targets are free.  Rootless skips devices.

tar flags: --numeric-owner --same-owner --same-permissions (ids, setuid bits);
--xattrs --xattrs-include=* (the default restores only user.*, losing file caps)
minus trusted.overlay.*/user.overlay.* (only we set those); --delay-directory-restore
(modes/mtimes of directories after all members).  Not used: --no-overwrite-dir
(a layer's directory must override the lower one's metadata in vfs mode),
--keep-directory-symlink, --absolute-names, --unlink-first (the default O_EXCL +
unlink never follows a final symlink), --exclude=.wh.* (whiteout members are not
forwarded at all; GNU's exclude is unanchored and would also drop "a/.wh.b/c",
while keeping "x.wh.y").  tar runs with LC_ALL=C and no TAR_OPTIONS.

On failure tar is killed, DEST is emptied (but kept) and `UnsafeArchive` (refused
member) or `StorageError` (truncated/corrupt stream, diff ID mismatch, tar error)
is raised.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import functools
import itertools
import os
import shutil
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType

from berth.errors import StorageError, UnsafeArchive
from berth.storage.tarstream import BLKTYPE, CHRTYPE, LNKTYPE, SYMTYPE, Member, TarScanner, show

_ZLIB: ModuleType
try:
    from isal import isal_zlib as _ZLIB
except ImportError:  # pragma: no cover - depends on the environment
    _ZLIB = zlib
TYPE_CHECKING = False  # typing costs ~3.5 ms to import: annotations only
if TYPE_CHECKING:
    from typing import BinaryIO, Literal


def _zstandard() -> ModuleType | None:
    """zstandard, imported when a zstd stream shows up (~7 ms: it imports platform and typing)."""
    try:
        import zstandard
    except ImportError:  # pragma: no cover
        return None
    return zstandard

_CHUNK = 1 << 20
_ZSTD_READ = 1 << 17  # compressed bytes per read of the source
_ZSTD_OUT = 1 << 17  # uncompressed bytes per chunk: fits the L2 cache (1 MiB is 1.5x slower)
_BLOCKING = 256  # tar reads its pipe in 128 KiB records: 40% less CPU than its default 10 KiB ones
_RECORD = _BLOCKING * 512
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_WH, _OPAQUE, _AUFS = b".wh.", b".wh..wh..opq", b".wh..wh."


# not a dataclass (importing dataclasses costs ~8 ms) nor typing.NamedTuple (typing, ~3.5 ms):
# diff_id: "sha256:<hex>" of the uncompressed tar stream ("" when not asked for); size: bytes of the
# uncompressed stream; whiteouts: whiteout and opaque markers converted
ApplyResult = collections.namedtuple("ApplyResult", ["diff_id", "size", "whiteouts"])


def apply_layer(src: BinaryIO, dest: str | os.PathLike[str], *, rootless: bool = False,
                expected_diff_id: str | None = None,
                whiteout_format: Literal["overlay", "vfs"] = "overlay",
                tar_split: str | None = None, digest: bool = True) -> ApplyResult:
    """Extract the layer read from `src` into `dest`.

    digest=False skips the diff ID (sha256 of the whole stream, ~0.7 ms per MB): for archives
    that carry no digest to check, such as checkpoint archives.

    overlay: `dest` must be empty (created if missing).  ``dir/.wh.NAME`` becomes a
    0:0 char device, ``dir/.wh..wh..opq`` sets ``trusted.overlay.opaque=y`` (rootless:
    ``user.overlay.*``, overlay's userxattr mode).  Rootless whiteouts are 0:0 devices
    too (unprivileged mknod of those works since Linux 5.8); if refused, an empty file
    with ``user.overlay.whiteout`` in a dir marked ``user.overlay.opaque=x`` (Linux
    6.7+ "xwhiteout").  A whiteout of a name the layer itself creates is dropped (a
    new directory is made opaque instead).

    vfs: `dest` holds a copy of the lower layers; whiteouts delete, in stream order
    (tar is finished first so all earlier members are on disk, then restarted),
    sparing what this layer created; a whiteout cannot see later members.  A lower
    object whose type conflicts with a directory entry is removed first, as Docker does.
    """
    if whiteout_format not in ("overlay", "vfs"):
        raise ValueError(f"unknown whiteout format {whiteout_format!r}")
    path = os.fsencode(dest)
    os.makedirs(path, exist_ok=True)
    if whiteout_format == "overlay" and os.listdir(path):
        raise StorageError(f"layer destination {os.fsdecode(path)} is not empty")
    if not digest and (expected_diff_id is not None or tar_split is not None):
        raise ValueError("a diff ID check or a tar-split needs the digest")
    split = None
    if tar_split is not None:
        from berth.storage.tarsplit import SplitWriter

        split = SplitWriter(tar_split)
    applier = _Applier(path, rootless, whiteout_format == "vfs", split)
    try:
        result = applier.run(src, digest)
        if expected_diff_id is not None and result.diff_id != expected_diff_id:
            raise StorageError(f"layer diff ID mismatch: expected {expected_diff_id}, got {result.diff_id}")
        applier.make_whiteouts()
        if split is not None:
            split.close()
        return result
    except BaseException:
        applier.tar.kill()
        _empty(path)
        if split is not None:
            split.abort()
        raise


# --- decompression ----------------------------------------------------------------------


def _raw(src: BinaryIO) -> Iterator[bytes]:
    while chunk := src.read(_CHUNK):
        yield chunk


def _uncompressed(src: BinaryIO) -> Iterator[bytes | memoryview]:
    """The uncompressed stream in chunks; a zstd chunk is only valid until the next one is asked for."""
    raw = _raw(src)
    head = b""
    for chunk in raw:
        head += chunk
        if len(head) >= 4:
            break
    if not head:
        return
    if head[:4] == b"\x28\xb5\x2f\xfd":
        yield from _unzstd(_ZstdSource(head, src))
        return
    stream = itertools.chain([head], raw)
    if head[:2] == b"\x1f\x8b":
        yield from _gunzip(stream)
    else:
        yield from stream


def _gunzip(stream: Iterable[bytes]) -> Iterator[bytes]:
    """Multi-member gzip with bounded output per call; isal when available (much faster)."""
    d = _ZLIB.decompressobj(31)
    try:
        for buf in stream:
            while True:
                if d.eof:
                    if not buf:
                        break
                    d = _ZLIB.decompressobj(31)
                out = d.decompress(buf, _CHUNK)
                if out:
                    yield out
                if d.eof:
                    buf = d.unused_data
                elif d.unconsumed_tail or len(out) == _CHUNK:
                    buf = d.unconsumed_tail
                else:
                    break
    except (zlib.error, _ZLIB.error, ValueError) as exc:
        raise StorageError(f"corrupt gzip layer: {exc}") from None
    if not d.eof:
        raise StorageError("layer stream is truncated (incomplete gzip data)")


def _unzstd(source: _ZstdSource) -> Iterator[memoryview]:
    """zstd frames, one after the other, decompressed into one reused buffer: the output per call is
    bounded by the buffer (a decompression bomb costs time, not memory), and nothing is allocated per
    chunk (decompressobj returns a new, possibly huge, bytes object per call: 5x slower on memory
    pages, which compress to almost nothing)."""
    zstandard = _zstandard()
    if zstandard is None:
        raise StorageError("zstd layer needs the zstandard module")
    reader = zstandard.ZstdDecompressor().stream_reader(source, read_size=_ZSTD_READ, read_across_frames=True,
                                                        closefd=False)
    buf = bytearray(_ZSTD_OUT)
    view = memoryview(buf)
    try:
        while n := reader.readinto(buf):
            yield view[:n]
        if source.read(_ZSTD_READ):  # the reader stopped before the end of its input
            raise StorageError("corrupt zstd layer: data after the last frame")
    except zstandard.ZstdError as exc:
        raise StorageError(f"corrupt zstd layer: {exc}") from None
    if not source.complete():
        raise StorageError("layer stream is truncated (incomplete zstd frame)")


class _ZstdSource:
    """The compressed bytes as zstandard's stream_reader pulls them, walking the frame and block
    headers on the way (RFC 8878): stream_reader ends quietly where its input ends, even inside a
    frame, so this walk is what tells a truncated stream from a complete one."""

    _MAGIC, _FRAME_HEADER, _BLOCK, _SKIPPABLE = range(4)
    _DICT_ID_LEN = (0, 1, 2, 4)
    _CONTENT_SIZE_LEN = (0, 2, 4, 8)

    def __init__(self, head: bytes, src: BinaryIO) -> None:
        self._head: bytes | None = head
        self._src = src
        self._state, self._want, self._skip = self._MAGIC, 4, 0
        self._header = b""
        self._checksum = False
        self._frames = 0

    def read(self, size: int = -1) -> bytes:
        if self._head is not None:
            data, self._head = self._head, None
        else:
            data = self._src.read(size)
        if data:
            self._walk(data)
        return data

    def complete(self) -> bool:
        return self._frames > 0 and self._state == self._MAGIC and not self._header and not self._skip

    def _walk(self, data: bytes) -> None:
        pos, n = 0, len(data)
        while pos < n:
            if self._skip:
                take = min(self._skip, n - pos)
                self._skip -= take
                pos += take
                continue
            take = min(self._want - len(self._header), n - pos)
            self._header += data[pos : pos + take]
            pos += take
            if len(self._header) == self._want:
                header, self._header = self._header, b""
                self._next(header)

    def _next(self, h: bytes) -> None:
        if self._state == self._MAGIC:
            if h == b"\x28\xb5\x2f\xfd":
                self._state, self._want = self._FRAME_HEADER, 1
            elif h[0] & 0xF0 == 0x50 and h[1:] == b"\x2a\x4d\x18":
                self._state, self._want = self._SKIPPABLE, 4
            # anything else: the decompressor refuses it
        elif self._state == self._SKIPPABLE:
            self._state, self._want, self._skip = self._MAGIC, 4, int.from_bytes(h, "little")
        elif self._state == self._FRAME_HEADER:
            fhd = h[0]
            single = bool(fhd & 0x20)
            content_size = self._CONTENT_SIZE_LEN[fhd >> 6] or (1 if single else 0)
            self._checksum = bool(fhd & 0x04)
            self._state, self._want = self._BLOCK, 3
            self._skip = (0 if single else 1) + self._DICT_ID_LEN[fhd & 3] + content_size
        else:  # block header: last flag, type (raw, RLE, compressed), size
            v = int.from_bytes(h, "little")
            self._skip = 1 if (v >> 1) & 3 == 1 else v >> 3
            if v & 1:
                self._frames += 1
                self._state, self._want = self._MAGIC, 4
                self._skip += 4 if self._checksum else 0


# --- GNU tar ----------------------------------------------------------------------------


def scratch_file() -> BinaryIO:
    """An unnamed file in $TMPDIR for a child's stderr: tempfile.TemporaryFile without importing
    tempfile (~3 ms per command)."""
    try:
        fd = os.open(os.environ.get("TMPDIR") or "/tmp", os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError:
        import tempfile

        return tempfile.TemporaryFile()
    return os.fdopen(fd, "w+b")


@functools.lru_cache(maxsize=1)
def gnu_tar() -> str:
    tar = "/usr/bin/tar" if os.access("/usr/bin/tar", os.X_OK) else shutil.which("tar")
    if tar and _is_gnu_tar(tar):
        return tar
    raise StorageError("applying layers needs GNU tar")


def _is_gnu_tar(tar: str) -> bool:
    """`tar --version` is a process (~4 ms) on every import, load and restore: its answer is kept
    per binary (path, mtime, size) in $TMPDIR, as criu's version is."""
    st = os.stat(tar)
    mark = os.path.join(os.environ.get("TMPDIR") or "/tmp",
                        f"berth-gnutar-{os.getuid()}-{st.st_ino}-{st.st_mtime_ns}-{st.st_size}")
    if os.path.exists(mark):
        return True
    import subprocess

    out = subprocess.run([tar, "--version"], capture_output=True, text=True, check=False).stdout
    if "GNU tar" not in out:
        return False
    try:
        with open(mark, "w"):
            pass
    except OSError:
        pass
    return True


def tar_directory(path: str, out: BinaryIO) -> None:
    """Write `path`'s tree to `out` as a tar (export): numeric owners, xattrs, no "./" prefix."""
    import subprocess

    tar = gnu_tar()
    names = sorted(os.listdir(path))
    with scratch_file() as errors:
        argv = [tar, "--create", "--file=-", f"--directory={path}", "--numeric-owner", "--xattrs",
                "--xattrs-include=*", "--xattrs-exclude=trusted.overlay.*", "--sparse", "--", *names]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors,
                                env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(_CHUNK):
                out.write(chunk)
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
        if proc.wait() not in (0, 1):  # 1: a file changed while being read; tar still wrote it
            errors.seek(0)
            text = errors.read().decode(errors="replace").strip().splitlines()
            raise StorageError(f"tar failed: {text[-1] if text else f'exit status {proc.returncode}'}")


class _Tar:
    """One `tar --extract` process on a pipe, started on the first write (by berth/util/spawn.py:
    importing subprocess would cost every restore and load ~4 ms)."""

    def __init__(self, dest: bytes, rootless: bool) -> None:
        self.argv: list[str | bytes] = [
            gnu_tar(), "--extract", "--file=-", f"--blocking-factor={_BLOCKING}", b"--directory=" + dest,
            "--numeric-owner", "--same-owner",
            "--same-permissions", "--delay-directory-restore", "--xattrs", "--xattrs-include=*",
            "--xattrs-exclude=trusted.overlay.*", "--xattrs-exclude=user.overlay.*", "--warning=no-unknown-keyword",
        ]
        if rootless:
            self.argv.append("--xattrs-exclude=trusted.*")
        self.pid = 0
        self.stdin = -1
        self.returncode: int | None = None
        self.written = 0

    def write(self, data: memoryview) -> None:
        if not self.pid:
            from berth.util.spawn import spawn

            self.errors = scratch_file()
            r, w = os.pipe()
            try:
                fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, _CHUNK)
            except OSError:
                pass
            try:
                self.pid = spawn([os.fsdecode(a) for a in self.argv], {"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
                                 (r, -1, self.errors.fileno()))
            except BaseException:
                os.close(w)
                raise
            finally:
                os.close(r)
            self.stdin, self.returncode = w, None
        try:
            self._send(data)
        except BrokenPipeError:
            self._wait()
            raise self._failure() from None

    def _send(self, data: memoryview) -> None:
        self.written += len(data)
        while data:
            data = data[os.write(self.stdin, data) :]

    def _wait(self) -> int:
        if self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(os.waitpid(self.pid, 0)[1])
        return self.returncode

    def _close_stdin(self) -> None:
        if self.stdin >= 0:
            os.close(self.stdin)
            self.stdin = -1

    def finish(self) -> None:
        """Send the end-of-archive blocks (padded to a whole record), wait, check the exit status."""
        if not self.pid:
            return
        try:
            self._send(memoryview(bytes(1024 + (-(self.written + 1024)) % _RECORD)))
        except BrokenPipeError:
            pass  # tar stops reading after the end-of-archive blocks; its exit status decides
        self._close_stdin()
        if self._wait() != 0:
            raise self._failure()
        self.pid, self.written = 0, 0
        self.errors.close()

    def kill(self) -> None:
        if self.pid:
            import signal

            if self.returncode is None:
                os.kill(self.pid, signal.SIGKILL)
            self._wait()
            self._close_stdin()
            self.pid = 0
            self.errors.close()

    def _failure(self) -> StorageError:
        self.errors.seek(0)
        tar = os.fsdecode(self.argv[0])
        lines = [line.removeprefix(f"{tar}: ")
                 for line in self.errors.read().decode(errors="replace").splitlines()
                 if line.strip() and "Exiting with failure status" not in line]
        return StorageError(f"tar failed: {lines[-1] if lines else f'exit status {self.returncode}'}")


# --- validation and whiteouts -----------------------------------------------------------


def _split(name: bytes, label: Callable[[], str]) -> list[bytes]:
    parts = [p for p in name.split(b"/") if p and p != b"."]
    if b".." in parts:
        depth, escapes = 0, False
        for part in parts:
            depth += -1 if part == b".." else 1
            escapes = escapes or depth < 0
        problem = "escapes the layer directory" if escapes else 'has a ".." component'
        raise UnsafeArchive(f"{label()} {problem}")
    return parts


class _Applier:
    def __init__(self, dest: bytes, rootless: bool, vfs: bool, split=None) -> None:
        self.dest, self.rootless, self.vfs = dest, rootless, vfs
        self.tar = _Tar(dest, rootless)
        self.split = split
        self.scanner = TarScanner(self._on_member, self.tar.write, split.member if split else None)
        self.symlinks: set[bytes] = set()  # paths this layer made symlinks (never forgotten)
        self.safe: set[bytes] = set()  # parent paths checked since the last symlink appeared
        self.created: set[bytes] = set()  # vfs: paths of this layer and their ancestors
        self.on_disk: dict[bytes, bool] = {}  # vfs: lower path -> is a symlink
        self.marks: list[tuple[list[bytes], bool]] = []  # overlay: (path, is opaque marker)
        self.whiteouts = 0

    def run(self, src: BinaryIO, digest: bool = True) -> ApplyResult:
        sha, size = None, 0
        if digest:
            import hashlib  # here: loading OpenSSL costs ~4 ms, and checkpoint archives need no digest

            sha = hashlib.sha256()
        scanner, split = self.scanner, self.split
        for chunk in _uncompressed(src):
            if sha is not None:
                sha.update(chunk)
            if split is None:
                scanner.feed(chunk)
            elif scanner.done:
                split.trailer(chunk)
            else:
                scanner.feed(chunk)
                if scanner.done:  # keep what follows the end-of-archive block: the diff ID covers it
                    split.trailer(memoryview(chunk)[scanner.end_offset - size:])
            size += len(chunk)
        scanner.finish()
        self.tar.finish()
        return ApplyResult(f"sha256:{sha.hexdigest()}" if sha is not None else "", size, self.whiteouts)

    def _on_member(self, m: Member) -> bool:
        def label() -> str:
            return f"layer entry {show(m.name)}"

        parts = _split(m.name, label)
        if not parts:
            if m.is_dir:
                return True
            raise UnsafeArchive(f"{label()} would replace the layer directory itself")
        self._check_parents(parts, label)
        if _WH in m.name:
            if parts[0].startswith(_AUFS) and parts != [_OPAQUE]:
                return False  # AUFS metadata (.wh..wh.plnk, ...): skipped like Docker does
            if any(p.startswith(_WH) for p in parts[:-1]):
                raise UnsafeArchive(f"{label()} is inside a whiteout")
            if parts[-1].startswith(_WH):
                self._whiteout(parts, label())
                return False
        if self.rootless and m.type in (CHRTYPE, BLKTYPE):
            return False
        key = b"/".join(parts)
        if m.type == LNKTYPE:
            def tlabel() -> str:
                return f"hard link target {show(m.linkname)} of {label()}"

            target = _split(m.linkname, tlabel)
            if not target:
                raise UnsafeArchive(f"{tlabel()} is the layer directory")
            self._check_parents(target, tlabel)
            tkey = b"/".join(target)
            if tkey in self.symlinks or (self.vfs and tkey not in self.created and self._lower_symlink(tkey)):
                self.symlinks.add(key)  # link(2) on a symlink makes another symlink
                self.safe.clear()
        elif m.type == SYMTYPE:
            self.symlinks.add(key)
            self.safe.clear()
        if self.vfs:
            self._replace_lower(key, m.is_dir)
            self._created(parts)
        return True

    def _check_parents(self, parts: list[bytes], label: Callable[[], str]) -> None:
        if len(parts) < 2 or (not self.symlinks and not self.vfs):
            return
        parent = b"/".join(parts[:-1])
        if parent in self.safe:
            return
        for i in range(1, len(parts)):
            path = b"/".join(parts[:i])
            if path in self.symlinks:
                raise UnsafeArchive(f"{label()} goes through symlink {show(path)} of this layer")
            if self.vfs and path not in self.created and self._lower_symlink(path):
                raise UnsafeArchive(f"{label()} goes through symlink {show(path)} of a lower layer")
        self.safe.add(parent)

    def _lower_symlink(self, path: bytes) -> bool:
        """vfs: is `path` (whose parents are known not to be symlinks) a symlink on disk?"""
        found = self.on_disk.get(path)
        if found is None:
            try:
                found = stat.S_ISLNK(os.lstat(os.path.join(self.dest, path)).st_mode)
            except (FileNotFoundError, NotADirectoryError):
                found = False
            self.on_disk[path] = found
        return found

    def _created(self, parts: list[bytes]) -> None:
        for i in range(len(parts), 0, -1):
            path = b"/".join(parts[:i])
            if path in self.created:
                break
            self.created.add(path)

    def _barrier(self) -> None:
        """vfs: get everything before the current member onto disk before we touch the disk."""
        self.scanner.flush()
        self.tar.finish()
        self.safe.clear()
        self.on_disk.clear()

    def _replace_lower(self, key: bytes, is_dir: bool) -> None:
        if key in self.created:
            return
        try:
            st = os.lstat(os.path.join(self.dest, key))
        except (FileNotFoundError, NotADirectoryError):
            return
        if is_dir != stat.S_ISDIR(st.st_mode):
            self._barrier()
            path = os.path.join(self.dest, key)
            shutil.rmtree(path) if stat.S_ISDIR(st.st_mode) else os.unlink(path)

    def _whiteout(self, parts: list[bytes], label: str) -> None:
        base, parent = parts[-1], parts[:-1]
        opaque = base == _OPAQUE
        if not opaque and base[4:] in (b"", b".", b".."):
            raise UnsafeArchive(f"{label} is not a valid whiteout")
        target = parent if opaque else parent + [base[4:]]
        self.whiteouts += 1
        if not self.vfs:
            self.marks.append((target, opaque))
            return
        self._barrier()
        with _DirFd(self.dest, parent, create=False) as fd:
            if fd is None:
                return
            prefix = b"/".join(parent) + b"/" if parent else b""
            names = [os.fsencode(n) for n in os.listdir(fd)] if opaque else [target[-1]]
            for name in names:
                self._remove_lower(fd, name, prefix + name)

    def _remove_lower(self, dir_fd: int, name: bytes, path: bytes) -> None:
        """vfs: delete `name` unless this layer created it; recurse where this layer created things."""
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return
        if path not in self.created:
            shutil.rmtree(name, dir_fd=dir_fd) if stat.S_ISDIR(st.st_mode) else os.unlink(name, dir_fd=dir_fd)
        elif stat.S_ISDIR(st.st_mode):
            fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                for child in map(os.fsencode, os.listdir(fd)):
                    self._remove_lower(fd, child, path + b"/" + child)
            finally:
                os.close(fd)

    def make_whiteouts(self) -> None:
        """overlay: turn the collected markers into overlayfs whiteouts and opaque xattrs."""
        ns = b"user." if self.rootless else b"trusted."
        opaque_dirs = {b"/".join(target) for target, opaque in self.marks if opaque}
        for target, opaque in self.marks:
            if opaque:
                with _DirFd(self.dest, target, create=True) as fd:
                    os.setxattr(fd, ns + b"overlay.opaque", b"y")
            elif b"/".join(target[:-1]) not in opaque_dirs:  # whiteouts in an opaque dir are moot
                with _DirFd(self.dest, target[:-1], create=True) as fd:
                    self._make_whiteout(fd, target[-1], ns)

    def _make_whiteout(self, dir_fd: int, name: bytes, ns: bytes) -> None:
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        else:  # the layer has its own `name`; only a directory needs hiding what is below
            if stat.S_ISDIR(st.st_mode):
                with _DirFd(dir_fd, [name], create=False) as fd:
                    os.setxattr(fd, ns + b"overlay.opaque", b"y")  # type: ignore[arg-type]
            return
        parent = os.stat(dir_fd)
        try:
            os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=dir_fd)
        except PermissionError:
            if not self.rootless:
                raise
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
                         dir_fd=dir_fd)
            try:
                os.setxattr(fd, b"user.overlay.whiteout", b"y")
            finally:
                os.close(fd)
            try:
                marked = os.getxattr(dir_fd, b"user.overlay.opaque") == b"y"
            except OSError:
                marked = False
            if not marked:
                os.setxattr(dir_fd, b"user.overlay.opaque", b"x")
        os.utime(dir_fd, ns=(parent.st_atime_ns, parent.st_mtime_ns))


class _DirFd:
    """Open dest/parts as a directory without following any symlink (creating missing ones)."""

    def __init__(self, root: bytes | int, parts: list[bytes], *, create: bool) -> None:
        self.root, self.parts, self.create = root, parts, create
        self.fd: int | None = None

    def __enter__(self) -> int | None:
        if isinstance(self.root, int):
            fd = os.dup(self.root)
        else:
            fd = os.open(self.root, _DIR_FLAGS)
        try:
            for part in self.parts:
                try:
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not self.create:
                        os.close(fd)
                        return None
                    os.mkdir(part, 0o755, dir_fd=fd)
                    nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise StorageError(f"whiteout parent {show(b'/'.join(self.parts))} is not a directory") from None
            raise
        self.fd = fd
        return fd

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)


def _empty(dest: bytes) -> None:
    """Remove everything inside `dest` without following symlinks; errors here are secondary."""
    try:
        entries = list(os.scandir(dest))
    except OSError:
        return
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            pass
