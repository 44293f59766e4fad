"""The state database: one SQLite file per store (<root>/db.sql), WAL mode.

Configs and states are JSON blobs, as in Podman's sqlite_state.go; the columns that
lookups and filters need (name, image, status) are real columns.  Writers use
BEGIN IMMEDIATE so two CLIs never interleave a read-modify-write.  synchronous=NORMAL
under WAL keeps every commit atomic and durable at checkpoints without an fsync per
transaction (Podman's _sync=FULL is one of its known slow paths).
"""

from __future__ import annotations

import os

from berth.util import jsonc


def _import_sqlite():
    """The C module the sqlite3 package wraps: the package adds only DB-API adapters for datetime,
    which berth never stores, and costs ~1.5 ms of every command to import (datetime with it).

    _sqlite3 itself imports functools when it loads, for the one thing it takes from it:
    lru_cache(maxsize)(connection), the statement cache of each connection.  functools imports
    collections, ~3 ms of every command.  While _sqlite3 loads, `functools` is a module holding
    that one function, built on the same C cache functools.lru_cache wraps; then it is gone again,
    so anything that imports functools later gets the real one.  Checked with 3.11 (Debian 12),
    3.12 and 3.13 (Debian 13); an _sqlite3 that asks functools for more is loaded with the real one."""
    import sys

    if "functools" in sys.modules:
        import _sqlite3

        return _sqlite3
    import _functools

    stub = type(sys)("functools")
    stub.lru_cache = lambda maxsize: lambda f: _functools._lru_cache_wrapper(f, maxsize, False, tuple)
    sys.modules["functools"] = stub
    try:
        try:
            import _sqlite3
        except Exception:  # an _sqlite3 that wants more of functools: the real one, then
            del sys.modules["functools"]
            import _sqlite3
    finally:
        if sys.modules.get("functools") is stub:
            del sys.modules["functools"]
    return _sqlite3


try:
    sqlite3 = _import_sqlite()
except ImportError:  # an interpreter built another way
    import sqlite3  # type: ignore[no-redef]

OperationalError = sqlite3.OperationalError

