"""A pure-Python subset of Go's text/template, as used by Podman's ``--format``.

Supported: ``{{.A.B}}``, ``.``, ``$``, variables (``$x := p``, ``$x = p``,
``$i, $e := range``), pipelines, parenthesised pipelines, string/raw/char/number
literals, ``true``/``false``/``nil``, ``if``/``else if``/``else``, ``range``
(with ``else``, ``break``, ``continue``), ``with`` (with ``else``/``else with``),
comments and ``{{-``/``-}}`` trim markers.  Builtins: and or not len index print
printf println eq ne lt le gt ge, plus Podman's report helpers (json upper lower
title join split truncate pad) and contains replace trim yn.  Not supported:
``define``/``template``/``block`` and the html/js/urlquery/slice/call builtins.

Data model: a ``dict`` behaves like a Go struct (missing field is an error,
after a case-insensitive retry); a :class:`GoMap` behaves like a Go map
(missing key prints ``<no value>``); other objects expose their attributes.

``parse_format``/``render_rows``/``tabwrite`` reproduce the ``table`` handling
of containers/common's report package, including text/tabwriter alignment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from berth.cli.format.tabwriter import _tabwriter, tabwrite  # noqa: F401  (re-exported)
from berth.errors import InvalidArgument

__all__ = ["GoMap", "NO_VALUE", "Template", "compile_template", "parse_format", "render",
           "render_rows", "tabwrite"]


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()   # Go's invalid reflect.Value (missing map key)
_MISSING: Any = object()     # "no piped-in value"


class GoMap(dict):
    """A dict with Go map semantics: a missing key yields ``<no value>``, JSON keys are sorted."""


class _Fail(Exception):
    """Raised by template functions; reported as ``error calling NAME: MSG``."""


# ---------------------------------------------------------------- value helpers

def _gotype(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    return "<nil>" if v is None else type(v).__name__


def _fmt_float(f: float, upper: bool = False) -> str:
    """Go's %v / shortest %g for a float64."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    mant, _, exp = repr(f).partition("e")
    sign = "-" if mant.startswith("-") else ""
    ip, _, fp = mant.lstrip("-").partition(".")
    digits = ip + fp
    point = len(ip) + int(exp or 0)          # decimal point position within digits
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    if not digits:
        return sign + "0"
    x = point - 1                            # decimal exponent
    if x < -4 or x >= 6:                     # Go: %e when exp < -4 || exp >= 6 (shortest)
        m = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        s = f"{m}e{'+' if x >= 0 else '-'}{abs(x):02d}"
        return sign + (s.upper() if upper else s)
    if point <= 0:
        return sign + "0." + "0" * -point + digits
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return sign + digits[:point] + "." + digits[point:]


def _sorted_keys(d: dict) -> list:
    try:
        return sorted(d)
    except TypeError:
        return sorted(d, key=_sprint)


def _sprint(v: Any) -> str:
    """Go's fmt %v."""
    if isinstance(v, str):
        return str.__str__(v)               # plain value, also for str-based enums
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _fmt_float(v)
    if isinstance(v, list | tuple):
        return "[" + " ".join(_sprint(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{_sprint(k)}:{_sprint(v[k])}" for k in _sorted_keys(v)) + "]"
    names = getattr(v, "_fields", None) or getattr(v, "__dataclass_fields__", None)
    if names and not isinstance(v, tuple):
        return "{" + " ".join(_sprint(getattr(v, f)) for f in names) + "}"
    return str(v)


def _truth(v: Any) -> bool:
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, str | int | float | list | tuple | dict | set):
        return bool(v)
    return True


def _jsonable(v: Any) -> Any:
    if isinstance(v, str | bool | int) or v is None:
        return v
    if isinstance(v, float):
        return int(v) if v.is_integer() and abs(v) < 1e21 else v
    if isinstance(v, dict):
        keys = _sorted_keys(v) if isinstance(v, GoMap) else list(v)
        return {(k if isinstance(k, str) else _sprint(k)): _jsonable(v[k]) for k in keys}
    if isinstance(v, list | tuple | set | frozenset):
        return [_jsonable(x) for x in v]
    if v is NO_VALUE:
        return None
    if hasattr(v, "__dict__"):
        return {k: _jsonable(x) for k, x in vars(v).items() if not k.startswith("_")}
    return _sprint(v)


def _go_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _QUOTE_ESC:
            out.append(_QUOTE_ESC[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x80 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return "".join(out) + '"'


_QUOTE_ESC = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}

# ---------------------------------------------------------------- printf

_VERB_RE = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d*))?(.?)", re.S)


