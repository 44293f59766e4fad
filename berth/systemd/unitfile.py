"""systemd unit files (and Quadlet files, which use the same syntax), read and written back.

Comments and the order of groups and keys survive a round trip; a group that appears twice is
merged.  Lookups follow systemd: the last value of a key wins, an empty value resets a list, lines
ending in a backslash continue on the next line.  Output puts one blank line between groups.
"""

from __future__ import annotations

import os

from berth.systemd.escape import escape_words, split_words


class UnitFileError(ValueError):
    pass


class Line:
    __slots__ = ("key", "value", "comment")

    def __init__(self, key: str, value: str, comment: bool = False) -> None:
        self.key, self.value, self.comment = key, value, comment

    def copy(self) -> Line:
        return Line(self.key, self.value, self.comment)


class Group:
    __slots__ = ("name", "comments", "lines")

    def __init__(self, name: str) -> None:
        self.name = name
        self.comments: list[Line] = []   # before the [name] header
        self.lines: list[Line] = []

    def last(self, key: str) -> Line | None:
        for ln in reversed(self.lines):
            if not ln.comment and ln.key == key:
                return ln
        return None

    def merge(self, other: Group) -> None:
        self.comments += [c.copy() for c in other.comments]
        self.lines += [ln.copy() for ln in other.lines]


def _is_comment(line: str) -> bool:
    return not line or line[0] in "#;"


def _is_group(line: str) -> bool:
    if not line.startswith("["):
        return False
    end = line.find("]")
    return end != -1 and not line[end + 1:].strip(" \t")


