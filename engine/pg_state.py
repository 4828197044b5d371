"""The distributed runtime's durable state in PostgreSQL (psycopg 3, async).

Same shape as the embedded ``engine.state`` tables, plus the Kafka ``partition`` of
each contact, so a worker fires only the timers of the partitions it owns, and
``consumer_offsets``: the last offset of each partition whose effects are committed.
States and offsets commit in one transaction; a redelivered record at or below the
stored offset is skipped, which makes at-least-once delivery safe.
"""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import AsyncConnection, sql

DDL = """
CREATE TABLE IF NOT EXISTS {s}.contact_state (
    key TEXT PRIMARY KEY, partition INTEGER NOT NULL, body BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.journey_state (
    key TEXT NOT NULL, journey_id TEXT NOT NULL, partition INTEGER NOT NULL, body BYTEA NOT NULL,
    wake_at DOUBLE PRECISION, held BOOLEAN NOT NULL DEFAULT FALSE, active BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (key, journey_id));
CREATE INDEX IF NOT EXISTS journey_state_due ON {s}.journey_state (partition, wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS journey_state_held ON {s}.journey_state (journey_id) WHERE held;
CREATE TABLE IF NOT EXISTS {s}.consumer_offsets (
    consumer TEXT NOT NULL, partition INTEGER NOT NULL, "offset" BIGINT NOT NULL, PRIMARY KEY (consumer, partition));
"""


class PgState:
    def __init__(self, conn: AsyncConnection, schema: str = "switchback"):
        self.conn, self.schema = conn, schema
        self.s = sql.Identifier(schema)

    @classmethod
    async def open(cls, dsn: str, schema: str = "switchback") -> PgState:
        conn = await AsyncConnection.connect(dsn, autocommit=True)
        self = cls(conn, schema)
        async with conn.transaction():
            # concurrent CREATE ... IF NOT EXISTS can collide: workers starting together take turns
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"switchback-ddl:{schema}",))
            # the last table of the DDL exists => all of it does; skip it then, because
            # CREATE INDEX IF NOT EXISTS still locks tables that running workers are writing
            cur = await conn.execute("SELECT to_regclass(%s)", (f'"{schema}".consumer_offsets',))
            if (await cur.fetchone())[0] is None:
                await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.s))
                for statement in DDL.split(";"):
                    if statement.strip():
                        await conn.execute(sql.SQL(statement).format(s=self.s))
        return self

    async def close(self) -> None:
        await self.conn.close()

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self.s)

    async def offsets(self, consumer: str, partitions: list[int]) -> dict[int, int]:
        cur = await self.conn.execute(self._q('SELECT partition, "offset" FROM {s}.consumer_offsets '
                                              "WHERE consumer = %s AND partition = ANY(%s)"), (consumer, partitions))
        return {p: o for p, o in await cur.fetchall()}

    async def load(self, keys: list[str], lock: bool = True) -> tuple[dict[str, dict], dict[str, dict[str, dict]]]:
        """Contact states and instances of ``keys`` (rows locked until the transaction ends)."""
        suffix = " FOR UPDATE" if lock else ""
        cur = await self.conn.execute(self._q("SELECT key, body FROM {s}.contact_state WHERE key = ANY(%s)" + suffix), (keys,))
        contacts = {k: orjson.loads(b) for k, b in await cur.fetchall()}
        cur = await self.conn.execute(self._q("SELECT key, journey_id, body FROM {s}.journey_state WHERE key = ANY(%s)" + suffix),
                                      (keys,))
        instances: dict[str, dict[str, dict]] = {}
        for key, journey_id, body in await cur.fetchall():
            instances.setdefault(key, {})[journey_id] = orjson.loads(body)
        return contacts, instances

    async def due(self, partitions: list[int], now: float, limit: int) -> list[tuple[str, str]]:
        cur = await self.conn.execute(self._q(
            "SELECT key, journey_id FROM {s}.journey_state WHERE partition = ANY(%s) AND wake_at <= %s "
            "ORDER BY wake_at LIMIT %s FOR UPDATE SKIP LOCKED"), (partitions, now, limit))
        return [(k, j) for k, j in await cur.fetchall()]

    async def held(self, journey_id: str) -> list[tuple[str, int, dict]]:
        cur = await self.conn.execute(self._q("SELECT key, partition, body FROM {s}.journey_state "
                                              "WHERE held AND journey_id = %s FOR UPDATE"), (journey_id,))
        return [(k, p, orjson.loads(b)) for k, p, b in await cur.fetchall()]

    async def save(self, contacts: dict[str, dict], instances: dict[tuple[str, str], dict],
                   partition_of: dict[str, int]) -> None:
        # one statement per table, rows passed as arrays (unnest): far fewer round trips
        # than a statement per row; binary parameters (%b) because dumping a bytea array
        # in text format escapes every byte (it was ~10 % of a worker's CPU)
        if contacts:
            keys = list(contacts)
            await self.conn.execute(self._q(
                "INSERT INTO {s}.contact_state(key, partition, body) "
                "SELECT * FROM unnest(%b::text[], %b::int[], %b::bytea[]) "
                "ON CONFLICT (key) DO UPDATE SET body = EXCLUDED.body"),
                (keys, [partition_of[k] for k in keys], [orjson.dumps(contacts[k]) for k in keys]))
        if instances:
            items = list(instances.items())
            await self.conn.execute(self._q(
                "INSERT INTO {s}.journey_state(key, journey_id, partition, body, wake_at, held, active) "
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::int[], %b::bytea[], %b::float8[], %b::bool[], %b::bool[]) "
                "ON CONFLICT (key, journey_id) DO UPDATE SET body = EXCLUDED.body, "
                "wake_at = EXCLUDED.wake_at, held = EXCLUDED.held, active = EXCLUDED.active"),
                ([k for (k, _), _ in items], [j for (_, j), _ in items], [partition_of[k] for (k, _), _ in items],
                 [orjson.dumps(v) for _, v in items], [v["wake_at"] for _, v in items],
                 [bool(v.get("held")) for _, v in items], [v["state"] == "active" for _, v in items]))

    async def set_offsets(self, consumer: str, offsets: dict[int, int]) -> None:
        if offsets:
            async with self.conn.cursor() as cur:
                await cur.executemany(self._q(
                    'INSERT INTO {s}.consumer_offsets(consumer, partition, "offset") VALUES (%s, %s, %s) '
                    'ON CONFLICT (consumer, partition) DO UPDATE SET "offset" = GREATEST({s}.consumer_offsets."offset", '
                    'EXCLUDED."offset")'), [(consumer, p, o) for p, o in offsets.items()])

    async def partitions_of(self, keys: list[str]) -> dict[str, int]:
        cur = await self.conn.execute(self._q("SELECT key, partition FROM {s}.journey_state WHERE key = ANY(%s)"), (keys,))
        return {k: p for k, p in await cur.fetchall()}

    def transaction(self):
        return self.conn.transaction()


def decode(raw: bytes | None) -> dict[str, Any]:
    """A Kafka record's value as an envelope; raises ValueError with the reason."""
    if raw is None:
        raise ValueError("empty record")
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str) or not event.get("id"):
        raise ValueError("not an event envelope (needs id and type)")
    event.setdefault("workspace", "default")
    return event
