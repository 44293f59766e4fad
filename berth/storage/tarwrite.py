"""Writing a tar stream of plain files and directories straight into a Python writer.

A checkpoint archive is mostly CRIU's page images, hundreds of MB for a container holding memory,
on their way into a compressor.  Piping `tar -cf -` into Python moves every byte through a pipe in
10 KiB writes (three copies and a context switch per 64 KiB); here each file is read into one
reused buffer and handed to the writer, which the compressor consumes in place.  It writes only
files and directories, as the staged archive holds; a container's layer (whiteouts, hard links,
xattrs) is GNU tar's work, and `TarUnsupported` refuses anything else.

Members are ustar headers (name split into prefix/name where needed), sizes beyond the 11 octal
digits in GNU's base-256, numeric owners with empty user and group names (`--numeric-owner`),
symbolic links followed (`-h`), directories in sorted order, and the two zero blocks at the end.
"""

from __future__ import annotations

import os
import stat

BLOCK = 512
CHUNK = 1 << 20


class TarUnsupported(Exception):
    """The tree holds something this writer does not write (GNU tar must)."""


def _number(value: int, width: int) -> bytes:
    digits = f"{value:o}"
    if len(digits) < width:
        return digits.rjust(width - 1, "0").encode() + b"\0"
    if width == 12:  # a size or time too large for octal: GNU base-256
        return b"\x80" + value.to_bytes(width - 1, "big")
    raise TarUnsupported(f"value {value} does not fit a tar header")


def _split_name(name: str) -> tuple[bytes, bytes]:
    raw = name.encode()
    if len(raw) <= 100:
        return b"", raw
    # ustar: prefix (155) + "/" + name (100), split at a slash
    for i in range(len(raw) - 1, 0, -1):
        if raw[i:i + 1] == b"/" and i <= 155 and len(raw) - i - 1 <= 100 and i < len(raw) - 1:
            return raw[:i], raw[i + 1:]
    raise TarUnsupported(f"name too long for a ustar header: {name}")


def header(name: str, st: os.stat_result, typeflag: bytes, size: int = 0) -> bytes:
    prefix, short = _split_name(name)
    h = bytearray(BLOCK)
    h[0:len(short)] = short
    h[100:108] = _number(stat.S_IMODE(st.st_mode), 8)
    h[108:116] = _number(st.st_uid, 8)
    h[116:124] = _number(st.st_gid, 8)
    h[124:136] = _number(size, 12)
    h[136:148] = _number(max(int(st.st_mtime), 0), 12)
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[257:265] = b"ustar\x0000"
    h[345:345 + len(prefix)] = prefix
    h[148:156] = b"%06o\0 " % sum(h)
    return bytes(h)


def plan(root: str, names: list[str]) -> list[tuple[str, str, os.stat_result]]:
    """(member name, path, stat) for names under root and everything below them, links followed;
    raises TarUnsupported for anything but files and directories."""
    out: list[tuple[str, str, os.stat_result]] = []

    def visit(member: str, path: str) -> None:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            out.append((member, path, st))
        elif stat.S_ISDIR(st.st_mode):
            out.append((member + "/", path, st))
            for child in sorted(os.listdir(path)):
                visit(f"{member}/{child}", os.path.join(path, child))
        else:
            raise TarUnsupported(f"{path}: not a regular file or directory")

    for n in names:
        visit(n, os.path.join(root, n))
    return out


def write(members: list[tuple[str, str, os.stat_result]], out) -> None:
    """The tar stream of plan()'s members into out.write (the bytes it is given are only valid
    during the call: the buffer is reused)."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for member, path, st in members:
        if member.endswith("/"):
            out.write(header(member, st, b"5"))
            continue
        with open(path, "rb", buffering=0) as f:
            size = os.fstat(f.fileno()).st_size
            out.write(header(member, st, b"0", size))
            left = size
            while left:
                n = f.readinto(view[:min(CHUNK, left)])
                if not n:  # shorter than it was: the header promised size bytes
                    out.write(bytes(min(CHUNK, left)))
                    left -= min(CHUNK, left)
                    continue
                out.write(view[:n])
                left -= n
        if size % BLOCK:
            out.write(bytes(BLOCK - size % BLOCK))
    out.write(bytes(2 * BLOCK))
