"""The read model's tables (SQLite, embedded deployment): what analysts query.

Every table carries ``workspace``. Timestamps are ISO-8601 UTC strings as they appear
in the events (``2026-11-21T10:00:00Z``), so they sort and compare as text. JSON
columns hold orjson text (``attributes``, ``unsubscribed``, ``events.data``).

``projection_positions`` records, per projector, the last log position whose rows are
in these tables; the projector writes it in the same transaction as the rows.
"""

from __future__ import annotations

import sqlite3

VERSION = 1

# When a message is listed, it is dated by when it was queued (or suppressed, or sent,
# or failed). Engagement columns are left out so that opens and clicks do not rewrite
# the index entries.
MESSAGE_TIME = "COALESCE(queued_at, suppressed_at, sent_at, failed_at)"

DDL = f"""
CREATE TABLE IF NOT EXISTS contacts (
    workspace TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    email TEXT,
    phone TEXT,
    first_name TEXT,
    last_name TEXT,
    attributes TEXT NOT NULL DEFAULT '{{}}',
    created_at TEXT,
    updated_at TEXT,
    order_count INTEGER NOT NULL DEFAULT 0,
    lifetime_value REAL NOT NULL DEFAULT 0,
    last_order_at TEXT,
    unsubscribed TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (workspace, contact_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contacts_email ON contacts (workspace, email COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS contacts_phone ON contacts (workspace, phone);

CREATE TABLE IF NOT EXISTS contact_tags (
    workspace TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (workspace, contact_id, tag)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contact_tags_tag ON contact_tags (workspace, tag, contact_id);

CREATE TABLE IF NOT EXISTS events (
    workspace TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    position INTEGER PRIMARY KEY,
    contact_id TEXT,
    type TEXT NOT NULL,
    occurred_at TEXT,
    received_at TEXT,
    source TEXT,
    data TEXT NOT NULL DEFAULT '{{}}'
);
CREATE INDEX IF NOT EXISTS events_contact ON events (workspace, contact_id);
CREATE INDEX IF NOT EXISTS events_type ON events (workspace, type, occurred_at);

CREATE TABLE IF NOT EXISTS messages (
    workspace TEXT NOT NULL,
    message_id TEXT NOT NULL,
    contact_id TEXT,
    journey_id TEXT,
    version INTEGER,
    node_id TEXT,
    broadcast_id TEXT,
    channel TEXT,
    template TEXT,
    status TEXT NOT NULL,
    queued_at TEXT,
    sent_at TEXT,
    delivered_at TEXT,
    opened_at TEXT,
    clicked_at TEXT,
    bounced_at TEXT,
    complained_at TEXT,
    failed_at TEXT,
    suppressed_at TEXT,
    reason TEXT,
    provider TEXT,
    provider_message_id TEXT,
    PRIMARY KEY (workspace, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_contact ON messages (workspace, contact_id, {MESSAGE_TIME});
CREATE INDEX IF NOT EXISTS messages_time ON messages (workspace, {MESSAGE_TIME});
CREATE INDEX IF NOT EXISTS messages_journey ON messages (workspace, journey_id, version, node_id);
CREATE INDEX IF NOT EXISTS messages_broadcast ON messages (workspace, broadcast_id);
CREATE INDEX IF NOT EXISTS messages_provider_id ON messages (provider_message_id);

CREATE TABLE IF NOT EXISTS journey_instances (
    workspace TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    journey_id TEXT NOT NULL,
    version INTEGER,
    state TEXT NOT NULL,
    node_id TEXT,
    entered_at TEXT,
    updated_at TEXT,
    exited_at TEXT,
    exit_reason TEXT,
    entries INTEGER NOT NULL DEFAULT 0,
    goals INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, contact_id, journey_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS journey_instances_journey ON journey_instances (workspace, journey_id, state);

CREATE TABLE IF NOT EXISTS journey_node_stats (
    workspace TEXT NOT NULL,
    journey_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    node_id TEXT NOT NULL,
    entered INTEGER NOT NULL DEFAULT 0,
    current INTEGER NOT NULL DEFAULT 0,
    exited INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, journey_id, version, node_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

# Read-model tables in dependency-free order (projection_positions last).
TABLES = ("contacts", "contact_tags", "events", "messages", "journey_instances", "journey_node_stats")
ALL_TABLES = (*TABLES, "projection_positions")


def create(conn: sqlite3.Connection) -> None:
    """Create every table and index that does not exist yet."""
    conn.executescript(DDL)
    conn.execute(f"PRAGMA user_version={VERSION}")


def drop(conn: sqlite3.Connection) -> None:
    """Drop every read-model table (indexes go with them), including the positions."""
    for table in ALL_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
