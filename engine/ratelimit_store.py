"""Rate-limit buckets kept in SQLite, so limits hold across restarts: a restarted
sender continues from the booked slots instead of starting with a full burst.

Table ``rate_buckets(name TEXT PRIMARY KEY, state TEXT)``; ``state`` is the JSON of
:mod:`engine.ratelimit`'s state. Bucket names: ``provider:<workspace>:<provider>``
and ``campaign:<workspace>:<journey or broadcast id>:<channel>`` (see
``engine.providers.registry.ProviderRegistry.limits``). A reservation reads and
writes its buckets in one write transaction, so concurrent senders (threads or
processes on the same file) never book the same slot twice.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Sequence

import orjson

from engine.log import connect
from engine.ratelimit import Bucket, State, reserve_all

SCHEMA = "CREATE TABLE IF NOT EXISTS rate_buckets (name TEXT PRIMARY KEY, state TEXT NOT NULL)"


class RateLimits:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        ensure_schema(self._conn())

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def reserve(self, buckets: Sequence[Bucket], now: float) -> float:
        """Book one send in every bucket; returns when it may happen (``now`` when there
        are no buckets, i.e. no limits)."""
        if not buckets:
            return now
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            send_at = reserve_in(conn, buckets, now)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return send_at

    def state(self, name: str) -> State | None:
        row = self._conn().execute("SELECT state FROM rate_buckets WHERE name = ?", (name,)).fetchone()
        return orjson.loads(row[0]) if row else None


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.execute(SCHEMA)


def reserve_in(conn: sqlite3.Connection, buckets: Sequence[Bucket], now: float) -> float:
    """:meth:`RateLimits.reserve` inside the caller's write transaction on ``conn`` (for a
    caller that keeps the buckets next to its own state and commits both together)."""
    if not buckets:
        return now
    names = [b.name for b in buckets]
    if len(set(names)) != len(names):
        raise ValueError(f"a bucket appears twice: {names}")
    marks = ",".join("?" * len(names))
    stored = dict(conn.execute(f"SELECT name, state FROM rate_buckets WHERE name IN ({marks})", names).fetchall())
    states = [orjson.loads(stored[n]) if n in stored else None for n in names]
    new_states, send_at = reserve_all(states, buckets, now)
    conn.executemany("INSERT INTO rate_buckets(name, state) VALUES (?, ?) "
                     "ON CONFLICT(name) DO UPDATE SET state = excluded.state",
                     [(n, orjson.dumps(s).decode()) for n, s in zip(names, new_states)])
    return send_at