def _fmt_one(flags: str, width: int | None, prec: int | None, verb: str, v: Any) -> str:
    if isinstance(v, _Header):              # header rendering: every verb shows the title
        v, verb = str(v), "s"
    num = isinstance(v, int | float) and not isinstance(v, bool)
    s: str | None = None
    if verb == "v" or (verb == "s" and isinstance(v, str | list | tuple | dict)):
        s = _sprint(v)
        if prec is not None and isinstance(v, str):
            s = s[:prec]
        elif prec is not None and isinstance(v, float):
            s = format(v, f".{prec}g")
    elif verb == "d" and num and isinstance(v, int):
        s = ("%" + "".join(f for f in flags if f in "+ ") + (f".{prec}" if prec is not None else "") + "d") % v
    elif verb in "xXob" and num and isinstance(v, int):
        s = format(abs(v), {"x": "x", "X": "X", "o": "o", "b": "b"}[verb])
        if "#" in flags and verb != "b":
            s = {"x": "0x", "X": "0X", "o": "0"}[verb] + s
        s = ("-" if v < 0 else "+" if "+" in flags else "") + s
    elif verb in "xX" and isinstance(v, str):
        s = v.encode().hex()
        s = s.upper() if verb == "X" else s
    elif verb in "eEfFgG" and num and isinstance(v, float):
        if verb in "gG" and prec is None:
            s = ("+" if "+" in flags and v >= 0 else "") + _fmt_float(v, verb == "G")
        else:
            pf = "".join(f for f in flags if f in "+ ")
            s = ("%" + pf + "." + str(6 if prec is None else prec) + verb.replace("F", "f")) % v
    elif verb == "t" and isinstance(v, bool):
        s = "true" if v else "false"
    elif verb == "q" and isinstance(v, str):
        s = _go_quote(v)
    elif verb == "q" and num and isinstance(v, int):
        s = "'" + _go_quote(chr(v))[1:-1].replace("'", "\\'").replace('\\"', '"') + "'"
    elif verb == "c" and num and isinstance(v, int):
        s = chr(v)
    elif verb == "U" and num and isinstance(v, int):
        s = f"U+{v:04X}"
    elif verb == "T":
        s = _gotype(v) if not isinstance(v, list | tuple) or not all(isinstance(x, str) for x in v) \
            else "[]string"
    if s is None:
        return f"%!{verb}(<nil>)" if v is None else f"%!{verb}({_gotype(v)}={_sprint(v)})"
    if width and len(s) < width:
        if "-" in flags:
            s = s.ljust(width)
        elif "0" in flags and num and verb in "dxXobeEfFgGv":
            sign = s[0] if s[:1] in ("+", "-", " ") else ""
            s = sign + s[len(sign):].rjust(width - len(sign), "0")
        else:
            s = s.rjust(width)
    return s


def _sprintf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    pos = ai = 0
    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[pos:m.start()])
        pos = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if not verb:
            out.append("%!(NOVERB)")
            continue
        w: int | None = int(width) if width and width != "*" else None
        if width == "*":
            w = args[ai] if ai < len(args) and isinstance(args[ai], int) else None
            ai += 1
        if ai >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_fmt_one(flags, w, None if prec is None else int(prec or 0), verb, args[ai]))
        ai += 1
    out.append(fmt[pos:])
    if ai < len(args):
        out.append("%!(EXTRA " + ", ".join(f"{_gotype(a)}={_sprint(a)}" for a in args[ai:]) + ")")
    return "".join(out)


def _print(*args: Any) -> str:
    out = []
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(_sprint(a))
    return "".join(out)


# ---------------------------------------------------------------- functions

def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "nil" if v is None or v is NO_VALUE else "other"


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise _Fail("missing argument for comparison")
    for b in bs:
        ka, kb = _kind(a), _kind(b)
        if "nil" in (ka, kb):
            if ka == kb:
                return True
        elif ka != kb:
            raise _Fail("incompatible types for comparison")
        elif a == b:
            return True
    return False


def _lt(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise _Fail("invalid type for comparison")
    if ka != kb:
        raise _Fail("incompatible types for comparison")
    return a < b


def _len(v: Any) -> int:
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, list | tuple | dict | set):
        return len(v)
    raise _Fail(f"len of type {_gotype(v)}")


