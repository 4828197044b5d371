"""Event -> row changes for the read model. One handler per event type.

``apply(conn, position, event)`` first copies the event into ``events``; if its ``id``
is already there (a duplicate delivery) nothing else happens, so every table is
idempotent by event id. Otherwise the type's handler updates its tables. Handlers run
inside the projector's transaction and never commit.

Who gets a ``contacts`` row: every contact event, ``order.placed``, ``cart.updated``
and custom track events create it on first sight. Engine and provider events
(``message.*``, ``journey.*``, ``segment.*``, ``offer.*``) never do, so a contact that
was erased does not come back because its journey exit or a late open arrived.

Erasure (``contact.deleted``): the contact's ``contacts`` and ``contact_tags`` rows
are deleted and the ``data`` of every ``events`` and ``orders`` row of that contact
projected so far (the deletion included) becomes ``'{}'``. Counts stay: ``messages``,
``journey_instances``, ``journey_node_stats``, ``orders`` (id, amount, currency, time),
``attributions``, ``offers``, ``offer_redemptions``, ``segment_membership`` and the daily
rollups keep their rows, which hold ids, statuses, amounts and timestamps but no personal
data. The event log itself is not touched here.

Analytics tables: ``projections.commerce`` (orders, attributions, offers),
``projections.membership`` (segment membership history) and ``projections.rollups``
(daily message stats and revenue) add their handlers to ``HANDLERS`` below.

Message funnel: one ``messages`` row per ``message_id``. Each status keeps its first
timestamp; ``status`` is the furthest one reached in ``FUNNEL`` order, whatever order
the provider reports arrive in.

The SQL is portable: the same handlers run on PostgreSQL through ``projections.postgres``.
Upserts name the target's own columns with the table (``messages.status``), since
PostgreSQL finds a bare name ambiguous next to ``excluded``.
"""

from __future__ import annotations

import math
import sqlite3
from decimal import Decimal, InvalidOperation
from typing import Any, Callable

import orjson

from journeys.events import CHANNELS

Handler = Callable[[sqlite3.Connection, dict[str, Any]], None]

# Furthest wins: a later stage in this tuple overrides an earlier one.
FUNNEL = ("queued", "suppressed", "failed", "sent", "delivered", "bounced", "opened", "clicked", "complained")
_NAME_FIELDS = ("email", "phone", "first_name", "last_name")
_NO_CONTACT_ROW = ("message.", "journey.", "segment.", "offer.", "workspace.")


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def _amount(value: Any) -> float:
    try:
        amount = float(Decimal(str(value))) if value is not None else 0.0
    except (InvalidOperation, ValueError):
        return 0.0
    return amount if math.isfinite(amount) else 0.0


# -- events (raw copy) ---------------------------------------------------------------
def record(conn: sqlite3.Connection, position: int, event: dict[str, Any]) -> bool:
    """Copy the event into ``events``; False when its id was already projected."""
    cur = conn.execute(
        "INSERT INTO events(workspace, id, position, contact_id, type, occurred_at, received_at,"
        " source, data) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
        (event["workspace"], event["id"], position, event.get("contact_id"), event["type"],
         event.get("occurred_at"), event.get("received_at"), event.get("source"),
         orjson.dumps(event.get("data") or {}).decode()),
    )
    return cur.rowcount == 1


def apply(conn: sqlite3.Connection, position: int, event: dict[str, Any]) -> bool:
    """Project one event; False (and no change) when it is a duplicate."""
    if not record(conn, position, event):
        return False
    kind = event["type"]
    if event.get("contact_id") and not kind.startswith(_NO_CONTACT_ROW) and kind != "contact.deleted":
        _ensure_contact(conn, event)
    handler = HANDLERS.get(kind)
    if handler is not None:
        handler(conn, event)
    return True


