"""The event envelope: the public contract for everything that happens to a contact.

Developers emit these over HTTP or Kafka, analysts query them, the interpreter reacts
to them. Field names are fixed by docs/events.md. Validation happens once, at the
edge (HTTP, CLI, Kafka decode); runtimes pass events on as plain dicts.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any, Literal

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from ulid import ULID

SOURCES = ("api", "kafka", "ses", "twilio", "engine", "import", "tracking")
CHANNELS = ("email", "sms", "whatsapp")

# type -> short description; unknown types are custom track events and are kept.
CATALOGUE: dict[str, str] = {
    "contact.created": "a contact was created; data = attributes (email, phone, first_name, ...)",
    "contact.updated": "attribute patch; data = changed attributes (null removes one)",
    "contact.tagged": "data.tag (or data.tags) added",
    "contact.untagged": "data.tag (or data.tags) removed",
    "contact.subscribed": "data.channel = email|sms|whatsapp|all",
    "contact.unsubscribed": "data.channel = email|sms|whatsapp|all",
    "contact.deleted": "erasure: the contact and its personal data are removed",
    "cart.updated": "data.cart_id, data.items, data.total",
    "order.placed": "data.order_id, data.amount (decimal string), data.currency",
    "message.queued": "the engine decided to send; data.message_id, channel, template",
    "message.sent": "the provider accepted the message",
    "message.delivered": "the provider reports delivery",
    "message.opened": "open pixel or provider open",
    "message.clicked": "tracked link followed; data.url",
    "message.bounced": "data.bounce_type = hard|soft",
    "message.complained": "spam complaint",
    "message.failed": "gave up; data.reason",
    "message.suppressed": "not sent; data.reason (unsubscribed, suppressed, no_address, frequency_cap, cancelled, ...)",
    "message.delayed": "the provider reports a delivery delay (SES DeliveryDelay); informational",
    "offer.issued": "a QR offer token was issued",
    "offer.redeemed": "an offer token was redeemed",
    "broadcast.targeted": "the contact is a recipient of broadcast data.broadcast_id (engine)",
    "segment.entered": "data.segment_id",
    "segment.exited": "data.segment_id",
    "journey.entered": "data.journey_id, data.version",
    "journey.node_entered": "data.journey_id, data.version, data.node_id, data.from_node",
    "journey.exited": "data.journey_id, data.version, data.node_id, data.reason",
    "journey.goal_reached": "data.journey_id, data.version, data.goal",
}

_TYPE_RE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")
MAX_DATA_BYTES = 64 * 1024


def new_event_id() -> str:
    """A fresh, time-ordered unique id (ULID)."""
    return str(ULID())


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """One event envelope. Unknown top-level fields are rejected (they are typos)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=new_event_id, min_length=1, max_length=128)
    type: str = Field(min_length=1, max_length=100)
    workspace: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[a-z0-9_\-]+$")
    contact_id: str | None = Field(default=None, min_length=1, max_length=128)
    occurred_at: AwareDatetime = Field(default_factory=utcnow)
    received_at: AwareDatetime | None = None
    source: Literal["api", "kafka", "ses", "twilio", "engine", "import", "tracking"] = "api"
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not _TYPE_RE.match(value):
            raise ValueError("must be a dotted name such as 'order.placed'")
        return value

    @model_validator(mode="after")
    def _contract(self) -> Event:
        if self.contact_id is None and not self.type.startswith("workspace."):
            raise ValueError("contact_id is required for contact events")
        if len(orjson.dumps(self.data)) > MAX_DATA_BYTES:
            raise ValueError(f"data is larger than {MAX_DATA_BYTES // 1024} KiB; keep large payloads elsewhere and send a reference")
        check = _DATA_CHECKS.get(self.type)
        if check:
            check(self.data)
        return self

    def to_record(self, received_at: datetime | None = None) -> dict[str, Any]:
        """The plain dict carried through logs and runtimes (ISO timestamps, UTC)."""
        return {
            "id": self.id,
            "type": self.type,
            "workspace": self.workspace,
            "contact_id": self.contact_id,
            "occurred_at": _iso(self.occurred_at),
            "received_at": _iso(received_at or self.received_at or utcnow()),
            "source": self.source,
            "data": self.data,
        }


def _iso(value: datetime) -> str:
    if value.utcoffset() == _ZERO:  # already UTC (the common case): skip the conversion
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


_ZERO = timedelta(0)


def _need(data: dict, key: str) -> Any:
    if data.get(key) in (None, ""):
        raise ValueError(f"data.{key} is required for this event type")
    return data[key]


def _channel(data: dict) -> None:
    channel = data.get("channel", "all")
    if channel not in (*CHANNELS, "all"):
        raise ValueError(f"data.channel must be one of {', '.join((*CHANNELS, 'all'))}")


def _tag(data: dict) -> None:
    tags = data.get("tags", [data.get("tag")] if "tag" in data else None)
    # a bare string is iterable too: {"tags": "vip"} would become the tags v, i, p
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t for t in tags):
        raise ValueError("data.tag (a string) or data.tags (a list of strings) is required")


def _order(data: dict) -> None:
    _need(data, "order_id")
    amount = data.get("amount")
    if amount is not None:
        try:
            finite = Decimal(str(amount)).is_finite()  # NaN/Infinity would poison lifetime_value
        except InvalidOperation:
            finite = False
        if not finite:
            raise ValueError("data.amount must be a decimal number such as '59.90'")


_DATA_CHECKS = {
    "contact.subscribed": _channel,
    "contact.unsubscribed": _channel,
    "contact.tagged": _tag,
    "contact.untagged": _tag,
    "order.placed": _order,
    "segment.entered": lambda d: _need(d, "segment_id"),
    "segment.exited": lambda d: _need(d, "segment_id"),
}


def parse_time(value: str | float | int | None) -> float:
    """Epoch seconds from an ISO timestamp (or pass a number through)."""
    if value is None:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


@lru_cache(maxsize=4096)
def iso_from_epoch(value: float) -> str:
    """ISO 8601 UTC text of an epoch time (cached: a batch stamps many events with one time)."""
    return _iso(datetime.fromtimestamp(value, UTC))
