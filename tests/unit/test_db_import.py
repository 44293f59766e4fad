"""The state database module loads SQLite without functools (and its collections), and the
statement cache _sqlite3 builds from the stand-in lru_cache works."""

import subprocess
import sys


def test_db_loads_without_functools_and_caches_statements(tmp_path):
    code = f"""
import sys
from berth.engine.db import Database
assert 'functools' not in sys.modules and 'collections' not in sys.modules, sorted(sys.modules)
db = Database({str(tmp_path / "db.sql")!r})
for i in range(300):  # more distinct statements than the cache holds, and repeats of each
    assert db.conn.execute(f"SELECT ? + {{i % 150}}", (i,)).fetchone()[0] == i + i % 150
import functools  # the real module, for whoever imports it afterwards
assert hasattr(functools, "partial") and hasattr(functools, "reduce")
print("ok")
"""
    r = subprocess.run([sys.executable, "-S", "-c", f"import sys; sys.path[:0] = {sys.path!r}\n{code}"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