def _index(item: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(item, _Header | _HeaderMap):
            return item
        if isinstance(item, dict):
            item = item.get(k, "")
        elif isinstance(item, str | list | tuple):
            if not isinstance(k, int) or isinstance(k, bool):
                raise _Fail(f"cannot index slice/array with type {_gotype(k)}")
            if not 0 <= k < len(item):
                raise _Fail(f"index out of range: {k}")
            item = item.encode()[k] if isinstance(item, str) else item[k]
        elif item is None:
            raise _Fail("index of untyped nil")
        else:
            raise _Fail(f"can't index item of type {_gotype(item)}")
    return item


def _title(s: str) -> str:
    out, prev_sep = [], True
    for ch in s:
        up = ch.upper()
        out.append(up if prev_sep and len(up) == 1 else ch)
        prev_sep = not (ch.isalnum() or ch == "_") if ch < "\x80" else (
            not ch.isalnum() and ch.isspace())
    return "".join(out)


def _json(v: Any) -> str:
    s = json.dumps(_jsonable(v), separators=(",", ":"), ensure_ascii=False)
    return s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _truncate(s: str, n: int) -> str:
    if n < 0:
        raise _Fail(f"runtime error: slice bounds out of range [:{n}]")
    return s if len(s) < n else s[:n]


# name -> (function, spec).  Spec letters: S string, I int, L list (of strings),
# A any; upper case = required, lower case = optional, trailing * = variadic any.
_FUNC_SPECS: dict[str, tuple[Callable[..., Any], str]] = {
    "and": (lambda *a: a[-1], "A*"), "or": (lambda *a: a[-1], "A*"),  # evaluated lazily
    "not": (lambda v: not _truth(v), "A"),
    "len": (_len, "A"), "index": (_index, "A*"),
    "print": (_print, "*"), "printf": (_sprintf, "S*"),
    "println": (lambda *a: " ".join(_sprint(x) for x in a) + "\n", "*"),
    "eq": (_eq, "A*"), "ne": (lambda a, b: not _eq(a, b), "AA"),
    "lt": (_lt, "AA"), "le": (lambda a, b: _lt(a, b) or _eq(a, b), "AA"),
    "gt": (lambda a, b: not (_lt(a, b) or _eq(a, b)), "AA"), "ge": (lambda a, b: not _lt(a, b), "AA"),
    # containers/common pkg/report helpers (+ a few conveniences)
    "json": (_json, "A"), "lower": (str.lower, "S"), "upper": (str.upper, "S"),
    "title": (_title, "S"), "join": (lambda xs, sep: sep.join(xs), "LS"),
    "split": (lambda s, sep: s.split(sep) if sep else list(s), "SS"),
    "truncate": (_truncate, "SI"),
    "pad": (lambda s, pre, suf: " " * pre + s + " " * suf if s else s, "SII"),
    "contains": (lambda s, sub: sub in s, "SS"),
    "replace": (lambda s, old, new, n=-1: s.replace(old, new, n if n >= 0 else -1), "SSSi"),
    "trim": (str.strip, "S"), "yn": (lambda v: "yes" if _truth(v) else "no", "A"),
}


def _check_args(name: str, spec: str, args: list[Any]) -> str | None:
    """Validate (and coerce in place) arguments; return an error message or None."""
    variadic = spec.endswith("*")
    kinds = spec.rstrip("*")
    need = sum(c.isupper() for c in kinds)
    if len(args) < need or (not variadic and len(args) > len(kinds)):
        return f"wrong number of args for {name}: want {'at least ' if variadic else ''}{need} got {len(args)}"
    for i, (k, v) in enumerate(zip(kinds.upper(), args, strict=False)):
        if k == "S" and not isinstance(v, str):
            return f"wrong type for value; expected string; got {_gotype(v)}"
        if k == "I" and (not isinstance(v, int) or isinstance(v, bool)):
            return f"wrong type for value; expected int; got {_gotype(v)}"
        if k == "L":
            if not isinstance(v, list | tuple):
                return f"wrong type for value; expected []string; got {_gotype(v)}"
            args[i] = [x if isinstance(x, str) else _sprint(x) for x in v]
    return None


# ---------------------------------------------------------------- header mode

class _HeaderMap(dict):
    """Data used to render a table header: every field evaluates to its column title."""

    def title(self, name: str) -> _Header:
        text = self.get(name)
        if text is None:
            low = name.lower()
            text = next((v for k, v in self.items() if k.lower() == low), name.upper())
        h = _Header(text)
        h.hmap = self
        return h


class _Header(str):
    hmap: _HeaderMap


# ---------------------------------------------------------------- lexer

_WS = " \t\r\n"
_RDELIM = re.compile(r"[ \t\r\n]-\}\}|\}\}")
_TOKEN = re.compile(r"""
  (?P<space>[ \t\r\n]+)
 |(?P<declare>:=)
 |(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
 |(?P<var>\$[A-Za-z0-9_]*)
 |(?P<number>[+-]?(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+
     |(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)[A-Za-z0-9_]*)
 |(?P<dot>\.)
 |(?P<ident>[A-Za-z_][A-Za-z0-9_]*)
 |(?P<string>"(?:[^"\\\n]|\\.)*")
 |(?P<raw>`[^`]*`)
 |(?P<char>'(?:[^'\\\n]|\\[^\n][^'\n]*)')
 |(?P<punct>[|(),=])
""", re.X)
_PUNCT = {"|": "pipe", "(": "lparen", ")": "rparen", ",": "comma", "=": "assign"}
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue", "nil", "true", "false",
             "define", "template", "block"}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)
