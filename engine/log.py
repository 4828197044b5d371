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
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

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
    # Checkpoints normally run in a background thread (EventLog.start_checkpointer); the
    # automatic one, inside a committing writer, is only a safety net for a large WAL.
    conn.execute("PRAGMA wal_autocheckpoint=20000")
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


def read_relevant(conn: sqlite3.Connection, after: int, limit: int,
                  skip: frozenset[str]) -> tuple[list[tuple[int, dict[str, Any]]], int]:
    """Up to ``limit`` events after ``after`` whose type is not in ``skip``, and the
    position the reader has consumed up to: the last returned event's if the batch is
    full, else the log's head (skipped rows count as consumed). One read snapshot, so
    no event can slip in between the two queries."""
    if not skip:
        rows = read(conn, after, limit)
        return rows, rows[-1][0] if rows else after
    marks = ",".join("?" * len(skip))
    conn.execute("BEGIN")
    try:
        rows = conn.execute(f"SELECT position, body FROM log WHERE position > ? AND type NOT IN ({marks}) "
                            "ORDER BY position LIMIT ?", (after, *sorted(skip), limit)).fetchall()
        consumed = rows[-1][0] if len(rows) == limit else max(after, head(conn))
    finally:
        conn.execute("COMMIT")
    return [(position, orjson.loads(body)) for position, body in rows], consumed


def head(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(position), 0) FROM log").fetchone()[0]


class EventLog:
    """The log as a shared object: appends from any thread, and a signal for readers."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        # Every writer of this file in this process takes this lock around its
        # transaction: writers queue fairly instead of meeting SQLITE_BUSY, whose retry
        # sleeps (up to 100 ms) would show up as latency.
        self.write_lock = threading.Lock()
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
        with self.transaction(conn):
            positions = append_rows(conn, records)
        self.notify()
        return positions

    @contextmanager
    def transaction(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """``with log.transaction() as conn:`` one write transaction under the write lock."""
        conn = conn or self.connection()
        with self.write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def start_checkpointer(self, every: float = 0.1) -> None:
        """Copy the WAL into the database file in the background (PASSIVE: never blocks
        readers or writers), so commits on the hot path do not pay for checkpoints."""
        if getattr(self, "_checkpointer", None):
            return
        self._checkpoint_stop = threading.Event()

        def run() -> None:
            conn = connect(self.path)
            while not self._checkpoint_stop.wait(every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.OperationalError:
                    pass  # busy: try again next round
            conn.close()

        self._checkpointer = threading.Thread(target=run, name="log-checkpointer", daemon=True)
        self._checkpointer.start()

    def stop_checkpointer(self) -> None:
        if getattr(self, "_checkpointer", None):
            self._checkpoint_stop.set()
            self._checkpointer.join(5)
            self._checkpointer = None

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
