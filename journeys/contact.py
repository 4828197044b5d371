"""A contact's state, folded from its events: what rules and templates read.

``apply_event(state, event)`` is a pure fold over plain dicts (JSON-ready, cheap to
copy). The engine keeps one state per contact next to its journey instances; the
read model in ``projections`` keeps the analyst-facing tables.

Event history is kept per type as the last ``HISTORY`` timestamps (plus a running
total), which is what ``{"event": ..., "count": ..., "within": ...}`` rules read;
counts above ``HISTORY`` inside a window are capped there (the SQL evaluator over the
``events`` table is exact).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from journeys.events import CHANNELS, parse_time

HISTORY = 200
ENGAGEMENTS = 100
# Fields that identify and address a contact; the rest of ``data`` are attributes too.
_NOT_RECORDED = frozenset({"journey.node_entered"})
_ENGAGEMENT = {"message.opened": "opened", "message.clicked": "clicked"}


def new_contact(contact_id: str, workspace: str = "default") -> dict[str, Any]:
    return {
        "id": contact_id,
        "workspace": workspace,
        "exists": False,
        "attributes": {},
        "tags": [],
        "unsubscribed": [],
        "suppressed": [],
        "order_count": 0,
        "lifetime_value": 0.0,
        "last_order_at": None,
        "events": {},
        "totals": {},
        "engaged": [],
        "segments": [],
    }


def apply_event(state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Return the contact's state after ``event`` (``state`` is not modified)."""
    kind = event["type"]
    data = event.get("data") or {}
    at = parse_time(event.get("occurred_at"))
    new = dict(state)
    if kind == "contact.deleted":
        return new_contact(state["id"], state["workspace"]) | {"deleted": True}
    if kind in ("contact.created", "contact.updated"):
        attrs = dict(state["attributes"])
        for key, value in data.items():
            if key == "tags":
                continue
            if value is None:
                attrs.pop(key, None)
            else:
                attrs[key] = value
        new["attributes"] = attrs
        new["exists"] = True
        new.pop("deleted", None)
        if isinstance(data.get("tags"), list):
            new["tags"] = sorted({*state["tags"], *(str(t).lower() for t in data["tags"])})
    elif kind in ("contact.tagged", "contact.untagged"):
        tags = {str(t).lower() for t in (data.get("tags") or [data.get("tag")]) if t}
        current = set(state["tags"])
        new["tags"] = sorted(current | tags if kind == "contact.tagged" else current - tags)
    elif kind in ("contact.subscribed", "contact.unsubscribed"):
        channel = data.get("channel", "all")
        channels = set(CHANNELS) if channel == "all" else {channel}
        current = set(state["unsubscribed"])
        new["unsubscribed"] = sorted(
            current | channels if kind == "contact.unsubscribed" else current - channels
        )
    elif kind == "order.placed":
        new["order_count"] = state["order_count"] + 1
        new["lifetime_value"] = round(state["lifetime_value"] + _amount(data.get("amount")), 2)
        new["last_order_at"] = max(at, state["last_order_at"] or 0.0)
    elif kind in ("message.bounced", "message.complained"):
        if kind == "message.complained" or data.get("bounce_type", "hard") == "hard":
            channel = data.get("channel", "email")
            new["suppressed"] = sorted({*state["suppressed"], channel})
    elif kind in ("segment.entered", "segment.exited"):
        segments = set(state["segments"])
        segment = data.get("segment_id")
        new["segments"] = sorted(segments | {segment} if kind == "segment.entered" else segments - {segment})
    if kind in _ENGAGEMENT:
        engaged = [*state["engaged"], {
            "kind": _ENGAGEMENT[kind],
            "message_id": data.get("message_id"),
            "journey_id": data.get("journey_id"),
            "broadcast_id": data.get("broadcast_id"),
            "at": at,
        }]
        new["engaged"] = engaged[-ENGAGEMENTS:]
    if kind not in _NOT_RECORDED:
        history = dict(state["events"])
        stamps = [*history.get(kind, ()), at]
        stamps.sort()
        history[kind] = stamps[-HISTORY:]
        new["events"] = history
        totals = dict(state["totals"])
        totals[kind] = totals.get(kind, 0) + 1
        new["totals"] = totals
    return new


def _amount(value: Any) -> float:
    try:
        return float(Decimal(str(value))) if value is not None else 0.0
    except InvalidOperation:
        return 0.0


def address(state: dict[str, Any], channel: str) -> str | None:
    """Where a message on ``channel`` goes, or None when the contact has no address."""
    attrs = state["attributes"]
    if channel == "email":
        return attrs.get("email") or None
    number = attrs.get("whatsapp") if channel == "whatsapp" else None
    return number or attrs.get("phone") or None