_SIMPLE_ESC = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"', "'": "'"}


def _unescape(body: str) -> str:
    def sub(m: re.Match[str]) -> str:
        e = m.group(1)
        if len(e) > 1:
            return chr(int(e, 8) if e[0] in "01234567" else int(e[1:], 16))
        if e not in _SIMPLE_ESC:
            raise ValueError("invalid syntax")
        return _SIMPLE_ESC[e]
    return _ESCAPE.sub(sub, body)


def _number(text: str) -> int | float:
    t = text.replace("_", "")
    if re.fullmatch(r"[+-]?0[0-7]+", t):
        return int(t, 8)
    try:
        return int(t, 0)
    except ValueError:
        return float(t)


class _Tok:
    __slots__ = ("kind", "val", "pos", "end")

    def __init__(self, kind: str, val: Any, pos: int, end: int) -> None:
        self.kind, self.val, self.pos, self.end = kind, val, pos, end


# ---------------------------------------------------------------- nodes

class _Node:
    __slots__ = ("pos", "end")


class _Text(_Node):
    __slots__ = ("text",)


class _Action(_Node):
    __slots__ = ("pipe",)


class _Control(_Node):
    __slots__ = ("kind", "pipe", "body", "else_body")


class _Jump(_Node):
    __slots__ = ("kind",)


class _Pipe(_Node):
    __slots__ = ("decl", "is_assign", "cmds")


class _Cmd(_Node):
    __slots__ = ("args",)


class _Operand(_Node):
    """kind: field|var|dot|nil|lit|ident|chain|pipe; val: name/literal/inner node; names: field chain."""

    __slots__ = ("kind", "val", "names")


def _mk(cls: type, pos: int, end: int, **kw: Any) -> Any:
    n = cls()
    n.pos, n.end = pos, end
    for k, v in kw.items():
        setattr(n, k, v)
    return n


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# ---------------------------------------------------------------- parser

