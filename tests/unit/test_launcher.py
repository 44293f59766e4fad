"""The start-up script scripts/install.sh writes over pip's: no `site`, and every import berth needs."""

from __future__ import annotations

import importlib.util
import os
import subprocess

from berth import __version__
from berth.launcher import import_paths, write


def test_launcher_runs_berth_without_site(tmp_path):
    script = tmp_path / "berth"
    write(str(script))
    first = script.read_text().splitlines()[0]
    assert first.startswith("#!") and first.endswith(" -S")
    assert os.access(script, os.X_OK)
    r = subprocess.run([str(script), "version", "--format", "{{.Client.Version}}"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == __version__


def test_launcher_paths_hold_berth_and_its_dependencies():
    paths = import_paths()
    for mod in ("berth", "zstandard", "isal", "urllib3"):
        origin = importlib.util.find_spec(mod).origin
        assert any(origin.startswith(p + os.sep) for p in paths), (mod, origin, paths)
