"""Read helpers over the read model, used by the API. Every one is scoped to a workspace.

All results are JSON-ready dicts: JSON columns are decoded, timestamps stay ISO strings.
Cursors returned by ``list_contacts`` are opaque strings; pass them back unchanged.
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from typing import Any

import orjson

from projections.schema import MESSAGE_TIME

RECENT = 50
_CONTACT_COLUMNS = ("contact_id", "email", "phone", "first_name", "last_name", "attributes", "created_at",
                    "updated_at", "order_count", "lifetime_value", "last_order_at", "unsubscribed")
_MESSAGE_COLUMNS = ("message_id", "contact_id", "journey_id", "version", "node_id", "broadcast_id", "channel",
                    "template", "status", "queued_at", "sent_at", "delivered_at", "opened_at", "clicked_at",
                    "bounced_at", "complained_at", "failed_at", "suppressed_at", "reason", "provider",
                    "provider_message_id")
_INSTANCE_COLUMNS = ("journey_id", "version", "state", "node_id", "entered_at", "updated_at", "exited_at",
                     "exit_reason", "entries", "goals")
_SEARCHED = ("contact_id", "email", "phone", "first_name", "last_name",
             "COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')")


# -- contacts ------------------------------------------------------------------------
def _contact(row: tuple) -> dict[str, Any]:
    item = dict(zip(_CONTACT_COLUMNS, row))
    item["attributes"] = orjson.loads(item["attributes"])
    item["unsubscribed"] = orjson.loads(item["unsubscribed"])
    return item


def _tags(conn: sqlite3.Connection, workspace: str, contact_ids: list[str]) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {cid: [] for cid in contact_ids}
    for start in range(0, len(contact_ids), 500):
        chunk = contact_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT contact_id, tag FROM contact_tags WHERE workspace = ? AND contact_id IN ({marks})"
            " ORDER BY contact_id, tag", (workspace, *chunk))
        for cid, tag in rows:
            tags[cid].append(tag)
    return tags


def encode_cursor(contact_id: str) -> str:
    return base64.urlsafe_b64encode(contact_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The contact id a cursor points after; ValueError if it was not made by ``list_contacts``."""
    try:
        return base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError("invalid cursor: pass back the next_cursor of the previous page unchanged") from None


def list_contacts(conn: sqlite3.Connection, workspace: str, search: str | None, limit: int,
                  cursor: str | None) -> dict[str, Any]:
    """A page of contacts ordered by contact id, with tags.

    ``search`` matches a substring (so also a prefix) of the email, phone, first or last
    name, full name or contact id, ignoring case. ``total`` counts every match, not the page.
    """
    where, params = ["workspace = ?"], [workspace]
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append("(" + " OR ".join(f"{col} LIKE ? ESCAPE '\\'" for col in _SEARCHED) + ")")
        params += [pattern] * len(_SEARCHED)
    condition = " AND ".join(where)
    total = conn.execute(f"SELECT COUNT(*) FROM contacts WHERE {condition}", params).fetchone()[0]
    page_where, page_params = condition, list(params)
    if cursor:
        page_where += " AND contact_id > ?"
        page_params.append(decode_cursor(cursor))
    limit = max(1, int(limit))
    rows = conn.execute(
        f"SELECT {', '.join(_CONTACT_COLUMNS)} FROM contacts WHERE {page_where} ORDER BY contact_id LIMIT ?",
        (*page_params, limit + 1)).fetchall()
    items = [_contact(row) for row in rows[:limit]]
    tags = _tags(conn, workspace, [item["contact_id"] for item in items])
    for item in items:
        item["tags"] = tags[item["contact_id"]]
    next_cursor = encode_cursor(items[-1]["contact_id"]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor, "total": total}


