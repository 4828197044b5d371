"""The distributed sender's queue in PostgreSQL: the same design as the embedded one
(``engine.sender``), shared by every worker.

- ``enqueue``: send commands read from ``<ns>.commands`` are booked into their rate-limit
  buckets (``rate_buckets``, rows locked while booking, so two workers never book the
  same slot) and queued in ``scheduled_sends`` for the time the buckets allow, in one
  transaction. A redelivered command is queued once (message id is the key).
- ``take_due``: due rows are leased (``FOR UPDATE SKIP LOCKED``, marked attempted and
  pushed ``LEASE`` seconds ahead), so exactly one worker sends each; if that worker dies,
  the lease runs out and another one finds the row marked attempted: a real provider is
  then not called again (``message.failed`` "interrupted"), the outbox is (idempotent).
- ``done`` deletes what was sent and recorded; ``hold`` puts a paused journey's rows back.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import orjson
from psycopg import AsyncConnection, sql

from engine.ratelimit import Bucket, reserve_all

LEASE = 60.0  # seconds a worker has to send what it took before another may take it
DDL = """
CREATE TABLE IF NOT EXISTS {s}.scheduled_sends (
    message_id TEXT PRIMARY KEY, send_at DOUBLE PRECISION NOT NULL, body BYTEA NOT NULL,
    attempted BOOLEAN NOT NULL DEFAULT FALSE);
CREATE INDEX IF NOT EXISTS scheduled_sends_due ON {s}.scheduled_sends (send_at);
CREATE TABLE IF NOT EXISTS {s}.rate_buckets (name TEXT PRIMARY KEY, state TEXT NOT NULL)
"""


class PgSendQueue:
    """One connection; the ``deliver`` agent and the sending timer call it concurrently, so
    every operation holds ``lock`` (two transactions must never interleave on it)."""

    def __init__(self, conn: AsyncConnection, schema: str):
        self.conn, self.s = conn, sql.Identifier(schema)
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, dsn: str, schema: str) -> PgSendQueue:
        conn = await AsyncConnection.connect(dsn, autocommit=True)
        self = cls(conn, schema)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"switchback-ddl:{schema}",))
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.s))
            for statement in DDL.split(";"):
                await conn.execute(self._q(statement))
        return self

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.s)

    async def close(self) -> None:
        await self.conn.close()

    async def enqueue(self, commands: list[dict[str, Any]], limits: Callable[[dict[str, Any]], list[Bucket]],
                      now: float) -> None:
        """Book and queue ``commands`` (``limits(command)``: the buckets it passes)."""
        if not commands:
            return
        async with self.lock, self.conn.transaction():
            buckets_of = [limits(c) for c in commands]
            names = sorted({b.name for buckets in buckets_of for b in buckets})
            states: dict[str, Any] = {}
            if names:  # lock the buckets (in name order: no deadlock between workers)
                await self.conn.execute(self._q(
                    "INSERT INTO {s}.rate_buckets(name, state) SELECT n, 'null' FROM unnest(%s::text[]) n "
                    "ON CONFLICT (name) DO NOTHING"), (names,))
                cur = await self.conn.execute(self._q(
                    "SELECT name, state FROM {s}.rate_buckets WHERE name = ANY(%s) ORDER BY name FOR UPDATE"), (names,))
                states = {n: orjson.loads(st) for n, st in await cur.fetchall()}
            rows = []
            for command, buckets in zip(commands, buckets_of):
                send_at = now
                if buckets:
                    new, send_at = reserve_all([states.get(b.name) for b in buckets], buckets, now)
                    states.update({b.name: st for b, st in zip(buckets, new)})
                rows.append((command["message_id"], send_at, orjson.dumps(command)))
            if names:
                await self.conn.execute(self._q(
                    "UPDATE {s}.rate_buckets b SET state = u.state FROM unnest(%s::text[], %s::text[]) AS u(name, state) "
                    "WHERE b.name = u.name"), (names, [orjson.dumps(states[n]).decode() for n in names]))
            await self.conn.execute(self._q(
                "INSERT INTO {s}.scheduled_sends(message_id, send_at, body) "
                "SELECT * FROM unnest(%s::text[], %s::float8[], %s::bytea[]) ON CONFLICT (message_id) DO NOTHING"),
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]))

    async def take_due(self, now: float, limit: int = 200) -> list[tuple[dict[str, Any], bool]]:
        """Lease up to ``limit`` due sends: (command, attempted before)."""
        async with self.lock, self.conn.transaction():
            cur = await self.conn.execute(self._q(
                "SELECT message_id, body, attempted FROM {s}.scheduled_sends WHERE send_at <= %s "
                "ORDER BY send_at LIMIT %s FOR UPDATE SKIP LOCKED"), (now, limit))
            rows = await cur.fetchall()
            if rows:
                await self.conn.execute(self._q(
                    "UPDATE {s}.scheduled_sends SET attempted = TRUE, send_at = %s WHERE message_id = ANY(%s)"),
                    (now + LEASE, [r[0] for r in rows]))
        return [(orjson.loads(body), attempted) for _, body, attempted in rows]

    async def hold(self, message_ids: list[str], until: float) -> None:
        """Put leased rows back, unsent, for ``until`` (a paused journey's messages)."""
        if message_ids:
            async with self.lock:
                await self.conn.execute(self._q(
                    "UPDATE {s}.scheduled_sends SET attempted = FALSE, send_at = %s WHERE message_id = ANY(%s)"),
                    (until, message_ids))

    async def done(self, message_ids: list[str]) -> None:
        if message_ids:
            async with self.lock:
                await self.conn.execute(self._q("DELETE FROM {s}.scheduled_sends WHERE message_id = ANY(%s)"),
                                        (message_ids,))

    async def counts(self, now: float) -> tuple[int, int]:
        """(due now, waiting for later)."""
        async with self.lock:
            cur = await self.conn.execute(self._q(
                "SELECT COUNT(*) FILTER (WHERE send_at <= %s), COUNT(*) FILTER (WHERE send_at > %s) "
                "FROM {s}.scheduled_sends"), (now, now))
            due, later = await cur.fetchone()
        return due, later
