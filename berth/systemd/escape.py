"""Splitting and quoting words the way systemd reads Exec= lines and lists.

`split_words` follows systemd's extract_first_word() (src/basic/extract-word.c) for the flag sets
Quadlet uses: exec-like (unquote + C unescapes, relaxed) and strv-like (unquote, backslashes kept).
`escape_words` is Quadlet's quoting of a command line; `escape_arg` is `generate systemd`'s, which
also doubles `$` and `%` so systemd leaves them alone.
"""

from __future__ import annotations

SEPARATORS = " \t\n\r"
_SIMPLE = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\",
           '"': '"', "'": "'", "s": " "}
_HEX = "0123456789abcdefABCDEF"


def _unescape_one(s: str, i: int) -> tuple[int, str] | None:
    """Decode the escape whose letter is at s[i]; (length consumed, char) or None if invalid."""
    c = s[i] if i < len(s) else ""
    if c in _SIMPLE:
        return 1, _SIMPLE[c]
    width = {"x": 2, "u": 4, "U": 8}.get(c)
    if width:
        digits = s[i + 1:i + 1 + width]
        if len(digits) != width or any(d not in _HEX for d in digits):
            return None
        code = int(digits, 16)
        if code == 0 or code > 0x10FFFF:
            return None
        return width + 1, chr(code)
    if c and c in "01234567":
        digits = s[i:i + 3]
        if len(digits) != 3 or any(d not in "01234567" for d in digits):
            return None
        code = int(digits, 8)
        if code == 0 or code > 255:
            return None
        return 3, chr(code)
    return None


def split_words(s: str, *, cunescape: bool = True, retain_escape: bool = False,
                relax: bool = True) -> list[str]:
    """Split on unquoted whitespace, removing quotes ('..' and "..").

    cunescape: decode C escapes (\\n, \\x41, \\s ...) as in Exec= lines.
    retain_escape: treat backslash as an ordinary character (systemd's strv lists).
    relax: accept an unbalanced quote or a trailing backslash instead of raising ValueError.
    """
    words: list[str] = []
    i, n = 0, len(s)
    while True:
        while i < n and s[i] in SEPARATORS:
            i += 1
        if i >= n:
            return words
        buf: list[str] = []
        quote = ""
        while i < n:
            c = s[i]
            if c == "\\" and not retain_escape:
                if i + 1 >= n:
                    if not relax:
                        raise ValueError("unbalanced escape")
                    i = n
                    break
                if cunescape:
                    dec = _unescape_one(s, i + 1)
                    if dec is None:
                        raise ValueError("unsupported escape char")
                    buf.append(dec[1])
                    i += 1 + dec[0]
                else:
                    buf.append(s[i + 1])
                    i += 2
                continue
            if quote:
                if c == quote:
                    quote = ""
                else:
                    buf.append(c)
                i += 1
                continue
            if c in "'\"":
                quote = c
                i += 1
                continue
            if c in SEPARATORS:
                break
            buf.append(c)
            i += 1
        if quote and not relax:
            raise ValueError("unbalanced quotes")
        words.append("".join(buf))


def _needs_escape(c: str) -> bool:
    o = ord(c)
    if o > 128:
        return False
    return c.isspace() or o < 32 or o == 127 or c in "\"'\\"


_ESC_OUT = {"\a": "\\a", "\b": "\\b", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\f": "\\f",
            "\\": "\\\\", " ": " ", '"': '\\"', "'": "'"}


def escape_word(word: str) -> str:
    """One word of an Exec= line, quoted only when it has to be (Quadlet's escapeWords)."""
    if not any(_needs_escape(c) for c in word):
        return word
    out = []
    for c in word:
        if _needs_escape(c):
            out.append(_ESC_OUT.get(c, f"\\x{ord(c):02x}"))
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def escape_words(words: list[str]) -> str:
    return " ".join(escape_word(w) for w in words)


def go_quote(s: str) -> str:
    """Go's strconv.Quote for the characters that occur in command lines."""
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
             "\\": "\\\\", '"': '\\"'}
    out = []
    for c in s:
        if c in named:
            out.append(named[c])
        elif ord(c) < 32 or ord(c) == 127:
            out.append(f"\\x{ord(c):02x}")
        elif not c.isprintable():
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def escape_arg(arg: str) -> str:
    """`generate systemd`'s escaping: no specifier or variable expansion, quote words with blanks."""
    arg = arg.replace("$", "$$").replace("%", "%%")
    if any(c in arg for c in " \t\""):
        return go_quote(arg)
    return arg.replace("\\", "\\\\")
