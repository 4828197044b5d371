"""The read model's tables (SQLite, embedded deployment): what analysts query.

Every table carries ``workspace``. Timestamps are ISO-8601 UTC strings as they appear
in the events (``2026-11-21T10:00:00Z``), so they sort and compare as text. JSON
columns hold orjson text (``attributes``, ``unsubscribed``, ``events.data``).

Version 2 added ``orders``, ``attributions``, ``offers``, ``offer_redemptions``,
``segment_membership`` and the daily rollups: a read model built before them gets the
tables empty; ``switchback rebuild`` fills them from the log.

``projection_positions`` records, per projector, the last log position whose rows are
in these tables; the projector writes it in the same transaction as the rows.
"""

from __future__ import annotations

import sqlite3

VERSION = 2  # 2: orders, attributions, offers, segment membership, daily rollups

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

CREATE TABLE IF NOT EXISTS orders (
    workspace TEXT NOT NULL,
    order_id TEXT NOT NULL,
    contact_id TEXT,
    placed_at TEXT,
    amount REAL NOT NULL DEFAULT 0,
    currency TEXT,
    data TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (workspace, order_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS orders_contact ON orders (workspace, contact_id);
CREATE INDEX IF NOT EXISTS orders_placed ON orders (workspace, placed_at);

CREATE TABLE IF NOT EXISTS attributions (
    workspace TEXT NOT NULL,
    order_id TEXT NOT NULL,
    contact_id TEXT,
    message_id TEXT NOT NULL,
    journey_id TEXT,
    broadcast_id TEXT,
    node_id TEXT,
    clicked_at TEXT,
    placed_at TEXT,
    amount REAL NOT NULL DEFAULT 0,
    currency TEXT,
    PRIMARY KEY (workspace, order_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attributions_message ON attributions (workspace, message_id);
CREATE INDEX IF NOT EXISTS attributions_journey ON attributions (workspace, journey_id, node_id);
CREATE INDEX IF NOT EXISTS attributions_broadcast ON attributions (workspace, broadcast_id);

CREATE TABLE IF NOT EXISTS offers (
    workspace TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    contact_id TEXT,
    campaign TEXT,
    message_id TEXT,
    kind TEXT,
    value TEXT,
    max_uses INTEGER,
    issued_at TEXT,
    expires_at TEXT,
    PRIMARY KEY (workspace, offer_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS offers_campaign ON offers (workspace, campaign);

CREATE TABLE IF NOT EXISTS offer_redemptions (
    workspace TEXT NOT NULL,
    offer_id TEXT NOT NULL,
    use INTEGER NOT NULL,
    contact_id TEXT,
    campaign TEXT,
    redeemed_at TEXT,
    value TEXT,
    redeemed_by TEXT,
    PRIMARY KEY (workspace, offer_id, use)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS offer_redemptions_campaign ON offer_redemptions (workspace, campaign);

CREATE TABLE IF NOT EXISTS segment_membership (
    workspace TEXT NOT NULL,
    segment_id TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    entered_at TEXT NOT NULL,
    exited_at TEXT,
    PRIMARY KEY (workspace, segment_id, contact_id, entered_at)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS segment_membership_contact ON segment_membership (workspace, contact_id);

CREATE TABLE IF NOT EXISTS daily_message_stats (
    workspace TEXT NOT NULL,
    day TEXT NOT NULL,
    journey_id TEXT NOT NULL DEFAULT '',
    broadcast_id TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    queued INTEGER NOT NULL DEFAULT 0,
    sent INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    opened INTEGER NOT NULL DEFAULT 0,
    clicked INTEGER NOT NULL DEFAULT 0,
    bounced INTEGER NOT NULL DEFAULT 0,
    complained INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, day, journey_id, broadcast_id, channel)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS daily_revenue (
    workspace TEXT NOT NULL,
    day TEXT NOT NULL,
    journey_id TEXT NOT NULL DEFAULT '',
    broadcast_id TEXT NOT NULL DEFAULT '',
    currency TEXT NOT NULL DEFAULT '',
    orders INTEGER NOT NULL DEFAULT 0,
    revenue REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace, day, journey_id, broadcast_id, currency)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS projection_positions (
    name TEXT NOT NULL PRIMARY KEY,
    position INTEGER NOT NULL
);
"""

# Read-model tables in dependency-free order (projection_positions last).
TABLES = ("contacts", "contact_tags", "events", "messages", "journey_instances", "journey_node_stats",
          "orders", "attributions", "offers", "offer_redemptions", "segment_membership",
          "daily_message_stats", "daily_revenue")
ALL_TABLES = (*TABLES, "projection_positions")

# ``switchback rebuild --projection NAME``: the tables replaced together.
GROUPS: dict[str, tuple[str, ...]] = {
    "contacts": ("contacts", "contact_tags"),
    "events": ("events",),
    "messages": ("messages", "daily_message_stats"),
    "journeys": ("journey_instances", "journey_node_stats"),
    "orders": ("orders", "attributions", "daily_revenue"),
    "offers": ("offers", "offer_redemptions"),
    "segments": ("segment_membership",),
}


def group_tables(name: str | None) -> tuple[str, ...]:
    """The tables of group ``name`` (a group or one of its tables); every table for None."""
    if name is None:
        return TABLES
    if name in GROUPS:
        return GROUPS[name]
    for tables in GROUPS.values():
        if name in tables:
            return tables
    raise ValueError(f"unknown projection {name!r}; use one of: {', '.join(GROUPS)} (or a table name)")


def create(conn: sqlite3.Connection) -> int:
    """Create every table and index that does not exist yet; returns the version the file
    had before (0 for a new file)."""
    before = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.executescript(DDL)
    conn.execute(f"PRAGMA user_version={VERSION}")
    return before


def drop(conn: sqlite3.Connection) -> None:
    """Drop every read-model table (indexes go with them), including the positions."""
    for table in ALL_TABLES:
        conn.execute(f"DROP TABLE IF EXISTS {table}")
