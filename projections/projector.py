"""The projector: reads the event log forward and keeps the read model up to date.

Each batch (up to ``batch`` log rows) is projected in one transaction that also
stores the last position in ``projection_positions``: after a crash either the whole
batch and its position are visible, or neither is, and the projector resumes from the
stored position. Duplicates are no-ops (see ``handlers``), so replaying is harmless.

``rebuild`` drops the tables and replays the whole log; ``checksum`` hashes the
tables so a rebuilt read model can be compared with the incrementally built one.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from engine import log as event_log
from projections import handlers, schema

NAME = "read_model"
logger = logging.getLogger("switchback.projector")


def connect(read_path: str | Path) -> sqlite3.Connection:
    """Open the read database (WAL, autocommit mode; transactions are explicit)."""
    conn = sqlite3.connect(str(read_path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages stay hot during a batch
    return conn


class Projector:
    """Projects the SQLite event log at ``log_path`` into the read model at ``read_path``."""

    def __init__(self, log_path: str | Path, read_path: str | Path, batch: int = 2000):
        self.batch = batch
        self.log = event_log.connect(log_path)
        self.log.executescript(event_log.SCHEMA)
        self.conn = connect(read_path)
        before = schema.create(self.conn)
        if 0 < before < schema.VERSION and self.position() > 0:
            logger.warning("the read model at %s was built by an older version: tables added since are empty"
                           " until `switchback rebuild` fills them from the log", read_path)

    def position(self) -> int:
        """The last log position whose rows are committed in the read model."""
        row = self.conn.execute("SELECT position FROM projection_positions WHERE name = ?", (NAME,)).fetchone()
        return row[0] if row else 0

    def apply(self, batch: list[tuple[int, dict[str, Any]]]) -> int:
        """Project ``(position, event)`` pairs in one transaction; returns how many were new.

        The stored position moves to the batch's last position (never backwards).
        On any error the transaction is rolled back and the error re-raised.
        """
        if not batch:
            return 0
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            new = sum(handlers.apply(conn, position, event) for position, event in batch)
            conn.execute(
                "INSERT INTO projection_positions(name, position) VALUES (?, ?) ON CONFLICT(name)"
                " DO UPDATE SET position = MAX(position, excluded.position)",
                (NAME, batch[-1][0]),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return new

    def run_once(self) -> int:
        """Project the next batch after the stored position; returns how many log rows it read."""
        batch = event_log.read(self.log, self.position(), self.batch)
        self.apply(batch)
        return len(batch)

    def catch_up(self) -> int:
        """Project until the end of the log; returns how many log rows were read."""
        total = 0
        while count := self.run_once():
            total += count
        return total

    def close(self) -> None:
        self.log.close()
        self.conn.close()

    def __enter__(self) -> Projector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rebuild(log_path: str | Path, read_path: str | Path, batch: int = 10_000) -> int:
    """Drop and recreate every read-model table, then replay the whole log.

    Readers see the tables fill up while it runs; if it is interrupted, the projector
    resumes where it stopped (or run it again). Returns how many log rows were read.
    """
    conn = connect(read_path)
    try:
        conn.execute("BEGIN IMMEDIATE")
        schema.drop(conn)
        conn.execute("COMMIT")
    finally:
        conn.close()
    with Projector(log_path, read_path, batch=batch) as projector:
        return projector.catch_up()


def checksum(read_path: str | Path) -> dict[str, str]:
    """Per read-model table, a SHA-256 of its rows in a stable order.

    ``projection_positions`` and ``events.position`` are left out, so a read model
    built incrementally and one rebuilt from the same log compare equal.
    """
    conn = sqlite3.connect(str(read_path))
    try:
        sums = {}
        for table in schema.TABLES:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "position"]
            listed = ", ".join(columns)
            digest = hashlib.sha256()
            for row in conn.execute(f"SELECT {listed} FROM {table} ORDER BY {listed}"):
                digest.update(orjson.dumps(row))
                digest.update(b"\n")
            sums[table] = digest.hexdigest()
        return sums
    finally:
        conn.close()
