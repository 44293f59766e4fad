"""berth/util/libc.py: libc's mount, umount2, unshare and syscall through _ctypes alone, ctypes as fallback."""

from __future__ import annotations

import errno
import os

import pytest

from berth.util import libc


@pytest.fixture
def fresh():
    libc._fns.clear()
    libc._get_errno = None
    yield libc
    libc._fns.clear()
    libc._get_errno = None


def _exercise(lib) -> None:
    assert lib.call("umount2", b"/nonexistent/berth-libc-test", 0) == -1
    assert lib.errno() == errno.ENOENT
    assert lib.call("syscall", 39) == os.getpid()  # getpid through syscall(2)
    # a string argument is passed as char * (argtypes), None as NULL
    assert lib.call("mount", b"none", b"/nonexistent/berth-libc-test", b"tmpfs", 0, None) == -1
    assert lib.errno() in (errno.ENOENT, errno.EPERM)


def test_the_calls_work_through_ctypes_c_half(fresh):
    _exercise(fresh)
    assert type(fresh._fns["mount"]).__module__ == "berth.util.libc"  # the class defined there


def test_ctypes_itself_when_its_c_half_is_not_what_this_was_written_for(fresh, monkeypatch):
    import _ctypes
    import ctypes  # noqa: F401 - imported before the attribute goes, as it would have been

    monkeypatch.delattr(_ctypes, "FUNCFLAG_USE_ERRNO")
    _exercise(fresh)
    assert type(fresh._fns["mount"]).__module__ == "ctypes"
