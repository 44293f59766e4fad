"""Command-line flags the way Podman parses them (cobra/pflag), behind the slice of argparse's API
that berth's commands use: add_argument, set_defaults, parse_args, Namespace, SUPPRESS, REMAINDER.

Why not argparse: importing it costs ~1.5 ms, and it pulls in `re` and `enum` (~3 ms more) that a
`berth run` otherwise never needs; building the `run` parser and matching its arguments with
regular expressions cost ~1.5 ms on top.  Every command pays that before it does anything.

pflag's rules, which Podman users rely on:
- flags and arguments may be mixed (`rm c1 -f c2`), except after the first argument of a command
  that takes a command line (`run IMAGE CMD...`, `exec CTR CMD...`): from there on, all is that
  command line;
- a flag that takes a value takes the next word whatever it looks like (`--stop-timeout -1`);
  `--flag=value`, `-fvalue` and `-f=value` work too; booleans cluster (`-dit`);
- a flag with an optional value (`--tls-verify`) takes one only as `--flag=value`, and so does a
  boolean (`--rm=false`);
- errors are one line in pflag's and cobra's words, and exit 125.
"""

from __future__ import annotations

import os
import sys

SUPPRESS = "==SUPPRESS=="
REMAINDER = "..."


class ArgumentTypeError(Exception):
    """Raised by a type= function; its message is the error the user sees."""


class FlagError(Exception):
    pass


class ArgCountError(FlagError):
    """Too few or too many arguments: cobra says so without pointing to --help."""


class Namespace:
    def __init__(self, **kwargs: object) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return "Namespace(" + ", ".join(f"{k}={v!r}" for k, v in sorted(self.__dict__.items())) + ")"