# -- contacts ------------------------------------------------------------------------
def _ensure_contact(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    at = event.get("occurred_at")
    conn.execute("INSERT OR IGNORE INTO contacts(workspace, contact_id, created_at, updated_at) VALUES (?,?,?,?)",
                 (event["workspace"], event["contact_id"], at, at))


def _touch(conn: sqlite3.Connection, event: dict[str, Any], sets: str, params: tuple) -> None:
    """Update the contact row with ``sets``; ``created_at``/``updated_at`` widen to the event's time."""
    sets = f"{sets}, " if sets else ""
    at = event.get("occurred_at")
    conn.execute(
        f"UPDATE contacts SET {sets}"
        "created_at = CASE WHEN created_at IS NULL OR ? < created_at THEN ? ELSE created_at END,"
        " updated_at = CASE WHEN updated_at IS NULL OR ? > updated_at THEN ? ELSE updated_at END"
        " WHERE workspace = ? AND contact_id = ?",
        (*params, at, at, at, at, event["workspace"], event["contact_id"]),
    )


def _tags(conn: sqlite3.Connection, event: dict[str, Any], tags: Any, add: bool) -> None:
    names = sorted({str(t).lower() for t in tags if t}) if isinstance(tags, list) else []
    if not names:
        return
    ws, cid = event["workspace"], event["contact_id"]
    if add:
        conn.executemany("INSERT OR IGNORE INTO contact_tags(workspace, contact_id, tag) VALUES (?,?,?)",
                         [(ws, cid, t) for t in names])
    else:
        conn.executemany("DELETE FROM contact_tags WHERE workspace = ? AND contact_id = ? AND tag = ?",
                         [(ws, cid, t) for t in names])


def contact_changed(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """contact.created / contact.updated: merge the attribute patch (null removes a key)."""
    data = event.get("data") or {}
    row = conn.execute("SELECT attributes FROM contacts WHERE workspace = ? AND contact_id = ?",
                       (event["workspace"], event["contact_id"])).fetchone()
    attributes = orjson.loads(row[0]) if row else {}
    for key, value in data.items():
        if key == "tags":
            continue
        if value is None:
            attributes.pop(key, None)
        else:
            attributes[key] = value
    names = tuple(_text(attributes.get(f)) for f in _NAME_FIELDS)
    _touch(conn, event, "attributes = ?, email = ?, phone = ?, first_name = ?, last_name = ?",
           (_json(attributes), *names))
    _tags(conn, event, data.get("tags"), add=True)


def contact_tagged(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    data = event.get("data") or {}
    _tags(conn, event, data.get("tags") or [data.get("tag")], add=event["type"] == "contact.tagged")
    _touch(conn, event, "", ())


def contact_subscription(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """contact.subscribed / contact.unsubscribed: the list of channels the contact left."""
    channel = (event.get("data") or {}).get("channel", "all")
    channels = set(CHANNELS) if channel == "all" else {channel}
    row = conn.execute("SELECT unsubscribed FROM contacts WHERE workspace = ? AND contact_id = ?",
                       (event["workspace"], event["contact_id"])).fetchone()
    current = set(orjson.loads(row[0])) if row else set()
    current = current | channels if event["type"] == "contact.unsubscribed" else current - channels
    _touch(conn, event, "unsubscribed = ?", (_json(sorted(current)),))


def contact_deleted(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """Erasure: drop the profile and tags, blank the contact's raw event data."""
    key = (event["workspace"], event["contact_id"])
    conn.execute("DELETE FROM contacts WHERE workspace = ? AND contact_id = ?", key)
    conn.execute("DELETE FROM contact_tags WHERE workspace = ? AND contact_id = ?", key)
    conn.execute("UPDATE events SET data = '{}' WHERE workspace = ? AND contact_id = ? AND data <> '{}'", key)


def _sortable(at: str | None) -> str | None:
    """ISO text that sorts in time order: ``...:05Z`` written as ``...:05.000000Z``."""
    return at[:19] + ".000000Z" if at and len(at) == 20 else at


_SORTABLE_LAST_ORDER = ("CASE WHEN length(last_order_at) = 20 THEN substr(last_order_at, 1, 19) || '.000000Z'"
                        " ELSE last_order_at END")


def order_placed(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    value = _amount((event.get("data") or {}).get("amount"))
    at = event.get("occurred_at")
    _touch(conn, event,
           "order_count = order_count + 1, lifetime_value = ROUND(lifetime_value + ?, 2),"
           f" last_order_at = CASE WHEN last_order_at IS NULL OR ? > {_SORTABLE_LAST_ORDER} THEN ?"
           " ELSE last_order_at END",
           (value, _sortable(at), at))


# -- messages ------------------------------------------------------------------------
_RANK = "CASE {col} " + " ".join(f"WHEN '{s}' THEN {i}" for i, s in enumerate(FUNNEL)) + " ELSE -1 END"
# Only the engine's own reports (queued, suppressed) fill in who/what/where on a row that
# a provider report created first; other reports leave those indexed columns alone.
_IDENTITY = ("contact_id", "journey_id", "version", "node_id", "broadcast_id", "template")
_IDENTIFYING = ("queued", "suppressed")


def _message_sql(status: str) -> str:
    keep_first = [f"{col} = COALESCE(messages.{col}, excluded.{col})"
                  for col in (*(_IDENTITY if status in _IDENTIFYING else ()), "channel")]
    return (
        "INSERT INTO messages(workspace, message_id, contact_id, journey_id, version, node_id, broadcast_id,"
        f" channel, template, status, {status}_at, reason, provider, provider_message_id)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
        " ON CONFLICT(workspace, message_id) DO UPDATE SET " + ", ".join(keep_first) + ","
        f" status = CASE WHEN {_RANK.format(col='excluded.status')} > {_RANK.format(col='messages.status')}"
        " THEN excluded.status ELSE messages.status END,"
        f" {status}_at = CASE WHEN messages.{status}_at IS NULL OR excluded.{status}_at < messages.{status}_at"
        f" THEN excluded.{status}_at ELSE messages.{status}_at END,"
        " reason = COALESCE(excluded.reason, messages.reason),"
        " provider = COALESCE(excluded.provider, messages.provider),"
        " provider_message_id = COALESCE(messages.provider_message_id, excluded.provider_message_id)"
    )


_MESSAGE_SQL = {status: _message_sql(status) for status in FUNNEL}


def message_status(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """message.<status>: create or advance the message's row."""
    data = event.get("data") or {}
    message_id = data.get("message_id")
    if not message_id:
        return
    status = event["type"].split(".", 1)[1]
    template = data.get("template")
    if template is not None and not isinstance(template, str):
        template = _json(template)
    reason = data.get("reason")
    if status == "bounced":
        reason = reason or data.get("bounce_type")
    conn.execute(_MESSAGE_SQL[status], (
        event["workspace"], str(message_id), event.get("contact_id"), data.get("journey_id"),
        _int(data.get("version")), data.get("node_id"), data.get("broadcast_id"),
        data.get("channel"), template, status, event.get("occurred_at"), _text(reason), data.get("provider"),
        _text(data.get("provider_message_id")),
    ))


# -- journeys ------------------------------------------------------------------------
def _node(conn: sqlite3.Connection, event: dict[str, Any], node_id: str, entered: int, current: int,
          exited: int) -> None:
    """Add the deltas to the node's counters (the row is created on first sight)."""
    data = event["data"]
    conn.execute(
        "INSERT INTO journey_node_stats(workspace, journey_id, version, node_id, entered, current, exited)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT(workspace, journey_id, version, node_id) DO UPDATE SET"
        " entered = journey_node_stats.entered + excluded.entered,"
        " current = journey_node_stats.current + excluded.current,"
        " exited = journey_node_stats.exited + excluded.exited",
        (event["workspace"], data["journey_id"], _int(data.get("version")) or 0, node_id, entered, current, exited),
    )


def journey_entered(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    data, at = event["data"], event.get("occurred_at")
    conn.execute(
        "INSERT INTO journey_instances(workspace, contact_id, journey_id, version, state, node_id, entered_at,"
        " updated_at, exited_at, exit_reason, entries) VALUES (?,?,?,?,'active',NULL,?,?,NULL,NULL,1)"
        " ON CONFLICT(workspace, contact_id, journey_id) DO UPDATE SET version = excluded.version,"
        " state = 'active', node_id = NULL, entered_at = excluded.entered_at, updated_at = excluded.updated_at,"
        " exited_at = NULL, exit_reason = NULL, entries = journey_instances.entries + 1",
        (event["workspace"], event["contact_id"], data["journey_id"], _int(data.get("version")) or 0, at, at),
    )


def journey_node_entered(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    data = event["data"]
    if not data.get("node_id"):
        return
    conn.execute(
        "UPDATE journey_instances SET node_id = ?, updated_at = ?"
        " WHERE workspace = ? AND contact_id = ? AND journey_id = ?",
        (data["node_id"], event.get("occurred_at"), event["workspace"], event["contact_id"], data["journey_id"]),
    )
    _node(conn, event, data["node_id"], entered=1, current=1, exited=0)
    if data.get("from_node"):
        _node(conn, event, data["from_node"], entered=0, current=-1, exited=0)


def journey_exited(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    data, at = event["data"], event.get("occurred_at")
    conn.execute(
        "UPDATE journey_instances SET state = 'done', node_id = COALESCE(?, node_id), updated_at = ?,"
        " exited_at = ?, exit_reason = ? WHERE workspace = ? AND contact_id = ? AND journey_id = ?",
        (data.get("node_id"), at, at, data.get("reason"), event["workspace"], event["contact_id"],
         data["journey_id"]),
    )
    if data.get("node_id"):
        _node(conn, event, data["node_id"], entered=0, current=-1, exited=1)


def journey_goal_reached(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    conn.execute(
        "UPDATE journey_instances SET goals = goals + 1, updated_at = ?"
        " WHERE workspace = ? AND contact_id = ? AND journey_id = ?",
        (event.get("occurred_at"), event["workspace"], event["contact_id"], event["data"]["journey_id"]),
    )


def _contact_scoped(handler: Handler) -> Handler:
    def run(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
        if event.get("contact_id"):
            handler(conn, event)
    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _journey_scoped(handler: Handler) -> Handler:
    def run(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
        if event.get("contact_id") and (event.get("data") or {}).get("journey_id"):
            handler(conn, event)
    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def _both(first: Handler, second: Handler) -> Handler:
    def run(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
        first(conn, event)
        second(conn, event)
    run.__name__ = run.__qualname__ = first.__name__
    run.__doc__ = first.__doc__
    return run


# The analytics tables (orders, attributions, offers, segment membership, rollups) live in
# their own modules; imported here, after the helpers they share with this one.
from projections import commerce, membership, rollups  # noqa: E402

_tracked_message = rollups.with_message_stats(message_status, after=commerce.message_identified)

HANDLERS: dict[str, Handler] = {
    "contact.created": _contact_scoped(contact_changed),
    "contact.updated": _contact_scoped(contact_changed),
    "contact.tagged": _contact_scoped(contact_tagged),
    "contact.untagged": _contact_scoped(contact_tagged),
    "contact.subscribed": _contact_scoped(contact_subscription),
    "contact.unsubscribed": _contact_scoped(contact_subscription),
    "contact.deleted": _contact_scoped(_both(contact_deleted, commerce.contact_erased)),
    "order.placed": _contact_scoped(_both(order_placed, commerce.order_placed)),
    **{f"message.{status}": _tracked_message for status in FUNNEL},
    "journey.entered": _journey_scoped(journey_entered),
    "journey.node_entered": _journey_scoped(journey_node_entered),
    "journey.exited": _journey_scoped(journey_exited),
    "journey.goal_reached": _journey_scoped(journey_goal_reached),
    "segment.entered": _contact_scoped(membership.segment_entered),
    "segment.exited": _contact_scoped(membership.segment_exited),
    "offer.issued": commerce.offer_issued,
    "offer.redeemed": commerce.offer_redeemed,
}