class _Parser:
    def __init__(self, src: str, name: str) -> None:
        self.src, self.name = src, name
        self.toks: list[_Tok] = []
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.err_pos = 0
        self._lex()

    def error(self, msg: str, pos: int | None = None) -> InvalidArgument:
        p = self.err_pos if pos is None else pos
        return InvalidArgument(f"template: {self.name}:{self.src.count(chr(10), 0, p) + 1}: {msg}")

    def _lex(self) -> None:
        src, n, pos, trim_next = self.src, len(self.src), 0, False
        toks = self.toks
        while True:
            start = src.find("{{", pos)
            text = src[pos:n if start < 0 else start]
            if trim_next:
                text = text.lstrip(_WS)
            ltrim = start >= 0 and src.startswith("-", start + 2) and src[start + 3:start + 4] in tuple(_WS)
            if ltrim:
                text = text.rstrip(_WS)
            if text:
                toks.append(_Tok("text", text, pos, start))
            if start < 0:
                break
            pos = start + (4 if ltrim else 2)
            self.err_pos = start
            if src.startswith("/*", pos):
                close = src.find("*/", pos + 2)
                if close < 0:
                    raise self.error("unclosed comment")
                m = _RDELIM.match(src, close + 2)
                if not m:
                    raise self.error("comment ends before closing delimiter")
                trim_next, pos = len(m.group()) > 2, m.end()
                continue
            toks.append(_Tok("ldelim", "{{", start, pos))
            while True:
                m = _RDELIM.match(src, pos)
                if m:
                    toks.append(_Tok("rdelim", "}}", pos, m.end()))
                    trim_next, pos = len(m.group()) > 2, m.end()
                    break
                self.err_pos = pos
                if pos >= n:
                    raise self.error("unclosed action")
                m = _TOKEN.match(src, pos)
                if not m:
                    if src[pos] in "\"'`":
                        raise self.error("unterminated quoted string")
                    raise self.error(f'unexpected "{src[pos]}" in command')
                kind, text = m.lastgroup or "", m.group()
                val: Any = text
                try:
                    if kind == "number":
                        val = _number(text)
                    elif kind == "string":
                        val = _unescape(text[1:-1])
                    elif kind == "raw":
                        kind, val = "string", text[1:-1]
                    elif kind == "char":
                        kind, val = "number", ord(_unescape(text[1:-1]))
                except (ValueError, TypeError):
                    what = "number" if kind == "number" else "quoted string"
                    raise self.error(f"bad {what} syntax: {_go_quote(text)}") from None
                if kind == "ident" and text in _KEYWORDS:
                    kind = "keyword"
                elif kind == "punct":
                    kind = _PUNCT[text]
                toks.append(_Tok(kind, val, pos, m.end()))
                pos = m.end()
        toks.append(_Tok("eof", "", n, n))

    # token helpers
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        self.err_pos = t.pos
        return t

    def peek_ns(self) -> _Tok:
        while self.toks[self.i].kind == "space":
            self.i += 1
        return self.toks[self.i]

    def next_ns(self) -> _Tok:
        self.peek_ns()
        return self.next()

    def unexpected(self, t: _Tok, context: str) -> InvalidArgument:
        return self.error(f'unexpected "{self.src[t.pos:t.end] or "EOF"}" in {context}')

    def expect_rdelim(self, context: str) -> None:
        t = self.next_ns()
        if t.kind != "rdelim":
            raise self.unexpected(t, context)

    # grammar
    def parse(self) -> list[_Node]:
        nodes, _ = self.parse_list(top=True)
        return nodes

    def parse_list(self, top: bool) -> tuple[list[_Node], str]:
        nodes: list[_Node] = []
        while True:
            t = self.next()
            if t.kind == "eof":
                if top:
                    return nodes, ""
                raise self.error("unexpected EOF")
            if t.kind == "text":
                nodes.append(_mk(_Text, t.pos, t.end, text=t.val))
                continue
            kw = self.peek_ns()
            if kw.kind == "keyword" and kw.val in ("end", "else"):
                if top:
                    raise self.error(f"unexpected {{{{{kw.val}}}}}")
                self.next()
                return nodes, kw.val
            if kw.kind == "keyword" and kw.val in ("if", "with", "range"):
                self.next()
                nodes.append(self.control(kw.val, kw.pos))
            elif kw.kind == "keyword" and kw.val in ("break", "continue"):
                self.next()
                if not self.range_depth:
                    raise self.error(f"{{{{{kw.val}}}}} outside {{{{range}}}}")
                self.expect_rdelim(kw.val)
                nodes.append(_mk(_Jump, kw.pos, kw.end, kind=kw.val))
            elif kw.kind == "keyword" and kw.val in ("define", "template", "block"):
                raise self.error(f"{{{{{kw.val}}}}} is not supported")
            else:
                pipe = self.pipeline("command", "rdelim")
                nodes.append(_mk(_Action, pipe.pos, pipe.end, pipe=pipe))

    def control(self, kind: str, pos: int) -> _Control:
        mark = len(self.vars)
        pipe = self.pipeline(kind, "rdelim")
        self.range_depth += kind == "range"
        body, term = self.parse_list(top=False)
        self.range_depth -= kind == "range"
        else_body = None
        if term == "else":
            t = self.peek_ns()
            if kind != "range" and t.kind == "keyword" and t.val == kind:   # else if / else with
                self.next()
                else_body = [self.control(kind, t.pos)]
                del self.vars[mark:]
                return _mk(_Control, pos, pipe.end, kind=kind, pipe=pipe, body=body, else_body=else_body)
            self.expect_rdelim("else")
            else_body, term = self.parse_list(top=False)
            if term != "end":
                raise self.error("expected end; found {{else}}")
        self.expect_rdelim("end")
        del self.vars[mark:]
        return _mk(_Control, pos, pipe.end, kind=kind, pipe=pipe, body=body, else_body=else_body)

    def pipeline(self, context: str, end: str) -> _Pipe:
        first = self.peek_ns()
        decl: list[str] = []
        is_assign = False
        if first.kind == "var":
            save = self.i
            self.next()
            t = self.next_ns()
            if t.kind == "comma" and context == "range":
                v2 = self.next_ns()
                t = self.next_ns()
                if v2.kind != "var" or t.kind not in ("declare", "assign"):
                    raise self.error("range can only initialize variables")
                decl = [first.val, v2.val]
            elif t.kind in ("declare", "assign"):
                decl = [first.val]
            else:
                self.i = save
            is_assign = bool(decl) and t.kind == "assign"
            for d in decl:
                if is_assign and d not in self.vars:
                    raise self.error(f'undefined variable "{d}"')
                if not is_assign:
                    self.vars.append(d)
        cmds: list[_Cmd] = []
        while True:
            cmd = self.command()
            t = self.next_ns()
            if cmd is not None:
                cmds.append(cmd)
            if t.kind == "pipe" and cmd is not None:
                continue
            if t.kind == end and cmds:
                break
            if t.kind == end or t.kind == "pipe":
                raise self.error(f"missing value for {context}")
            if t.kind == "rparen":
                raise self.error("unexpected right paren")
            if t.kind == "rdelim":
                raise self.error("unclosed left paren")
            raise self.unexpected(t, context)
        for i, c in enumerate(cmds[1:]):
            if c.args[0].kind in ("lit", "dot", "nil"):
                raise self.error(f"non executable command in pipeline stage {i + 2}")
        return _mk(_Pipe, first.pos, cmds[-1].end, decl=decl, is_assign=is_assign, cmds=cmds)

    def command(self) -> _Cmd | None:
        args: list[_Operand] = []
        while self.peek_ns().kind not in ("pipe", "rdelim", "rparen", "eof"):
            args.append(self.operand())
            t = self.peek()
            if t.kind not in ("space", "pipe", "rdelim", "rparen"):
                raise self.unexpected(t, "operand")
        return _mk(_Cmd, args[0].pos, args[-1].end, args=args) if args else None

    def operand(self) -> _Operand:
        t = self.next_ns()
        k, v = t.kind, t.val
        if k == "field":
            node = _mk(_Operand, t.pos, t.end, kind="field", val=None, names=[v[1:]])
        elif k == "var":
            if v not in self.vars:
                raise self.error(f'undefined variable "{v}"')
            node = _mk(_Operand, t.pos, t.end, kind="var", val=v, names=[])
        elif k == "dot":
            node = _mk(_Operand, t.pos, t.end, kind="dot", val=None, names=[])
        elif k == "keyword" and v in ("nil", "true", "false"):
            node = _mk(_Operand, t.pos, t.end, kind="nil" if v == "nil" else "lit", val=v == "true", names=[])
        elif k in ("number", "string"):
            node = _mk(_Operand, t.pos, t.end, kind="lit", val=v, names=[])
        elif k == "ident":
            if v not in _FUNC_SPECS:
                raise self.error(f'function "{v}" not defined')
            node = _mk(_Operand, t.pos, t.end, kind="ident", val=v, names=[])
        elif k == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            node = _mk(_Operand, t.pos, self.toks[self.i - 1].end, kind="pipe", val=pipe, names=[])
        else:
            raise self.unexpected(t, "operand")
        while self.peek().kind == "field":
            f = self.next()
            if node.kind in ("lit", "nil", "dot"):
                raise self.error(f'unexpected . after term "{self.src[node.pos:node.end]}"')
            if node.kind in ("pipe", "ident"):
                node = _mk(_Operand, node.pos, node.end, kind="chain", val=node, names=[])
            node.names.append(f.val[1:])
            node.end = f.end
        return node


