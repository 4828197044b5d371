"""The ``outbox`` provider on PostgreSQL, for the distributed deployment: messages are
stored, not sent; idempotent by message id (a redelivered command changes nothing)."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from engine.providers.base import OutgoingMessage, Receipt
from engine.providers.outbox import list_query

DDL = """CREATE TABLE IF NOT EXISTS {s}.outbox (
    message_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, contact_id TEXT NOT NULL, channel TEXT NOT NULL,
    to_address TEXT NOT NULL, subject TEXT, html TEXT, text TEXT, journey_id TEXT, node_id TEXT,
    headers TEXT, created_at DOUBLE PRECISION NOT NULL)"""


class PgOutboxProvider:
    name = "outbox"
    idempotent = True  # a second send of a message id is a no-op

    def __init__(self, dsn: str, schema: str = "switchback"):
        self.dsn, self.s = dsn, sql.Identifier(schema)
        self._local = threading.local()
        conn = self._conn()
        with conn.transaction():  # processes starting together take turns creating the table
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"switchback-ddl:{schema}",))
            if conn.execute("SELECT to_regclass(%s)", (f'"{schema}".outbox',)).fetchone()[0] is None:
                conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self.s))
                conn.execute(sql.SQL(DDL).format(s=self.s))

    def _conn(self) -> psycopg.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = psycopg.connect(self.dsn, autocommit=True)
        return conn

    def send(self, message: OutgoingMessage) -> Receipt:
        cur = self._conn().execute(sql.SQL(
            "INSERT INTO {s}.outbox(message_id, workspace, contact_id, channel, to_address, subject, html, text, "
            "journey_id, node_id, headers, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
            "ON CONFLICT (message_id) DO NOTHING").format(s=self.s),
            (message.message_id, message.workspace, message.contact_id, message.channel, message.to,
             message.subject, message.html, message.text, message.journey_id, message.node_id,
             orjson.dumps(message.headers).decode(), time.time()))
        return Receipt("outbox", message.message_id, duplicate=cur.rowcount == 0)

    def list(self, workspace: str, contact_id: str | None = None, limit: int = 50,
             before: float | None = None) -> list[dict[str, Any]]:
        query, args = list_query("{s}.outbox", "%s", workspace, contact_id, limit, before)
        with self._conn().cursor(row_factory=dict_row) as cur:
            rows = cur.execute(sql.SQL(query).format(s=self.s), args).fetchall()
        for row in rows:
            row["headers"] = orjson.loads(row["headers"] or "{}")
        return rows
