"""Orders, their attribution to a clicked message, and QR offers in the read model.

``orders``: one row per ``(workspace, order_id)`` from ``order.placed``; the first event
with an order id wins and a later one with the same order id (a client retry with a new
event id) changes nothing here. ``contacts.order_count``/``lifetime_value`` count every
``order.placed`` event, as the segment rules do (``projections.handlers``).

``attributions``: when an order is projected, the contact's message with the latest
``messages.clicked_at`` within the attribution window before the order
(``clicked_at`` in ``[placed_at - window, placed_at]``; ties: the larger message id)
gets the order; an order without such a click has no attribution row. The window is
``SWITCHBACK_ATTRIBUTION_WINDOW`` (ISO-8601 duration, default ``P7D``). The choice uses
the clicks projected before the order, that is, what the log holds before the order in
log order: a click reported after the order was projected never re-attributes it, even
if its ``clicked_at`` is earlier, and a rebuild (the same log, the same order) gives the
same answer. The attributed message's journey, broadcast and node are copied from
``messages``; when the click was reported before ``message.queued`` named them (Kafka
topics interleave), the queued report fills them in later and moves the revenue.

``daily_revenue`` (``projections.rollups``) adds every new order to the bucket of its
day, attributed journey/broadcast and currency.

``offers`` (``offer.issued``) and ``offer_redemptions`` (``offer.redeemed``, one row per
use) hold the facts of ``engine.offers.issued_event``/``redeemed_event``: never the token.

Erasure (``contact.deleted``): the ``data`` of the contact's orders becomes ``'{}'``;
amounts, ids and dates stay, as in ``messages``.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import timedelta
from functools import lru_cache
from typing import Any

import orjson

from journeys.durations import DurationError, parse_duration
from journeys.events import parse_time
from projections import rollups

WINDOW_ENV = "SWITCHBACK_ATTRIBUTION_WINDOW"
DEFAULT_WINDOW = "P7D"


@lru_cache(maxsize=16)
def _window(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except DurationError as exc:
        raise ValueError(f"{WINDOW_ENV}: {exc}") from None


def attribution_window(env: dict[str, str] | None = None) -> timedelta:
    """The attribution window from ``SWITCHBACK_ATTRIBUTION_WINDOW`` (default 7 days);
    ValueError naming the variable when it is not an ISO-8601 duration."""
    text = (os.environ if env is None else env).get(WINDOW_ENV) or DEFAULT_WINDOW
    return _window(text.strip())


def _amount(value: Any) -> float:
    from projections.handlers import _amount as amount  # one parsing rule for amounts

    return amount(value)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _epoch(stamp: Any) -> float | None:
    return _parsed(stamp) if isinstance(stamp, str) else None


@lru_cache(maxsize=65536)
def _parsed(stamp: str) -> float | None:
    try:
        return parse_time(stamp)
    except ValueError:
        return None


# -- orders and attributions -------------------------------------------------------------
def last_click(conn: sqlite3.Connection, workspace: str, contact_id: str, placed_at: str,
               window: timedelta) -> tuple | None:
    """``(message_id, journey_id, broadcast_id, node_id, clicked_at)`` of the contact's
    latest click within ``window`` before ``placed_at``, or None."""
    placed = _epoch(placed_at)
    if placed is None:
        return None
    start = placed - window.total_seconds()
    best, best_key = None, None
    rows = conn.execute(
        "SELECT message_id, journey_id, broadcast_id, node_id, clicked_at FROM messages"
        " WHERE workspace = ? AND contact_id = ? AND clicked_at IS NOT NULL", (workspace, contact_id))
    for row in rows:
        clicked = _epoch(row[4])
        if clicked is None or not start <= clicked <= placed:
            continue
        key = (clicked, str(row[0]))
        if best_key is None or key > best_key:
            best, best_key = tuple(row), key
    return best


def order_placed(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """order.placed: the ``orders`` row, its attribution and the revenue rollup."""
    data = event.get("data") or {}
    order_id = data.get("order_id")
    if order_id in (None, ""):
        return
    workspace, contact_id, placed_at = event["workspace"], event["contact_id"], event.get("occurred_at")
    amount, currency = _amount(data.get("amount")), _text(data.get("currency"))
    cur = conn.execute(
        "INSERT INTO orders(workspace, order_id, contact_id, placed_at, amount, currency, data)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT(workspace, order_id) DO NOTHING",
        (workspace, str(order_id), contact_id, placed_at, amount, currency,
         orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()))
    if cur.rowcount != 1:
        return  # this order id was projected before
    click = last_click(conn, workspace, contact_id, placed_at, attribution_window())
    journey_id = broadcast_id = None
    if click is not None:
        message_id, journey_id, broadcast_id, node_id, clicked_at = click
        conn.execute(
            "INSERT INTO attributions(workspace, order_id, contact_id, message_id, journey_id, broadcast_id,"
            " node_id, clicked_at, placed_at, amount, currency) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(workspace, order_id) DO NOTHING",
            (workspace, str(order_id), contact_id, str(message_id), journey_id, broadcast_id, node_id, clicked_at,
             placed_at, amount, currency))
    rollups.add_revenue(conn, workspace, placed_at, journey_id, broadcast_id, currency, 1, amount)


def message_identified(conn: sqlite3.Connection, event: dict[str, Any], before: tuple | None,
                       after: tuple | None) -> None:
    """After a message report: attributions of that message that miss its journey, broadcast
    or node take them from ``messages`` (and their revenue moves to the journey's bucket)."""
    if event["type"] not in ("message.queued", "message.suppressed") or after is None:
        return
    workspace, message_id = event["workspace"], str(event["data"]["message_id"])
    found = conn.execute(
        "SELECT journey_id, broadcast_id, node_id FROM messages WHERE workspace = ? AND message_id = ?",
        (workspace, message_id)).fetchone()
    if found is None or all(v is None for v in found):
        return
    journey_id, broadcast_id, node_id = found
    stale = conn.execute(
        "SELECT order_id, journey_id, broadcast_id, node_id, placed_at, currency, amount FROM attributions"
        " WHERE workspace = ? AND message_id = ? ORDER BY order_id", (workspace, message_id)).fetchall()
    for order_id, old_journey, old_broadcast, old_node, placed_at, currency, amount in stale:
        new = (old_journey if old_journey is not None else journey_id,
               old_broadcast if old_broadcast is not None else broadcast_id,
               old_node if old_node is not None else node_id)
        if new == (old_journey, old_broadcast, old_node):
            continue
        conn.execute("UPDATE attributions SET journey_id = ?, broadcast_id = ?, node_id = ?"
                     " WHERE workspace = ? AND order_id = ?", (*new, workspace, order_id))
        if new[:2] != (old_journey, old_broadcast):
            rollups.add_revenue(conn, workspace, placed_at, old_journey, old_broadcast, currency, -1, -amount)
            rollups.add_revenue(conn, workspace, placed_at, new[0], new[1], currency, 1, amount)


def contact_erased(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """contact.deleted: blank the contact's order payloads (addresses, items); keep the numbers."""
    conn.execute("UPDATE orders SET data = '{}' WHERE workspace = ? AND contact_id = ? AND data <> '{}'",
                 (event["workspace"], event["contact_id"]))


# -- offers ----------------------------------------------------------------------------
def offer_issued(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """offer.issued: one ``offers`` row per offer id (the first report wins)."""
    data = event.get("data") or {}
    if not data.get("offer_id"):
        return
    conn.execute(
        "INSERT INTO offers(workspace, offer_id, contact_id, campaign, message_id, kind, value, max_uses,"
        " issued_at, expires_at) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(workspace, offer_id) DO NOTHING",
        (event["workspace"], str(data["offer_id"]), event.get("contact_id"), _text(data.get("campaign")),
         _text(data.get("message_id")), _text(data.get("kind")), _text(data.get("value")),
         _whole(data.get("max_uses")), _text(data.get("issued_at") or event.get("occurred_at")),
         _text(data.get("expires_at"))))


def offer_redeemed(conn: sqlite3.Connection, event: dict[str, Any]) -> None:
    """offer.redeemed: one ``offer_redemptions`` row per offer id and use."""
    data = event.get("data") or {}
    use = _whole(data.get("use"))
    if not data.get("offer_id") or use is None:
        return
    conn.execute(
        "INSERT INTO offer_redemptions(workspace, offer_id, use, contact_id, campaign, redeemed_at, value,"
        " redeemed_by) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(workspace, offer_id, use) DO NOTHING",
        (event["workspace"], str(data["offer_id"]), use, event.get("contact_id"), _text(data.get("campaign")),
         _text(data.get("redeemed_at") or event.get("occurred_at")), _text(data.get("value")),
         _text(data.get("by"))))


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