class UnitFile:
    def __init__(self, filename: str = "", path: str = "") -> None:
        self.groups: list[Group] = []
        self.by_name: dict[str, Group] = {}
        self.filename = filename
        self.path = path

    # reading -----------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str) -> UnitFile:
        with open(path, encoding="utf-8") as f:
            data = f.read()
        u = cls(os.path.basename(path), path)
        u.parse(data)
        return u

    @classmethod
    def from_string(cls, data: str, filename: str = "", path: str = "") -> UnitFile:
        u = cls(filename, path)
        u.parse(data)
        return u

    def parse(self, data: str) -> None:
        current: Group | None = None
        pending: list[Line] = []
        lines = data.removesuffix("\n").split("\n")
        remaining = ""
        for nr, raw in enumerate(lines, 1):
            line = raw.strip()
            if _is_comment(line):
                if remaining:
                    continue          # a comment inside a continued line is dropped
            else:
                if line.endswith("\\") and nr != len(lines):
                    remaining += line[:-1]
                    continue
                if line.endswith("\\"):
                    line = line[:-1]
                if remaining:
                    line, remaining = remaining + line, ""
            if _is_comment(line):
                pending.append(Line("", line, True))
            elif _is_group(line):
                name = line[1:line.index("]")]
                if not name or any(c in "[]" or ord(c) < 32 for c in name):
                    raise UnitFileError(f"invalid group name: {name}")
                current = self.ensure(name)
                if pending and not pending[0].value:
                    pending = pending[1:]   # one blank line before a group is re-added on output
                current.comments += pending
                pending = []
            elif "=" in line and not line.startswith("="):
                if current is None:
                    raise UnitFileError("key file does not start with a group")
                key, _, value = line.partition("=")
                key = key.rstrip()
                if not key or key != key.strip():
                    raise UnitFileError(f"invalid key name: {key}")
                current.lines += pending
                pending = []
                current.lines.append(Line(key, value.lstrip()))
            else:
                raise UnitFileError(f"file contains line {nr}: \u201c{line}\u201d which is not a key-value pair, "
                                    "group, or comment")
        if current is None:
            current = self.ensure("")
        current.lines += pending

    # structure ---------------------------------------------------------------------------------

    def ensure(self, name: str) -> Group:
        g = self.by_name.get(name)
        if g is None:
            g = Group(name)
            self.groups.append(g)
            self.by_name[name] = g
        return g

    def has_group(self, name: str) -> bool:
        return name in self.by_name

    def merge(self, other: UnitFile) -> None:
        for g in other.groups:
            self.ensure(g.name).merge(g)

    def dup(self) -> UnitFile:
        u = UnitFile(self.filename)
        u.merge(self)
        return u

    def remove_group(self, name: str) -> None:
        g = self.by_name.pop(name, None)
        if g is not None:
            self.groups.remove(g)

    def rename_group(self, old: str, new: str) -> None:
        g = self.by_name.get(old)
        if g is None:
            return
        target = self.by_name.get(new)
        if target is None:
            del self.by_name[old]
            g.name = new
            self.by_name[new] = g
        elif target is not g:
            target.merge(g)
            self.remove_group(old)

    def keys(self, group: str) -> list[str]:
        g = self.by_name.get(group)
        seen: dict[str, None] = {}
        for ln in g.lines if g else []:
            if not ln.comment:
                seen.setdefault(ln.key, None)
        return list(seen)

    # lookups -----------------------------------------------------------------------------------

    def lookup_last(self, group: str, key: str) -> str | None:
        g = self.by_name.get(group)
        ln = g.last(key) if g else None
        return None if ln is None else ln.value

    def has_key(self, group: str, key: str) -> bool:
        return self.lookup_last(group, key) is not None

    def lookup(self, group: str, key: str) -> str | None:
        """The last value, trailing blanks removed and one pair of surrounding double quotes stripped."""
        v = self.lookup_last(group, key)
        if v is None:
            return None
        v = v.rstrip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        return v

    def lookup_bool(self, group: str, key: str) -> bool | None:
        v = self.lookup(group, key)
        if v is None:
            return None
        return v.lower() in ("1", "yes", "true", "on")

    def lookup_bool_default(self, group: str, key: str, default: bool) -> bool:
        v = self.lookup_bool(group, key)
        return default if v is None else v

    def lookup_int(self, group: str, key: str, default: int) -> int:
        """An integer the way strtol(..., 0) reads it (0x hex, leading-0 octal); default if invalid."""
        v = self.lookup(group, key)
        if v is None:
            return default
        sign = -1 if v.startswith("-") else 1
        digits = v[1:] if v[:1] in "+-" else v
        try:
            if digits[:2].lower() == "0x":
                return sign * int(digits[2:], 16)
            if digits.startswith("0") and len(digits) > 1:
                return sign * int(digits, 8)
            return sign * int(digits, 10)
        except ValueError:
            return default

    def lookup_all(self, group: str, key: str) -> list[str]:
        g = self.by_name.get(group)
        out: list[str] = []
        for ln in g.lines if g else []:
            if not ln.comment and ln.key == key:
                if ln.value:
                    out.append(ln.value)
                else:
                    out = []          # an empty assignment resets the list
        return out

    def lookup_all_strv(self, group: str, key: str) -> list[str]:
        out: list[str] = []
        for v in self.lookup_all(group, key):
            try:
                out += split_words(v, cunescape=False, retain_escape=True)
            except ValueError:
                pass
        return out

    def lookup_all_args(self, group: str, key: str) -> list[str]:
        out: list[str] = []
        for v in self.lookup_all(group, key):
            try:
                out += split_words(v)
            except ValueError:
                pass
        return out

    def lookup_last_args(self, group: str, key: str) -> list[str] | None:
        v = self.lookup_last(group, key)
        return None if v is None else split_words(v)

    def lookup_all_keyval(self, group: str, key: str) -> tuple[dict[str, str | None], list[str]]:
        """Environment=-style assignments; bare words map to None.  Returns (values, warnings)."""
        res: dict[str, str | None] = {}
        warnings: list[str] = []
        for v in self.lookup_all(group, key):
            try:
                words = split_words(v)
            except ValueError as e:
                warnings.append(str(e))
                continue
            seen_assign = False
            for w in words:
                k, sep, val = w.partition("=")
                if sep:
                    res[k] = val
                    seen_assign = True
                    continue
                if seen_assign:
                    warnings.append(f"{key}=: token {w!r} has no '=' and follows a KEY=VALUE on the same line; "
                                    "an earlier value probably contained unquoted whitespace")
                res[k] = None
        return res, warnings

    # edits -------------------------------------------------------------------------------------

    def add(self, group: str, key: str, value: str) -> None:
        self.ensure(group).lines.append(Line(key, value))

    def add_cmdline(self, group: str, key: str, args: list[str]) -> None:
        self.add(group, key, escape_words(args))

    def set(self, group: str, key: str, value: str) -> None:
        g = self.ensure(group)
        ln = g.last(key)
        if ln is None:
            g.lines.append(Line(key, value))
        else:
            ln.value = value

    def unset(self, group: str, key: str) -> None:
        g = self.by_name.get(group)
        if g is not None:
            g.lines = [ln for ln in g.lines if ln.comment or ln.key != key]

    def _first_or(self, group: str) -> Group:
        if group == "" and self.groups:
            return self.groups[0]
        return self.ensure(group)

    def prepend_comment(self, group: str, *comments: str) -> None:
        g = self._first_or(group)
        g.comments[:0] = [Line("", "# " + c, True) for c in comments]

    def prepend_line(self, group: str, key: str, value: str) -> None:
        self._first_or(group).lines.insert(0, Line(key, value))

    # writing -----------------------------------------------------------------------------------

    def to_string(self) -> str:
        out: list[str] = []
        for i, g in enumerate(self.groups):
            if i:
                out.append("\n")
            out += [c.value + "\n" for c in g.comments]
            if not g.name:
                continue
            out.append(f"[{g.name}]\n")
            for ln in g.lines:
                out.append(ln.value + "\n" if ln.comment else f"{ln.key}={ln.value}\n")
        return "".join(out)

    def template_parts(self) -> tuple[str, str, bool]:
        """("foo", "bar", True) for foo@bar.container; ("foo", "", False) without an @."""
        base = self.filename.rsplit(".", 1)[0] if "." in self.filename else self.filename
        name, at, instance = base.partition("@")
        return name, instance, bool(at)
