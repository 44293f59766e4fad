"""Which compressed blobs are known for a layer, and where they were seen.

A pulled layer is stored uncompressed; its registry blob (gzip or zstd) is remembered here by
digest, together with the registry repositories that hold it.  A push then reuses that blob
(HEAD finds it, or a cross-repository mount copies it) instead of compressing again, and a
blob berth compressed itself is remembered the same way, so a second push compresses nothing.
The tables live in the store's SQLite file and are created on first use.
"""

from __future__ import annotations

from berth.engine.db import Database

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS blob_map (digest TEXT PRIMARY KEY, diff_id TEXT NOT NULL, "
    "compression TEXT NOT NULL, size INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS blob_map_by_diff ON blob_map(diff_id, compression)",
    "CREATE TABLE IF NOT EXISTS blob_locations (digest TEXT NOT NULL, location TEXT NOT NULL, "
    "PRIMARY KEY (digest, location))",
)
_ready: set[str] = set()


def _init(db: Database) -> None:
    if db.path in _ready:
        return
    with db.write() as c:
        for stmt in _SCHEMA:
            c.execute(stmt)
    _ready.add(db.path)


def record(db: Database, digest: str, diff_id: str, compression: str, size: int,
           location: str | None = None) -> None:
    _init(db)
    with db.write() as c:
        c.execute("INSERT OR REPLACE INTO blob_map (digest, diff_id, compression, size) VALUES (?,?,?,?)",
                  (digest, diff_id, compression, size))
        if location:
            c.execute("INSERT OR IGNORE INTO blob_locations (digest, location) VALUES (?,?)", (digest, location))


def candidates(db: Database, diff_id: str, compression: str) -> list[tuple[str, int]]:
    """(digest, size) of blobs known to decompress to `diff_id`, newest first."""
    _init(db)
    return db.conn.execute("SELECT digest, size FROM blob_map WHERE diff_id=? AND compression=? "
                           "ORDER BY rowid DESC", (diff_id, compression)).fetchall()


def locations(db: Database, digest: str) -> list[str]:
    """"host/repository" places where `digest` was pulled from or pushed to."""
    _init(db)
    return [r[0] for r in db.conn.execute("SELECT location FROM blob_locations WHERE digest=?", (digest,))]