SCHEMA_VERSION = 2  # 2: volumes
SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    image_id TEXT NOT NULL,
    created REAL NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_names (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS image_names_by_id ON image_names(image_id);
CREATE TABLE IF NOT EXISTS layers (
    id TEXT PRIMARY KEY,
    parent TEXT,
    diff_id TEXT NOT NULL,
    link TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS exit_codes (
    id TEXT PRIMARY KEY,
    name TEXT,
    ts REAL NOT NULL,
    code INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS volumes (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL
);
"""


class Database:
    def __init__(self, path: str) -> None:
        self.path = path
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA synchronous=NORMAL")
        if self.conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")
        with self.write():
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    self.conn.execute(stmt)
            self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def write(self) -> _Write:
        """A write transaction; nested use joins the outer one."""
        return _Write(self.conn)

    def close(self) -> None:
        self.conn.close()

    # containers ---------------------------------------------------------------------------

    def add_container(self, cid: str, name: str, image_id: str, created: float,
                      config: dict, state: dict) -> None:
        self.conn.execute(
            "INSERT INTO containers (id, name, image_id, created, config, state) VALUES (?,?,?,?,?,?)",
            (cid, name, image_id, created, jsonc.dumps(config), jsonc.dumps(state)))

    def container_rows(self) -> list[tuple]:
        return self.conn.execute(
            "SELECT id, name, image_id, created, config, state FROM containers ORDER BY created").fetchall()

    def container_row(self, cid: str) -> tuple | None:
        return self.conn.execute(
            "SELECT id, name, image_id, created, config, state FROM containers WHERE id=?", (cid,)).fetchone()

    def find_container_ids(self, ref: str) -> list[str]:
        """IDs matching a full name, a full ID or an ID prefix (names win, as in Podman)."""
        row = self.conn.execute("SELECT id FROM containers WHERE name=? OR id=?", (ref, ref)).fetchone()
        if row:
            return [row[0]]
        if ref and all(c in "0123456789abcdef" for c in ref):
            return [r[0] for r in self.conn.execute(
                "SELECT id FROM containers WHERE id LIKE ?", (ref + "%",)).fetchall()]
        return []

    def name_taken(self, name: str) -> str | None:
        row = self.conn.execute("SELECT id FROM containers WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def save_state(self, cid: str, state: dict) -> None:
        self.conn.execute("UPDATE containers SET state=? WHERE id=?", (jsonc.dumps(state), cid))

    def save_config(self, cid: str, name: str, config: dict) -> None:
        self.conn.execute("UPDATE containers SET name=?, config=? WHERE id=?", (name, jsonc.dumps(config), cid))

    def remove_container(self, cid: str) -> None:
        self.conn.execute("DELETE FROM containers WHERE id=?", (cid,))

    def containers_using_image(self, image_id: str) -> list[tuple[str, str]]:
        return self.conn.execute("SELECT id, name FROM containers WHERE image_id=?", (image_id,)).fetchall()

    def record_exit(self, cid: str, name: str, ts: float, code: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO exit_codes (id, name, ts, code) VALUES (?,?,?,?)",
                          (cid, name, ts, code))

    def exit_code_of(self, ref: str) -> int | None:
        row = self.conn.execute("SELECT code FROM exit_codes WHERE id=? OR name=? ORDER BY ts DESC",
                                (ref, ref)).fetchone()
        return row[0] if row else None

    # images --------------------------------------------------------------------------------

    def add_image(self, image_id: str, created: float, data: dict) -> None:
        self.conn.execute("INSERT OR REPLACE INTO images (id, created, data) VALUES (?,?,?)",
                          (image_id, created, jsonc.dumps(data)))

    def image_rows(self) -> list[tuple[str, float, str]]:
        return self.conn.execute("SELECT id, created, data FROM images ORDER BY created DESC").fetchall()

    def image_row(self, image_id: str) -> tuple[str, float, str] | None:
        return self.conn.execute("SELECT id, created, data FROM images WHERE id=?", (image_id,)).fetchone()

    def image_ids_with_prefix(self, prefix: str) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT id FROM images WHERE id LIKE ?", (prefix + "%",))]

    def image_names(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, iid in self.conn.execute("SELECT name, image_id FROM image_names ORDER BY rowid"):
            out.setdefault(iid, []).append(name)
        return out

    def names_of_image(self, image_id: str) -> list[str]:
        return [r[0] for r in self.conn.execute(
            "SELECT name FROM image_names WHERE image_id=? ORDER BY rowid", (image_id,))]

    def image_by_name(self, name: str) -> str | None:
        row = self.conn.execute("SELECT image_id FROM image_names WHERE name=?", (name,)).fetchone()
        return row[0] if row else None

    def names_ending(self, suffix: str) -> list[tuple[str, str]]:
        return self.conn.execute(
            "SELECT name, image_id FROM image_names WHERE name LIKE ? ESCAPE '\\'",
            ("%/" + suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"),)).fetchall()

    def set_image_name(self, name: str, image_id: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO image_names (name, image_id) VALUES (?,?)", (name, image_id))

    def remove_image_name(self, name: str) -> None:
        self.conn.execute("DELETE FROM image_names WHERE name=?", (name,))

    def remove_image(self, image_id: str) -> None:
        self.conn.execute("DELETE FROM image_names WHERE image_id=?", (image_id,))
        self.conn.execute("DELETE FROM images WHERE id=?", (image_id,))

    # layers --------------------------------------------------------------------------------

    def add_layer(self, layer_id: str, parent: str | None, diff_id: str, link: str, size: int) -> None:
        self.conn.execute("INSERT OR REPLACE INTO layers (id, parent, diff_id, link, size) VALUES (?,?,?,?,?)",
                          (layer_id, parent, diff_id, link, size))

    def layer(self, layer_id: str) -> tuple | None:
        return self.conn.execute("SELECT id, parent, diff_id, link, size FROM layers WHERE id=?",
                                 (layer_id,)).fetchone()

    def layers(self) -> list[tuple]:
        return self.conn.execute("SELECT id, parent, diff_id, link, size FROM layers").fetchall()

    def remove_layer(self, layer_id: str) -> None:
        self.conn.execute("DELETE FROM layers WHERE id=?", (layer_id,))


class _Write:
    """Database.write()'s context manager, a class: contextlib costs ~0.5 ms at every start."""

    __slots__ = ("conn", "outer")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.conn.in_transaction
        if self.outer:
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.outer:
            self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")
