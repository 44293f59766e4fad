"""The start-up script scripts/install.sh writes over pip's: no `site`, and every import berth needs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

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


def test_flag_errors_are_english_whatever_the_locale(tmp_path):
    # berth's own flag parser (cli/flagparse.py) answers in Podman's English, with no translation
    # catalogs looked up and neither argparse nor gettext imported
    script = tmp_path / "berth"
    write(str(script))
    env = dict(os.environ, LANG="de_DE.UTF-8", LANGUAGE="de", LC_ALL="de_DE.UTF-8")
    r = subprocess.run([str(script), "ps", "--no-such-flag"], capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 125
    assert r.stderr == "Error: unknown flag: --no-such-flag\nSee 'berth ps --help'\n", r.stderr
    code = ("import sys, berth.cli.main; berth.cli.main.parse_command_line(['ps', '-a']); "
            "sys.exit(0 if not {'argparse', 'gettext'} & set(sys.modules) else 1)")
    assert subprocess.run([script.read_text().splitlines()[0][2:].split()[0], "-c", code], timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__)))).returncode == 0


def test_launcher_defers_the_cyclic_gc_through_a_commands_start(tmp_path):
    # the imports and flag parsing of a `run` allocate ~8,500 objects: with Python's default
    # threshold (700) that was 14 collections, ~2.5 ms; under the launcher's, none
    from berth.launcher import GC_THRESHOLD, import_paths, script_text

    body = ("import gc\nn = []\ngc.callbacks.append(lambda phase, info: n.append(1) if phase == 'start' else None)\n"
            "from berth.cli.main import parse_command_line\n"
            "parse_command_line(['run', '--rm', '-e', 'A=1', 'img', 'true'])\n"
            "import berth.engine.create, berth.engine.lifecycle, berth.oci.conmon, berth.storage.layers\n"
            "print(gc.get_threshold(), len(n))\n")
    text = script_text(sys.executable, import_paths()).replace("from berth.cli.main import entry\nentry()\n", body)
    assert text != script_text(sys.executable, import_paths())
    script = tmp_path / "probe"
    script.write_text(text)
    r = subprocess.run([sys.executable, "-S", str(script)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == f"{GC_THRESHOLD} 0"
