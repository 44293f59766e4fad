"""The libc calls of a container start (mount, umount2, unshare, syscall), without ctypes' package.

`import ctypes` costs ~1.7 ms here, and every start made it (the rootfs mount, the x32 probe of the
seccomp profile); its C half, _ctypes, costs ~0.6 ms.  What ctypes/__init__.py defines for these
calls is four small classes: c_int, c_char_p, c_ulong and a function pointer type that saves errno.
They are defined here the same way; should _ctypes ever not take them, berth uses ctypes itself.
"""

from __future__ import annotations

import os

_fns: dict[str, object] = {}
_get_errno = None


def _from_c_half() -> tuple[object, tuple, object]:
    """(a function maker, (c_int, c_char_p, c_ulong), get_errno) built on _ctypes alone."""
    import _ctypes

    class c_int(_ctypes._SimpleCData):  # noqa: N801 - ctypes' own names and definitions
        _type_ = "i"

    class c_char_p(_ctypes._SimpleCData):  # noqa: N801
        _type_ = "z"

    class c_ulong(_ctypes._SimpleCData):  # noqa: N801
        _type_ = "L"

    class Fn(_ctypes.CFuncPtr):
        _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
        _restype_ = c_int

    class Lib:
        _handle = _ctypes.dlopen("libc.so.6", os.RTLD_NOW)

    return (lambda name: Fn((name, Lib))), (c_int, c_char_p, c_ulong), _ctypes.get_errno


def _from_ctypes() -> tuple[object, tuple, object]:
    import ctypes

    lib = ctypes.CDLL("libc.so.6", use_errno=True)  # find_library would run ldconfig -p each time
    return (lambda name: getattr(lib, name)), (ctypes.c_int, ctypes.c_char_p, ctypes.c_ulong), ctypes.get_errno


def _load() -> None:
    global _get_errno
    try:
        make, (c_int, c_char_p, c_ulong), get_errno = _from_c_half()
    except (ImportError, AttributeError, TypeError, OSError):
        make, (c_int, c_char_p, c_ulong), get_errno = _from_ctypes()
    for name, argtypes in (("mount", (c_char_p, c_char_p, c_char_p, c_ulong, c_char_p)),
                           ("umount2", (c_char_p, c_int)), ("unshare", (c_int,)), ("syscall", None)):
        f = make(name)  # type: ignore[operator]
        if argtypes:
            f.argtypes = argtypes
        _fns[name] = f
    _get_errno = get_errno


def call(name: str, *args: object) -> int:
    """libc's `name`(*args): its int result; errno() tells why when it failed."""
    if not _fns:
        _load()
    return _fns[name](*args)  # type: ignore[operator]


def errno() -> int:
    if _get_errno is None:
        _load()
    return _get_errno()  # type: ignore[misc]
