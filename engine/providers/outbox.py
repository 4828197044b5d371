"""The ``outbox`` provider: messages are stored in SQLite and shown in the UI/API;
nothing leaves the machine. Idempotent by message_id (a second send is a no-op)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import orjson

from engine.log import connect
from engine.providers.base import OutgoingMessage, Receipt

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    message_id TEXT PRIMARY KEY, workspace TEXT NOT NULL, contact_id TEXT NOT NULL,
    channel TEXT NOT NULL, to_address TEXT NOT NULL, subject TEXT, html TEXT, text TEXT,
    journey_id TEXT, node_id TEXT, headers TEXT, created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_contact ON outbox(workspace, contact_id, created_at);
CREATE INDEX IF NOT EXISTS outbox_created ON outbox(workspace, created_at);
"""


def list_query(table: str, mark: str, workspace: str, contact_id: str | None, limit: int,
               before: float | None) -> tuple[str, list[Any]]:
    """The outbox listing (newest first, optional contact and cursor) for either database;
    ``mark`` is the driver's placeholder (``?`` or ``%s``)."""
    query, args = f"SELECT * FROM {table} WHERE workspace = {mark}", [workspace]
    if contact_id:
        query += f" AND contact_id = {mark}"
        args.append(contact_id)
    if before is not None:
        query += f" AND created_at < {mark}"
        args.append(before)
    return query + f" ORDER BY created_at DESC, message_id DESC LIMIT {mark}", [*args, limit]


class OutboxProvider:
    name = "outbox"
    idempotent = True  # a second send of a message id is a no-op

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        self._conn().executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path)
        return conn

    def send(self, message: OutgoingMessage) -> Receipt:
        cur = self._conn().execute(
            "INSERT OR IGNORE INTO outbox(message_id, workspace, contact_id, channel, to_address, subject, html, "
            "text, journey_id, node_id, headers, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (message.message_id, message.workspace, message.contact_id, message.channel, message.to,
             message.subject, message.html, message.text, message.journey_id, message.node_id,
             orjson.dumps(message.headers).decode(), time.time()),
        )
        return Receipt("outbox", message.message_id, duplicate=cur.rowcount == 0)

    def list(self, workspace: str, contact_id: str | None = None, limit: int = 50,
             before: float | None = None) -> list[dict[str, Any]]:
        sql, args = list_query("outbox", "?", workspace, contact_id, limit, before)
        conn = self._conn()
        conn.row_factory = sqlite3.Row
        try:
            rows = [dict(r) for r in conn.execute(sql, args)]
        finally:
            conn.row_factory = None
        for row in rows:
            row["headers"] = orjson.loads(row["headers"] or "{}")
        return rows

    def count(self, workspace: str) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM outbox WHERE workspace = ?", (workspace,)).fetchone()[0]
