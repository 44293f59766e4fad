"""Tiny static x86-64 ELF programs written byte by byte: they make one syscall through a given
ABI and exit with the low byte of its result, so a test can see what a container's seccomp
filter does with that ABI without a compiler or a 32-bit image."""

from __future__ import annotations

import os
import struct

_EXIT_WITH_EAX = bytes.fromhex("89c7" "b83c000000" "0f05")  # mov edi,eax; mov eax,60 (exit); syscall
PROGRAMS = {
    # getpid through the i386 ABI (int 0x80, nr 20): what a 32-bit binary does
    "i386-getpid": bytes.fromhex("b814000000" "cd80") + _EXIT_WITH_EAX,
    # getpid through the x32 ABI (syscall with bit 30 set, nr 39)
    "x32-getpid": bytes.fromhex("b827000040" "0f05") + _EXIT_WITH_EAX,
}


def elf(code: bytes) -> bytes:
    base = 0x400000
    header = struct.pack("<4sBBBBB7xHHIQQQIHHHHHH", b"\x7fELF", 2, 1, 1, 0, 0, 2, 0x3E, 1,
                         base + 64 + 56, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    size = 64 + 56 + len(code)
    segment = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000)  # PT_LOAD, R+X
    return header + segment + code


def write_all(directory: str) -> None:
    for name, code in PROGRAMS.items():
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(elf(code))
        os.chmod(path, 0o755)