# ---------------------------------------------------------------- executor

class Template:
    """A compiled template; :meth:`execute` renders it against some data."""

    def __init__(self, src: str, name: str = "format") -> None:
        self.src, self.name = src, name
        self.nodes = _Parser(src, name).parse()

    def execute(self, data: Any) -> str:
        ex = _Exec(self)
        ex.vars.append(["$", data])
        ex.walk(data, self.nodes)
        return "".join(ex.out)


class _Exec:
    def __init__(self, tmpl: Template) -> None:
        self.t = tmpl
        self.out: list[str] = []
        self.vars: list[list[Any]] = []

    def error(self, node: _Node, msg: str) -> InvalidArgument:
        src, name = self.t.src, self.t.name
        line = src.count("\n", 0, node.pos) + 1
        col = node.pos - (src.rfind("\n", 0, node.pos) + 1)
        ctx = " ".join(src[node.pos:node.end].split())
        ctx = ctx if len(ctx) <= 20 else ctx[:20] + "..."
        return InvalidArgument(f'template: {name}:{line}:{col}: executing "{name}" at <{ctx}>: {msg}')

    def walk(self, dot: Any, nodes: list[_Node]) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                val = self.pipe(dot, node.pipe)
                if not node.pipe.decl:
                    self.out.append("<no value>" if val is NO_VALUE else _sprint(val))
            elif isinstance(node, _Control):
                mark = len(self.vars)
                if node.kind == "range":
                    self.range(dot, node)
                else:
                    val = self.pipe(dot, node.pipe)
                    if _truth(val):
                        self.walk(val if node.kind == "with" else dot, node.body)
                    elif node.else_body is not None:
                        self.walk(dot, node.else_body)
                del self.vars[mark:]
            elif isinstance(node, _Jump):
                raise _Break if node.kind == "break" else _Continue

    def range(self, dot: Any, node: _Control) -> None:
        pipe = node.pipe
        val = self.cmds(dot, pipe)
        if isinstance(val, dict) and not isinstance(val, _HeaderMap):
            items: Iterable[tuple[Any, Any]] = [(k, val[k]) for k in _sorted_keys(val)]
        elif isinstance(val, list | tuple):
            items = enumerate(val)
        elif isinstance(val, int) and not isinstance(val, bool):
            items = ((i, i) for i in range(val))
        elif isinstance(val, _Header | _HeaderMap):
            items = [(val, val)]
        elif val is None or val is NO_VALUE:
            items = []
        elif hasattr(val, "__iter__") and not isinstance(val, str | bytes):
            items = enumerate(list(val))
        else:
            raise self.error(pipe, f"range can't iterate over {_sprint(val)}")
        decl = pipe.decl
        if not pipe.is_assign:
            for d in decl:
                self.vars.append([d, val])
        mark = len(self.vars)
        ran = False
        for idx, elem in items:
            ran = True
            if pipe.is_assign:
                self.set_var(decl[0], idx if len(decl) > 1 else elem)
                if len(decl) > 1:
                    self.set_var(decl[1], elem)
            elif decl:
                self.vars[mark - 1][1] = elem
                if len(decl) > 1:
                    self.vars[mark - 2][1] = idx
            try:
                self.walk(elem, node.body)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                del self.vars[mark:]
        if not ran and node.else_body is not None:
            self.walk(dot, node.else_body)

    def set_var(self, name: str, value: Any) -> None:
        for v in reversed(self.vars):
            if v[0] == name:
                v[1] = value
                return

    def cmds(self, dot: Any, pipe: _Pipe) -> Any:
        val = _MISSING
        for cmd in pipe.cmds:
            val = self.command(dot, cmd, val)
        return val

    def pipe(self, dot: Any, pipe: _Pipe) -> Any:
        val = self.cmds(dot, pipe)
        for d in pipe.decl:
            if pipe.is_assign:
                self.set_var(d, val)
            else:
                self.vars.append([d, val])
        return val

    def command(self, dot: Any, cmd: _Cmd, final: Any) -> Any:
        first = cmd.args[0]
        k = first.kind
        if k == "ident":
            return self.call(dot, cmd, final)
        if k in ("field", "var", "chain"):
            return self.chain(dot, first, cmd.args[1:], final)
        if len(cmd.args) > 1 or final is not _MISSING:
            raise self.error(first, "can't give argument to non-function " + self.t.src[first.pos:first.end])
        if k == "nil":
            raise self.error(first, "nil is not a command")
        return self.arg(dot, first)

    def arg(self, dot: Any, node: _Operand) -> Any:
        k = node.kind
        if k == "lit":
            return node.val
        if k == "dot":
            return dot
        if k == "nil":
            return None
        if k == "pipe":
            return self.pipe(dot, node.val)
        if k == "ident":
            return self.call(dot, _mk(_Cmd, node.pos, node.end, args=[node]), _MISSING)
        return self.chain(dot, node, [], _MISSING)

    def chain(self, dot: Any, node: _Operand, args: list[_Operand], final: Any) -> Any:
        if node.kind == "var":
            recv = next(v[1] for v in reversed(self.vars) if v[0] == node.val)
        elif node.kind == "chain":
            recv = self.arg(dot, node.val)
        else:
            recv = dot
        names = node.names
        for i, name in enumerate(names):
            last = i == len(names) - 1
            recv = self.field(dot, node, recv, name, args if last else [], final if last else _MISSING)
        if not names and (args or final is not _MISSING):
            raise self.error(node, "can't give argument to non-function " + self.t.src[node.pos:node.end])
        return recv

    def field(self, dot: Any, node: _Operand, recv: Any, name: str, args: list[_Operand], final: Any) -> Any:
        has_args = bool(args) or final is not _MISSING
        if isinstance(recv, _HeaderMap):
            return recv.title(name)
        if isinstance(recv, _Header):
            return recv.hmap.title(name)
        if isinstance(recv, dict):
            if has_args:
                raise self.error(node, f"{name} is not a method but has arguments")
            if name in recv:
                return recv[name]
            if isinstance(recv, GoMap):
                return NO_VALUE
            low = name.lower()
            for key in recv:
                if isinstance(key, str) and key.lower() == low:
                    return recv[key]
        elif recv is None or recv is NO_VALUE:
            raise self.error(node, f"nil pointer evaluating interface {{}}.{name}")
        elif not isinstance(recv, str | int | float | list | tuple | bytes) and not name.startswith("_"):
            attr: str | None = name
            if not hasattr(recv, name):
                attr = next((a for a in dir(recv) if a.lower() == name.lower() and a[0] != "_"), None)
            if attr is not None:
                val = getattr(recv, attr)
                if callable(val) and not isinstance(val, type):
                    vals = [self.arg(dot, a) for a in args] + ([final] if final is not _MISSING else [])
                    try:
                        return val(*vals)
                    except InvalidArgument:
                        raise
                    except Exception as e:
                        raise self.error(node, f"error calling {name}: {e}") from None
                if has_args:
                    raise self.error(node, f"{name} is not a method but has arguments")
                return val
        raise self.error(node, f"can't evaluate field {name} in type {_gotype(recv)}")

    def call(self, dot: Any, cmd: _Cmd, final: Any) -> Any:
        ident = cmd.args[0]
        name = ident.val
        fn, spec = _FUNC_SPECS[name]
        if name in ("and", "or"):
            want, val = name == "or", _MISSING
            for a in cmd.args[1:]:
                val = self.arg(dot, a)
                if _truth(val) == want:
                    return val
            val = final if final is not _MISSING else val
            if val is _MISSING:
                raise self.error(ident, f"wrong number of args for {name}: want at least 1 got 0")
            return val
        args = [self.arg(dot, a) for a in cmd.args[1:]]
        if final is not _MISSING:
            args.append(final)
        header = next((a for a in args if isinstance(a, _Header | _HeaderMap)), None)
        msg = _check_args(name, spec, args)
        if msg is None:
            try:
                return fn(*args)
            except Exception as e:   # reported like Go's "error calling X"
                msg = f"error calling {name}: {e}"
        if header is not None:      # rendering a table header: keep the column title
            return header
        raise self.error(ident if msg.startswith("wrong number") else cmd, msg)


