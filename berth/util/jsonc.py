"""json.loads/dumps through the C accelerator (_json) alone, for the modules every container start
imports.

The json package's Python half imports `re` (its scanner and decoder define regular expressions at
import), and `re` imports `enum`: ~3 ms of every `berth run`, which otherwise needs neither.  The
work itself is done by the same C functions json uses by default (c_make_scanner,
c_make_encoder), so input accepted, output written and errors raised are the json module's:
loads(s) == json.loads(s) and dumps(o) == json.dumps(o), for the defaults (no indent, no hooks).
Anything else (indent, sort_keys, hooks) is the json module's job.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

_WHITESPACE = " \t\n\r"


class _Context:
    """What _json.make_scanner reads from a JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scan = _json.make_scanner(_Context())


def _error(msg: str, doc: str, pos: int) -> ValueError:
    from json import JSONDecodeError  # only when the input is not JSON

    return JSONDecodeError(msg, doc, pos)


def loads(s: str | bytes | bytearray) -> Any:
    if not isinstance(s, str):
        s = bytes(s).decode("utf-8-sig" if s[:3] == b"\xef\xbb\xbf" else "utf-8")
    elif s.startswith("\ufeff"):
        raise _error("Unexpected UTF-8 BOM (decode using utf-8-sig)", s, 0)
    idx = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        obj, end = _scan(s, idx)
    except StopIteration as err:
        raise _error("Expecting value", s, err.value) from None
    if s[end:].strip(_WHITESPACE):
        raise _error("Extra data", s, end + len(s[end:]) - len(s[end:].lstrip(_WHITESPACE)))
    return obj


def load(f: IO) -> Any:
    return loads(f.read())


def _default(o: object) -> object:
    raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")


def dumps(obj: object) -> str:
    # a new encoder per call: its markers dict (circular reference check) must start empty
    encode = _json.make_encoder({}, _default, _json.encode_basestring_ascii, None, ": ", ", ",
                                False, False, True)
    return "".join(encode(obj, 0))


def dump(obj: object, f: IO) -> None:
    f.write(dumps(obj))
