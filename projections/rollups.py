"""Daily rollups of the read model, kept up to date by the handlers.

``daily_message_stats``: per workspace, day, journey, broadcast and channel, how many
messages reached each status that day. A message counts once per status, on the day of
that status's timestamp in ``messages`` (the first one reported), so the rollup always
equals this GROUP BY over ``messages`` (with ``''`` for a missing journey, broadcast or
channel)::

    SELECT substr(sent_at, 1, 10) AS day, COALESCE(journey_id, ''), ..., COUNT(*) AS sent ...

It is maintained by difference: ``message_status`` reads the message's row before and
after the report is applied and moves the counts that changed (a report that arrives
before ``message.queued`` counts under journey ``''`` until the queued report names the
journey; an earlier timestamp moves the count to its day). Rows whose counters all fall
to zero are deleted, so an incrementally kept rollup and a rebuilt one hold the same rows.

``daily_revenue``: per workspace, day (of ``placed_at``), attributed journey and
broadcast (``''`` when the order has no attribution) and currency: orders and revenue.
``add_revenue`` is called by ``projections.commerce`` when an order is projected and
when its attribution learns its journey later.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

STATUSES = ("queued", "sent", "delivered", "opened", "clicked", "bounced", "complained", "failed", "suppressed")
_IDENTITY = ("journey_id", "broadcast_id", "channel")
_ROW_SQL = ("SELECT " + ", ".join((*_IDENTITY, *(f"{s}_at" for s in STATUSES)))
            + " FROM messages WHERE workspace = ? AND message_id = ?")
_KEY = "workspace = ? AND day = ? AND journey_id = ? AND broadcast_id = ? AND channel = ?"
_ADD_STATS = (
    "INSERT INTO daily_message_stats(workspace, day, journey_id, broadcast_id, channel, "
    + ", ".join(STATUSES) + ") VALUES (?,?,?,?,?," + ",".join("?" * len(STATUSES)) + ")"
    " ON CONFLICT(workspace, day, journey_id, broadcast_id, channel) DO UPDATE SET "
    + ", ".join(f"{s} = daily_message_stats.{s} + excluded.{s}" for s in STATUSES)
)
_DROP_EMPTY_STATS = (f"DELETE FROM daily_message_stats WHERE {_KEY} AND "
                     + " AND ".join(f"{s} = 0" for s in STATUSES))

Handler = Callable[[sqlite3.Connection, dict[str, Any]], None]


def _day(stamp: Any) -> str | None:
    return stamp[:10] if isinstance(stamp, str) and len(stamp) >= 10 else None


def move_counts(conn: sqlite3.Connection, workspace: str, before: tuple | None, after: tuple | None) -> None:
    """Apply the difference between a message row's old and new contribution (rows as
    ``_ROW_SQL`` selects them: journey, broadcast, channel, then a timestamp per status)."""
    old_key = _bucket(before)
    new_key = _bucket(after)
    deltas: dict[tuple[str, ...], list[int]] = {}
    same_key = old_key == new_key
    for i in range(len(STATUSES)):
        if same_key and before is not None and after is not None and before[3 + i] == after[3 + i]:
            continue
        old = _day(before[3 + i]) if before is not None else None
        new = _day(after[3 + i]) if after is not None else None
        if old == new and same_key:
            continue
        if old is not None:
            deltas.setdefault((old, *old_key), [0] * len(STATUSES))[i] -= 1
        if new is not None:
            deltas.setdefault((new, *new_key), [0] * len(STATUSES))[i] += 1
    for bucket, change in sorted(deltas.items()):
        if not any(change):
            continue
        conn.execute(_ADD_STATS, (workspace, *bucket, *change))
        if min(change) < 0:
            conn.execute(_DROP_EMPTY_STATS, (workspace, *bucket))


def _bucket(row: tuple | None) -> tuple[str, str, str]:
    if row is None:
        return ("", "", "")
    return tuple("" if v is None else str(v) for v in row[:3])  # type: ignore[return-value]


def message_row(conn: sqlite3.Connection, workspace: str, message_id: str) -> tuple | None:
    row = conn.execute(_ROW_SQL, (workspace, message_id)).fetchone()
    return tuple(row) if row is not None else None


def with_message_stats(handler: Handler, after: Callable[..., None] | None = None) -> Handler:
    """``handler`` (a ``message.<status>`` handler) that also keeps ``daily_message_stats``;
    ``after(conn, event, before_row, after_row)`` runs last when the row changed."""
    def run(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
        message_id = (event.get("data") or {}).get("message_id")
        if not message_id:
            handler(conn, event)
            return
        workspace, message_id = event["workspace"], str(message_id)
        before = message_row(conn, workspace, message_id)
        handler(conn, event)
        now = message_row(conn, workspace, message_id)
        if now != before:
            move_counts(conn, workspace, before, now)
            if after is not None:
                after(conn, event, before, now)
    run.__name__ = run.__qualname__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


# -- revenue ---------------------------------------------------------------------------
_ADD_REVENUE = (
    "INSERT INTO daily_revenue(workspace, day, journey_id, broadcast_id, currency, orders, revenue)"
    " VALUES (?,?,?,?,?,?,ROUND(?, 2)) ON CONFLICT(workspace, day, journey_id, broadcast_id, currency)"
    " DO UPDATE SET orders = daily_revenue.orders + excluded.orders,"
    " revenue = ROUND(daily_revenue.revenue + excluded.revenue, 2)"
)
_DROP_EMPTY_REVENUE = ("DELETE FROM daily_revenue WHERE workspace = ? AND day = ? AND journey_id = ?"
                       " AND broadcast_id = ? AND currency = ? AND orders = 0")


def add_revenue(conn: sqlite3.Connection, workspace: str, placed_at: Any, journey_id: Any, broadcast_id: Any,
                currency: Any, orders: int, amount: float) -> None:
    """Add ``orders`` orders worth ``amount`` to a ``daily_revenue`` bucket (negative to take
    them away: a bucket left with no order is deleted). Orders without a date are not rolled up."""
    day = _day(placed_at)
    if day is None:
        return
    key = (workspace, day, _blank(journey_id), _blank(broadcast_id), _blank(currency))
    conn.execute(_ADD_REVENUE, (*key, orders, amount))
    if orders < 0:
        conn.execute(_DROP_EMPTY_REVENUE, key)


def _blank(value: Any) -> str:
    return "" if value is None else str(value)