class Action:
    """One flag or positional argument.  nargs: 0 for a boolean or --help, None for one value,
    "?" for an optional one (a flag's only as --flag=value), "*", "+" or REMAINDER."""

    __slots__ = ("option_strings", "dest", "kind", "nargs", "const", "default", "type", "choices", "help",
                 "metavar")

    def __init__(self, option_strings: list[str], dest: str, kind: str, nargs: object, const: object,
                 default: object, type: object, choices: object, help: str | None, metavar: str | None) -> None:
        self.option_strings = option_strings
        self.dest = dest
        self.kind = kind
        self.nargs = nargs
        self.const = const
        self.default = default
        self.type = type
        self.choices = choices
        self.help = help
        self.metavar = metavar

    @property
    def flag_name(self) -> str:
        """How pflag names the flag in errors: "-t, --time" or "--name"."""
        return ", ".join(self.option_strings)


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def _parse_bool(value: str, act: Action) -> bool:
    """Go's strconv.ParseBool, which pflag uses for --flag=value."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise FlagError(f'invalid argument "{value}" for "{act.flag_name}" flag: '
                    f'strconv.ParseBool: parsing "{value}": invalid syntax')


class ArgumentParser:
    def __init__(self, prog: str | None = None, usage: str | None = None, description: str | None = None,
                 add_help: bool = True) -> None:
        self.prog = prog or os.path.basename(sys.argv[0] or "berth")
        self.usage = usage
        self.description = description
        self._actions: list[Action] = []
        self._option_string_actions: dict[str, Action] = {}
        self._positionals: list[Action] = []
        self._defaults: dict[str, object] = {}
        if add_help:
            self.add_argument("-h", "--help", action="help", help="Help for this command")

    # ---- building ----------------------------------------------------------------------------

    def add_argument(self, *names: str, action: str = "store", nargs: object = None, const: object = None,
                     default: object = None, type: object = None, choices: object = None, help: str | None = None,
                     metavar: str | None = None, dest: str | None = None) -> Action:
        if not names[0].startswith("-"):
            act = Action([], dest or names[0], "positional", nargs, None, default, type, choices, help, metavar)
            self._positionals.append(act)
            self._actions.append(act)
            return act
        if dest is None:
            long = next((n for n in names if n.startswith("--")), names[0])
            dest = long.lstrip("-").replace("-", "_")
        if action in ("store_true", "help"):
            nargs = 0
            if action == "store_true" and default is None:
                default = False
        elif action not in ("store", "append"):
            raise ValueError(f"unsupported action {action!r}")
        act = Action(list(names), dest, action, nargs, const, default, type, choices, help, metavar)
        for n in names:
            self._option_string_actions[n] = act
        self._actions.append(act)
        return act

    def set_defaults(self, **kwargs: object) -> None:
        self._defaults.update(kwargs)

    # ---- parsing -----------------------------------------------------------------------------

    def parse_args(self, args: list[str] | None = None, namespace: Namespace | None = None) -> Namespace:
        try:
            return self._parse(list(sys.argv[1:] if args is None else args), namespace or Namespace())
        except FlagError as e:
            self.error(str(e), hint=not isinstance(e, ArgCountError))
            raise  # error() exits; for subclasses that return

    def _parse(self, args: list[str], ns: Namespace) -> Namespace:
        for act in self._actions:
            if act.default is not SUPPRESS and not hasattr(ns, act.dest):
                d = act.default
                setattr(ns, act.dest, list(d) if isinstance(d, list) else d)
        for k, v in self._defaults.items():
            setattr(ns, k, v)
        words: list[str] = []
        # the positionals that come before a command line (`run IMAGE`, `exec CTR`): once they are
        # filled, the next word starts the command line
        remainder_at = next((i for i, a in enumerate(self._positionals) if a.nargs == REMAINDER), -1)
        i, n = 0, len(args)
        while i < n:
            a = args[i]
            i += 1
            if remainder_at >= 0 and words and len(words) >= remainder_at:
                words.extend(args[i - 1:])  # the command line, flags and all
                break
            if a == "--":
                words.extend(args[i:])
                break
            if a.startswith("--"):
                name, eq, value = a.partition("=")
                act = self._option_string_actions.get(name)
                if act is None:
                    raise FlagError(f"unknown flag: {name}")
                if act.nargs == 0:
                    if eq and act.kind == "store_true":  # --rm=false, as Quadlet and scripts write
                        setattr(ns, act.dest, _parse_bool(value, act))
                    else:
                        self._take(act, None, ns)
                elif eq or act.nargs == "?":
                    self._take(act, value if eq else None, ns)
                else:
                    if i >= n:
                        raise FlagError(f"flag needs an argument: {name}")
                    self._take(act, args[i], ns)
                    i += 1
            elif a.startswith("-") and len(a) > 1:
                j = 1
                while j < len(a):
                    ch = a[j]
                    act = self._option_string_actions.get("-" + ch)
                    if act is None:
                        raise FlagError(f"unknown shorthand flag: '{ch}' in {a}")
                    j += 1
                    if act.nargs == 0:
                        self._take(act, None, ns)
                        continue
                    rest = a[j:]
                    if rest.startswith("="):
                        rest = rest[1:]
                    elif not rest and act.nargs != "?":
                        if i >= n:
                            raise FlagError(f"flag needs an argument: '{ch}' in {a}")
                        rest = args[i]
                        i += 1
                    self._take(act, rest if rest or a[j:] else None, ns)
                    break
            else:
                words.append(a)
        self._assign(words, ns)
        return ns

    def _take(self, act: Action, value: str | None, ns: Namespace) -> None:
        if act.kind == "help":
            sys.stdout.write(self.format_help())
            sys.stdout.flush()
            raise SystemExit(0)
        if act.kind == "store_true":
            setattr(ns, act.dest, True)
            return
        v = act.const if value is None else self._convert(act, value)
        if act.kind == "append":
            # defaults were copied into this namespace; a suppressed one (a global flag) may be None
            cur = getattr(ns, act.dest, None)
            if not isinstance(cur, list):
                cur = []
                setattr(ns, act.dest, cur)
            cur.append(v)
        else:
            setattr(ns, act.dest, v)

    def _convert(self, act: Action, value: str) -> object:
        if act.choices is not None and value not in act.choices:
            what = f'"{act.flag_name}" flag' if act.option_strings else act.metavar or act.dest
            raise FlagError(f'invalid argument "{value}" for {what}: valid values are '
                            + ", ".join(f'"{c}"' for c in act.choices))
        if act.type is None:
            return value
        try:
            return act.type(value)  # type: ignore[operator]
        except ArgumentTypeError as e:
            raise FlagError(str(e)) from None
        except (TypeError, ValueError):
            kind = "ParseInt" if act.type is int else "Parse"
            raise FlagError(f'invalid argument "{value}" for "{act.flag_name}" flag: '
                            f'strconv.{kind}: parsing "{value}": invalid syntax') from None

    def _assign(self, words: list[str], ns: Namespace) -> None:
        """Hand the arguments to the positionals, in order; cobra's count errors if they do not fit."""
        pos = self._positionals
        least = sum(1 for p in pos if p.nargs is None or p.nargs == "+")
        most = None if any(p.nargs in ("*", "+", REMAINDER) for p in pos) else len(pos)
        got = len(words)
        if got < least or (most is not None and got > most):
            if most == 0:
                raise ArgCountError(f"`{self.prog}` takes no arguments")
            if most == least:
                raise ArgCountError(f"accepts {least} arg(s), received {got}")
            if got < least:
                raise ArgCountError(f"requires at least {least} arg(s), only received {got}")
            if least == 0:
                raise ArgCountError(f"accepts at most {most} arg(s), received {got}")
            raise ArgCountError(f"accepts between {least} and {most} arg(s), received {got}")
        spare = got - least
        k = 0
        for idx, p in enumerate(pos):
            if p.nargs is None:
                v: object = self._convert(p, words[k])
                k += 1
            elif p.nargs == "?":
                if spare > 0:
                    v = self._convert(p, words[k])
                    k += 1
                    spare -= 1
                else:
                    v = p.default
            elif p.nargs == REMAINDER:
                end = got - sum(1 for q in pos[idx + 1:] if q.nargs is None)
                v = words[k:end]
                if v and v[0] == "--":
                    v = v[1:]
                k, spare = end, 0
            else:  # "*" or "+"
                take = spare + (1 if p.nargs == "+" else 0)
                v = [self._convert(p, w) for w in words[k:k + take]]
                k += take
                spare = 0
            setattr(ns, p.dest, v)

    def error(self, message: str, hint: bool = True) -> None:
        sys.stdout.flush()
        sys.stderr.write(f"Error: {message}\n" + (f"See '{self.prog} --help'\n" if hint else ""))
        raise SystemExit(125)

    # ---- help --------------------------------------------------------------------------------

    def usage_line(self) -> str:
        if self.usage:
            return self.usage
        parts = [self.prog]
        if any(a.option_strings and a.kind != "help" for a in self._actions):
            parts.append("[options]")
        for p in self._positionals:
            m = p.metavar or p.dest.upper()
            parts.append({None: m, "?": f"[{m}]", "*": f"[{m}...]", "+": f"{m} [{m}...]",
                          REMAINDER: f"[{m} [ARG...]]"}.get(p.nargs, m))  # type: ignore[arg-type]
        return " ".join(parts)

    def format_help(self) -> str:
        out = []
        if self.description:
            out += [self.description, ""]
        out += ["Usage:", "  " + self.usage_line(), ""]
        rows = []
        for a in self._actions:
            if not a.option_strings or a.kind == "help" or a.help == SUPPRESS or a.default == SUPPRESS:
                continue
            short = next((s for s in a.option_strings if len(s) == 2), "")
            longs = [s for s in a.option_strings if s.startswith("--")]
            name = (f"{short}, " if short else "    ") + ", ".join(longs)
            if a.nargs != 0:
                name += " stringArray" if a.kind == "append" else " int" if a.type is int else " string"
            rows.append((name, a.help or ""))
        if rows:
            width = max(len(r[0]) for r in rows) + 3
            out.append("Options:")
            out += [f"  {name:<{width}}{text}".rstrip() for name, text in rows]
            out.append("")
        return "\n".join(out) + "\n"
