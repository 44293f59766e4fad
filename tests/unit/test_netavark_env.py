"""berth/network/netavark.py _env: netavark's PATH finds the same iptables with fewer misses."""

from __future__ import annotations

import os

from berth.network.netavark import _env


def _tool(d, name: str) -> str:
    p = d / name
    p.write_text("#!/bin/sh\n")
    p.chmod(0o755)
    return str(p)


def test_the_first_iptables_on_the_path_moves_to_the_front(tmp_path, monkeypatch):
    empty1, empty2, first, second = (tmp_path / n for n in ("e1", "e2", "first", "second"))
    for d in (empty1, empty2, first, second):
        d.mkdir()
    _tool(first, "iptables")
    _tool(second, "iptables")
    monkeypatch.setenv("PATH", f"{empty1}:{empty2}:{first}:{second}")
    assert _env()["PATH"] == f"{first}:{empty1}:{empty2}:{second}"
    # the order among the others is kept, so every other program resolves as before
    assert os.environ["PATH"] == f"{empty1}:{empty2}:{first}:{second}"


def test_a_path_that_already_starts_with_it_or_has_none_is_left_alone(tmp_path, monkeypatch):
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()
    _tool(first, "iptables")
    monkeypatch.setenv("PATH", f"{first}:{other}")
    assert _env()["PATH"] == f"{first}:{other}"
    monkeypatch.setenv("PATH", f"{other}")
    assert _env()["PATH"] == f"{other}"
