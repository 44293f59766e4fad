"""Printing rows the Podman way: default tables, --format Go templates, --format json."""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing costs ~3 ms to import; every listing command imports this module
if TYPE_CHECKING:
    from typing import Any


def dumps(obj: Any) -> str:
    """JSON as Podman prints it for --format json and inspect: 4-space indent."""
    import json  # here: json imports re, which a plain listing never needs

    return json.dumps(obj, indent=4, ensure_ascii=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")


def print_rows(rows: list[dict], fmt: str | None, default_fmt: str, headers: dict[str, str],
               noheading: bool = False) -> None:
    """Render rows with a user --format, or the command's default table."""
    from berth.cli.format.gotemplate import render_rows

    out = sys.stdout
    if fmt in ("json", "{{json .}}") and fmt == "json":
        print_json(rows)
        return
    f = fmt if fmt else default_fmt
    text = render_rows(f, rows, headers, heading=not noheading)
    if text and not text.endswith("\n"):
        text += "\n"
    out.write(text)


def template_each(items: list[Any], fmt: str) -> None:
    """inspect --format: the template once per object, one line each."""
    from berth.cli.format.gotemplate import compile_template

    t = compile_template(fmt)
    out = []
    for it in items:
        s = t.execute(it)
        out.append(s if s.endswith("\n") else s + "\n")
    sys.stdout.write("".join(out))


def split_kv(items: list[str]) -> dict[str, str]:
    """--label/--opt values: KEY=VALUE (a bare KEY means an empty value)."""
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        out[k] = v
    return out