def get_contact(conn: sqlite3.Connection, workspace: str, contact_id: str) -> dict[str, Any] | None:
    """The contact's profile with tags, its last 50 events (newest first), its journey
    instances and its last 50 messages; None if the contact has no profile (never seen,
    or erased)."""
    row = conn.execute(f"SELECT {', '.join(_CONTACT_COLUMNS)} FROM contacts WHERE workspace = ? AND contact_id = ?",
                       (workspace, contact_id)).fetchone()
    if row is None:
        return None
    contact = _contact(row)
    contact["tags"] = _tags(conn, workspace, [contact_id])[contact_id]
    events = conn.execute(
        "SELECT id, type, occurred_at, received_at, source, data FROM events"
        " WHERE workspace = ? AND contact_id = ? ORDER BY position DESC LIMIT ?",
        (workspace, contact_id, RECENT))
    contact["recent_events"] = [
        {"id": i, "type": t, "occurred_at": o, "received_at": r, "source": s, "data": orjson.loads(d)}
        for i, t, o, r, s, d in events
    ]
    instances = conn.execute(
        f"SELECT {', '.join(_INSTANCE_COLUMNS)} FROM journey_instances WHERE workspace = ? AND contact_id = ?"
        " ORDER BY entered_at DESC, journey_id", (workspace, contact_id))
    contact["journeys"] = [dict(zip(_INSTANCE_COLUMNS, r)) for r in instances]
    contact["messages"] = list_messages(conn, workspace, contact_id, RECENT)
    return contact


def contact_exists(conn: sqlite3.Connection, workspace: str, contact_id: str) -> bool:
    return conn.execute("SELECT 1 FROM contacts WHERE workspace = ? AND contact_id = ?",
                        (workspace, contact_id)).fetchone() is not None


def find_contact_by_address(conn: sqlite3.Connection, workspace: str, email: str | None,
                            phone: str | None) -> str | None:
    """The contact with this email (ignoring case), else with this phone; lowest id wins."""
    if email:
        row = conn.execute("SELECT contact_id FROM contacts WHERE workspace = ? AND email = ? COLLATE NOCASE"
                           " ORDER BY contact_id LIMIT 1", (workspace, email)).fetchone()
        if row:
            return row[0]
    if phone:
        row = conn.execute("SELECT contact_id FROM contacts WHERE workspace = ? AND phone = ?"
                           " ORDER BY contact_id LIMIT 1", (workspace, phone)).fetchone()
        if row:
            return row[0]
    return None


# -- journeys ------------------------------------------------------------------------
def journey_stats(conn: sqlite3.Connection, workspace: str, journey_id: str) -> dict[str, Any]:
    """Node counts of a journey, summed over versions and per version (keys are str).

    ``totals``: ``entered`` journey entries (re-entries count), ``active`` contacts in
    the journey now, ``exited`` exits, ``goal_reached`` goals reached.
    """
    nodes: dict[str, dict[str, int]] = {}
    by_version: dict[str, dict[str, dict[str, int]]] = {}
    exited = 0
    rows = conn.execute(
        "SELECT version, node_id, entered, current, exited FROM journey_node_stats"
        " WHERE workspace = ? AND journey_id = ? ORDER BY version, node_id", (workspace, journey_id))
    for version, node_id, n_entered, n_current, n_exited in rows:
        counts = {"entered": n_entered, "current": n_current, "exited": n_exited}
        by_version.setdefault(str(version), {})[node_id] = counts
        total = nodes.setdefault(node_id, {"entered": 0, "current": 0, "exited": 0})
        for key, value in counts.items():
            total[key] += value
        exited += n_exited
    entered, active, goals = conn.execute(
        "SELECT COALESCE(SUM(entries), 0), COALESCE(SUM(CASE WHEN state = 'active' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(goals), 0)"
        " FROM journey_instances WHERE workspace = ? AND journey_id = ?", (workspace, journey_id)).fetchone()
    return {"nodes": nodes, "by_version": by_version,
            "totals": {"entered": entered, "active": active, "exited": exited, "goal_reached": goals}}


# -- messages ------------------------------------------------------------------------
def list_messages(conn: sqlite3.Connection, workspace: str, contact_id: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    """Messages, newest first (dated by when they were queued, suppressed, sent or failed)."""
    where, params = "workspace = ?", [workspace]
    if contact_id is not None:
        where += " AND contact_id = ?"
        params.append(contact_id)
    rows = conn.execute(
        f"SELECT {', '.join(_MESSAGE_COLUMNS)} FROM messages WHERE {where}"
        f" ORDER BY {MESSAGE_TIME} DESC, message_id DESC LIMIT ?", (*params, max(1, int(limit))))
    return [dict(zip(_MESSAGE_COLUMNS, r)) for r in rows]
