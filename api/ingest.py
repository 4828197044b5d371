"""Ingestion at the HTTP edge: validate envelopes one by one, keep the good ones, and
report each bad one with its index and field path. Also maps the Segment HTTP spec
(``identify``/``track``) onto our envelope."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import pydantic_details
from journeys.events import Event

RESERVED_SOURCES = ("engine", "ses", "twilio", "tracking")


def check_items(items: list[Any], workspace: str, prefix: str = "batch") -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Validated records (ready for the log) and errors ``{"index", "loc", "message"}``."""
    now = datetime.now(UTC)
    records, errors = [], []
    for index, item in enumerate(items):
        where = f"{prefix}[{index}]" if prefix else ""
        if not isinstance(item, dict):
            errors.append({"index": index, "loc": where or "body", "message": "each event must be a JSON object"})
            continue
        try:
            event = Event.model_validate(item)
        except ValidationError as exc:
            for detail in pydantic_details(exc, where):
                errors.append({"index": index, **detail})
            continue
        if "workspace" in item and event.workspace != workspace:
            errors.append({"index": index, "loc": f"{where}.workspace".lstrip("."),
                           "message": f"this API key belongs to workspace '{workspace}'"})
            continue
        if event.source in RESERVED_SOURCES:
            errors.append({"index": index, "loc": f"{where}.source".lstrip("."),
                           "message": f"source '{event.source}' is reserved for the engine and provider webhooks"})
            continue
        record = event.to_record(received_at=now)
        record["workspace"] = workspace
        records.append(record)
    return records, errors


class _SegmentBase(BaseModel):
    # the Segment spec sends many optional fields (context, integrations, sentAt, ...)
    model_config = ConfigDict(extra="ignore")
    userId: str | None = Field(default=None, min_length=1, max_length=128)  # noqa: N815
    anonymousId: str | None = Field(default=None, min_length=1, max_length=128)  # noqa: N815
    messageId: str | None = Field(default=None, min_length=1, max_length=128)  # noqa: N815
    timestamp: datetime | None = None

    def contact(self) -> str:
        contact_id = self.userId or self.anonymousId
        if not contact_id:
            raise ValueError("userId (or anonymousId) is required")
        return contact_id


class Identify(_SegmentBase):
    traits: dict[str, Any] = Field(default_factory=dict)


class Track(_SegmentBase):
    event: str = Field(min_length=1, max_length=100)
    properties: dict[str, Any] = Field(default_factory=dict)


_ECOMMERCE = {"order completed": "order.placed", "cart updated": "cart.updated", "checkout started": "cart.updated"}


def track_type(name: str) -> str:
    """Segment event names ('Order Completed') to our dotted types ('order.placed')."""
    mapped = _ECOMMERCE.get(name.strip().lower())
    if mapped:
        return mapped
    if re.fullmatch(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*", name):
        return name
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "custom"


def identify_envelope(body: Identify, exists: bool) -> dict[str, Any]:
    envelope: dict[str, Any] = {"type": "contact.updated" if exists else "contact.created",
                                "contact_id": body.contact(), "data": dict(body.traits)}
    return _common(body, envelope)


def track_envelope(body: Track) -> dict[str, Any]:
    kind = track_type(body.event)
    data = dict(body.properties)
    if kind == "order.placed":
        amount = data.get("amount", data.get("total", data.get("revenue")))
        if amount is not None:
            data["amount"] = str(amount)
    return _common(body, {"type": kind, "contact_id": body.contact(), "data": data})


def _common(body: _SegmentBase, envelope: dict[str, Any]) -> dict[str, Any]:
    if body.messageId:
        envelope["id"] = body.messageId
    if body.timestamp:
        ts = body.timestamp if body.timestamp.tzinfo else body.timestamp.replace(tzinfo=UTC)
        envelope["occurred_at"] = ts.isoformat()
    return envelope
