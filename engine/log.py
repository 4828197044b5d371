"""The embedded event log: an append-only SQLite table, one row per event, ordered by
``position``. Appends are idempotent by event ``id`` (a duplicate is ignored and
reported as such). Consumers (the runtime, the projector) remember the last position
they processed in their own tables and read forward from there.

Schema (``events.db``)::

    log(position INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, workspace TEXT,
        contact_id TEXT, type TEXT, body BLOB)   -- body = orjson of the envelope
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL,
    contact_id TEXT,
    type TEXT NOT NULL,
    body BLOB NOT NULL
);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection tuned for the log: WAL, normal sync, a generous busy timeout."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA wal_autocheckpoint=20000")  # ~80 MB: fewer, larger checkpoints
    return conn


def append_rows(conn: sqlite3.Connection, records: Iterable[dict[str, Any]]) -> list[int | None]:
    """Insert envelopes inside the caller's transaction; position per record, None if a duplicate."""
    positions: list[int | None] = []
    for record in records:
        cur = conn.execute(
            "INSERT OR IGNORE INTO log(id, workspace, contact_id, type, body) VALUES (?,?,?,?,?)",
            (record["id"], record["workspace"], record.get("contact_id"), record["type"], orjson.dumps(record)),
        )
        positions.append(cur.lastrowid if cur.rowcount else None)
    return positions


def append_many(conn: sqlite3.Connection, records: list[dict[str, Any]]) -> None:
    """Fast bulk insert (no per-row positions) inside the caller's transaction."""
    conn.executemany(
        "INSERT OR IGNORE INTO log(id, workspace, contact_id, type, body) VALUES (?,?,?,?,?)",
        [(r["id"], r["workspace"], r.get("contact_id"), r["type"], orjson.dumps(r)) for r in records],
    )


def read(conn: sqlite3.Connection, after: int, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    rows = conn.execute("SELECT position, body FROM log WHERE position > ? ORDER BY position LIMIT ?", (after, limit))
    return [(position, orjson.loads(body)) for position, body in rows]


def read_skipping(conn: sqlite3.Connection, after: int, limit: int, skip: frozenset[str]) -> list[tuple[int, dict[str, Any] | None]]:
    """Like ``read`` but events whose type is in ``skip`` come back as ``(position, None)``
    without decoding their bodies (the runtime skips its own bookkeeping this way)."""
    if not skip:
        return read(conn, after, limit)
    marks = ",".join("?" * len(skip))
    rows = conn.execute(f"SELECT position, CASE WHEN type IN ({marks}) THEN NULL ELSE body END FROM log "
                        "WHERE position > ? ORDER BY position LIMIT ?", (*sorted(skip), after, limit))
    return [(position, orjson.loads(body) if body is not None else None) for position, body in rows]


def head(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(position), 0) FROM log").fetchone()[0]


class EventLog:
    """The log as a shared object: appends from any thread, and a signal for readers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self.appended = threading.Condition()
        conn = self.connection()
        conn.executescript(SCHEMA)

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def append(self, records: list[dict[str, Any]]) -> list[int | None]:
        """Append envelopes atomically; returns positions (None marks a duplicate id)."""
        conn = self.connection()
        with self._lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                positions = append_rows(conn, records)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        self.notify()
        return positions

    def notify(self) -> None:
        with self.appended:
            self.appended.notify_all()

    def wait(self, timeout: float) -> None:
        with self.appended:
            self.appended.wait(timeout)

    def read(self, after: int, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
        return read(self.connection(), after, limit)

    def head(self) -> int:
        return head(self.connection())