# ---------------------------------------------------------------- public API

_CACHE: dict[tuple[str, str], Template] = {}


def compile_template(src: str, name: str = "format") -> Template:
    """Parse ``src`` (cached); raises InvalidArgument on syntax errors."""
    key = (src, name)
    tmpl = _CACHE.get(key)
    if tmpl is None:
        if len(_CACHE) >= 128:
            _CACHE.clear()
        tmpl = _CACHE[key] = Template(src, name)
    return tmpl


def render(src: str, data: Any) -> str:
    return compile_template(src).execute(data)


_ACTION_SPLIT = re.compile(r"(\{\{.*?\}\})", re.S)


def parse_format(fmt: str) -> tuple[bool, str]:
    """Normalize a ``--format`` value like containers/common's NormalizeFormat.

    Returns ``(is_table, body)``: a leading ``table `` is stripped; outside actions
    the two-character escapes ``\\t``/``\\n`` become real tab/newline and, for
    tables, spaces become tabs (column separators).  No trailing newline is added.
    """
    is_table = fmt.startswith("table ")
    body = fmt[6:] if is_table else fmt
    parts = _ACTION_SPLIT.split(body)
    for i in range(0, len(parts), 2):           # even indexes are plain text
        p = parts[i].replace("\\t", "\t").replace("\\n", "\n")
        parts[i] = p.replace(" ", "\t") if is_table else p
    return is_table, "".join(parts)


def render_rows(fmt: str, rows: list[Any], headers: dict[str, str] | None = None, *,
                heading: bool = True) -> str:
    """Render every row with ``fmt`` (a newline is appended to the template if missing).

    For ``table`` formats the header line is the same template rendered in "header
    mode": a field evaluates to ``headers[name]`` (else the upper-cased name; for a
    chain like ``.Config.Cmd`` the last field counts), functions that cannot handle
    a title return it unchanged, and ``range`` runs once.  Header and rows are then
    aligned with :func:`tabwrite` semantics.  ``heading=False`` is ``--noheading``.
    """
    is_table, body = parse_format(fmt)
    if not body.endswith("\n"):
        body += "\n"
    tmpl = compile_template(body)
    out = [tmpl.execute(_HeaderMap(headers or {}))] if is_table and heading else []
    out.extend(tmpl.execute(row) for row in rows)
    return _tabwriter("".join(out)) if is_table else "".join(out)


