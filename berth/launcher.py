"""Write berth's start-up script: `python -m berth.launcher PATH`.

pip's console script runs the interpreter with `site`, which for a venv reads every .pth file and
imports what they ask for: ~5 ms of every berth command, a quarter of an empty interpreter's start.
This script runs the venv's interpreter with -S and puts on sys.path exactly the two directories
berth needs: the one holding the berth package (the checkout for an editable install) and the
venv's site-packages for its dependencies. Both are fixed when the script is written, so a
reinstall elsewhere writes it again (scripts/install.sh does, after pip).
"""

from __future__ import annotations

import os
import sys

TEMPLATE = """#!{python} -S
# berth's launcher, written by `python -m berth.launcher` (see berth/launcher.py): no `site`,
# only the directories berth imports from, and the cyclic GC told to wait (see there).
import gc
gc.set_threshold({gc_threshold})
import sys
sys.path[0:1] = {paths!r}
from berth.cli.main import entry
entry()
"""

# Python collects young objects every 700 net allocations: a `berth run` makes ~8,500 (imports
# are classes and functions) and paid 14 collections, ~2.5 ms, to free almost nothing: a CLI that
# lives 50 ms frees its memory by exiting.  Commands that live long (logs -f, pull) still collect,
# once per 100,000 net allocations.
GC_THRESHOLD = (100_000, 10, 10)


def script_text(python: str, paths: list[str]) -> str:
    return TEMPLATE.format(python=python, paths=paths, gc_threshold=", ".join(map(str, GC_THRESHOLD)))


def import_paths() -> list[str]:
    """Where berth (the checkout, for an editable install) and its dependencies (the venv's
    site-packages, where pip put them) are imported from in this interpreter."""
    import sysconfig

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    purelib = sysconfig.get_paths()["purelib"]
    return [here] if purelib == here else [here, purelib]


def write(path: str) -> None:
    python = os.path.join(os.path.dirname(os.path.abspath(path)), "python")
    if not os.access(python, os.X_OK):
        python = sys.executable
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(script_text(python, import_paths()))
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m berth.launcher PATH")
    write(sys.argv[1])
