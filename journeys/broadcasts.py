"""Broadcasts: a one-off message to everyone, some tags, a rule or a segment.

A broadcast is a one-node journey under the hood, so its stats and analytics are a
journey's (``broadcast-<id>``)::

    entry (broadcast.targeted, data.broadcast_id = id)
      -> [wait until the scheduled time]
      -> send (channel, template, offer, rate_limit)
      -> end

The shell (``api.broadcasts``) picks the audience from the engine's contact states
with ``audience_matches`` and appends one ``broadcast.targeted`` event per recipient
(``targeted_events``); the journey does the rest. The broadcast's own fields (name,
audience, schedule, targeted count, status) travel in the graph under ``broadcast``:
the graph keeps unknown fields, so the journey draft is the broadcast's record.

Everything here is pure: times are epoch seconds passed in, ids are given.
"""

from __future__ import annotations

import hashlib
import math
import re
from datetime import UTC, datetime
from typing import Any, Iterable, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from journeys.contact import address
from journeys.durations import DurationError, parse_duration
from journeys.events import Event, iso_from_epoch
from journeys.rules import RuleError, evaluate, parse_rule

TARGETED = "broadcast.targeted"
# Targeting events are the system's own: the API refuses this source from clients, so
# nobody can add recipients to a broadcast by sending a look-alike event.
TARGETING_SOURCE = "engine"
JOURNEY_PREFIX = "broadcast-"
DEFAULT_RATE = {"email": 100, "sms": 10, "whatsapp": 10}  # messages per minute
STATUSES = ("targeting", "scheduled", "sending", "completed", "cancelled")
MAX_EVENT_ID = 128  # journeys.events.Event.id
_ID = re.compile(r"^[A-Za-z0-9_\-]{1,100}$")


class BroadcastError(ValueError):
    """The broadcast cannot be sent as asked; ``details`` are ``{"loc", "message"}``."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{d['loc']}: {d['message']}" for d in details))
        self.details = details


class Offer(BaseModel):
    """A QR offer issued with each message (see docs/channels/offers.md)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["qr"] = "qr"
    expires_in: str = "P14D"
    max_uses: int = Field(default=1, ge=1, le=1_000_000)
    value: str | int | float | None = None
    description: str | None = Field(default=None, max_length=500)

    @field_validator("expires_in")
    @classmethod
    def _duration(cls, value: str) -> str:
        try:
            parse_duration(value)
        except DurationError as exc:
            raise ValueError(str(exc)) from None
        return value


class Audience(BaseModel):
    """Exactly one of: ``{"all": true}``, ``{"tags": [...]}`` (any of them),
    ``{"rule": <rule>}`` or ``{"segment": "<segment id>"}``."""

    model_config = ConfigDict(extra="forbid")
    all: Literal[True] | None = None
    tags: list[str] | None = Field(default=None, min_length=1, max_length=100)
    rule: dict[str, Any] | None = None
    segment: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str] | None) -> list[str] | None:
        if tags is None:
            return None
        if any(not t.strip() or len(t) > 100 for t in tags):
            raise ValueError("each tag is a non-empty name of at most 100 characters")
        return sorted({t.strip().lower() for t in tags})

    @model_validator(mode="after")
    def _one(self) -> Audience:
        given = [k for k in ("all", "tags", "rule", "segment") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError('give exactly one of {"all": true}, {"tags": [...]}, {"rule": {...}}, {"segment": "id"}')
        return self

    def as_rule(self) -> dict[str, Any] | None:
        """The audience as a segment rule (None: everyone)."""
        if self.tags is not None:
            return {"any": [{"tag": t} for t in self.tags]}
        if self.rule is not None:
            return self.rule
        if self.segment is not None:
            return {"segment": self.segment}
        return None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class Broadcast(BaseModel):
    """What the marketer asks for (``POST /v1/broadcasts``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    channel: Literal["email", "sms", "whatsapp"]
    template: str = Field(min_length=1, max_length=100)
    audience: Audience
    schedule: str = Field(default="now", description="'now' or an ISO date-time with a time zone, in the future")
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=100_000)
    offer: Offer | None = None

    @field_validator("template")
    @classmethod
    def _template_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("a template id is 1-100 letters, digits, '_' or '-'")
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> str:
        if value is None or value == "now":
            return "now"
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
            except ValueError:
                moment = None
            if moment is not None and moment.tzinfo is not None:
                return iso_from_epoch(moment.timestamp())
        raise ValueError("must be 'now' or an ISO date-time with a time zone, e.g. '2026-12-01T09:00:00Z'")

    @property
    def rate_limit(self) -> int:
        return self.rate_limit_per_minute or DEFAULT_RATE[self.channel]

    def send_at(self) -> float | None:
        """The scheduled instant (epoch seconds), or None for 'now'."""
        if self.schedule == "now":
            return None
        return datetime.fromisoformat(self.schedule.replace("Z", "+00:00")).timestamp()


# -- checks -------------------------------------------------------------------------------
def problems(broadcast: Broadcast, now: float, template_channel: str | None) -> list[dict[str, str]]:
    """What stops this broadcast from being sent at ``now``.

    ``template_channel``: the channel of the stored template ``broadcast.template``, or
    None when there is no such template.
    """
    found = audience_problems(broadcast.audience)
    if template_channel is None:
        found.append({"loc": "template", "message": f"template '{broadcast.template}' does not exist; create it first"})
    elif template_channel != broadcast.channel:
        found.append({"loc": "template", "message": f"template '{broadcast.template}' is for {template_channel};"
                                                    f" this broadcast sends {broadcast.channel}"})
    send_at = broadcast.send_at()
    if send_at is not None and send_at <= now:
        found.append({"loc": "schedule", "message": f"{broadcast.schedule} is in the past (now is {iso_from_epoch(now)});"
                                                    " use 'now' or a later time"})
    return found


def audience_problems(audience: Audience, path: str = "audience") -> list[dict[str, str]]:
    """A malformed audience rule, with the path of the problem (``audience.rule.all[1].op``)."""
    if audience.rule is None:
        return []
    try:
        parse_rule(audience.rule, f"{path}.rule")
    except RuleError as exc:
        return [{"loc": exc.path, "message": exc.message}]
    return []


def check(broadcast: Broadcast, now: float, template_channel: str | None) -> Broadcast:
    """``broadcast`` if it can be sent, else ``BroadcastError`` with every problem."""
    found = problems(broadcast, now, template_channel)
    if found:
        raise BroadcastError(found)
    return broadcast


# -- the journey ----------------------------------------------------------------------------
def is_broadcast_id(value: str) -> bool:
    return bool(_ID.match(value)) and len(journey_id(value)) <= 100


def journey_id(broadcast_id: str) -> str:
    return f"{JOURNEY_PREFIX}{broadcast_id}"


def broadcast_id_of(journey: str) -> str | None:
    return journey[len(JOURNEY_PREFIX):] if journey.startswith(JOURNEY_PREFIX) else None


def record(broadcast: Broadcast, broadcast_id: str, created_at: float, state: str = "targeting",
           targeted: int = 0) -> dict[str, Any]:
    """The broadcast's own fields, as kept in the journey graph under ``broadcast``."""
    send_at = broadcast.send_at()
    out: dict[str, Any] = {
        "id": broadcast_id,
        "journey_id": journey_id(broadcast_id),
        "name": broadcast.name,
        "channel": broadcast.channel,
        "template": broadcast.template,
        "audience": broadcast.audience.to_json(),
        "schedule": broadcast.schedule,
        "send_at": iso_from_epoch(send_at) if send_at is not None else None,
        "rate_limit_per_minute": broadcast.rate_limit,
        "offer": broadcast.offer.model_dump(mode="json", exclude_none=True) if broadcast.offer else None,
        "targeted": targeted,
        "status": state,
        "created_at": iso_from_epoch(created_at),
    }
    return out


def broadcast_journey(broadcast: Broadcast, broadcast_id: str, created_at: float) -> dict[str, Any]:
    """The journey graph JSON of ``broadcast`` created at ``created_at`` (epoch seconds).

    A scheduled broadcast waits ``send_at - created_at`` (whole seconds, rounded up)
    after entry, so no message goes out before the scheduled time.
    """
    if not is_broadcast_id(broadcast_id):
        raise BroadcastError([{"loc": "id", "message": "a broadcast id is 1-90 letters, digits, '_' or '-'"}])
    jid = journey_id(broadcast_id)
    send: dict[str, Any] = {"label": broadcast.name, "channel": broadcast.channel, "template": broadcast.template,
                            "rate_limit": {"per_minute": broadcast.rate_limit}, "broadcast_id": broadcast_id}
    if broadcast.offer is not None:
        send["offer"] = broadcast.offer.model_dump(mode="json", exclude_none=True)
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "entry", "position": {"x": 0, "y": 0},
         "data": {"label": "Targeted by the broadcast", "trigger": {"event": TARGETED},
                  "filter": {"all": [{"property": "data.broadcast_id", "op": "eq", "value": broadcast_id},
                                     {"property": "source", "op": "eq", "value": TARGETING_SOURCE}]}}},
    ]
    edges: list[dict[str, Any]] = []
    last = "start"
    send_at = broadcast.send_at()
    if send_at is not None:
        delay = max(1, math.ceil(send_at - created_at))
        nodes.append({"id": "wait", "type": "wait", "position": {"x": 0, "y": 140},
                      "data": {"label": f"Until {broadcast.schedule}", "mode": "duration", "duration": f"PT{delay}S",
                               "until": broadcast.schedule}})
        edges.append({"id": "e-start-wait", "source": "start", "target": "wait"})
        last = "wait"
    nodes.append({"id": "send", "type": "send", "position": {"x": 0, "y": 140 * len(nodes)}, "data": send})
    nodes.append({"id": "end", "type": "end", "position": {"x": 0, "y": 140 * len(nodes)}, "data": {"label": "Done"}})
    edges.append({"id": f"e-{last}-send", "source": last, "target": "send"})
    edges.append({"id": "e-send-end", "source": "send", "target": "end"})
    return {
        "id": jid,
        "name": f"Broadcast: {broadcast.name}",
        "settings": {"reentry": "never"},
        "nodes": nodes,
        "edges": edges,
        "broadcast": record(broadcast, broadcast_id, created_at),
    }


# -- the audience ------------------------------------------------------------------------
def audience_matches(rule: dict[str, Any] | None, contact: dict[str, Any], now: float) -> bool:
    """Is ``contact`` (a state from ``journeys.contact``) in the audience ``rule``
    (``Audience.as_rule()``; None = everyone)? Erased contacts never are."""
    if contact.get("deleted"):
        return False
    return rule is None or evaluate(rule, contact, now)


def reachable(contact: dict[str, Any], channel: str) -> bool:
    """Would a message on ``channel`` go out (subscribed, not suppressed, has an address)?"""
    return (channel not in contact["unsubscribed"] and channel not in contact["suppressed"]
            and address(contact, channel) is not None)


def select(audience: Audience, contacts: Iterable[dict[str, Any]], now: float) -> Iterator[str]:
    """Ids of the contacts in ``audience``, in the order given."""
    rule = audience.as_rule()
    for contact in contacts:
        if audience_matches(rule, contact, now):
            yield contact["id"]


def count(audience: Audience, contacts: Iterable[dict[str, Any]], now: float,
          channel: str | None = None) -> dict[str, int]:
    """``{"count": n}`` of the audience, plus ``reachable`` on ``channel`` when given."""
    rule = audience.as_rule()
    total = ok = 0
    for contact in contacts:
        if audience_matches(rule, contact, now):
            total += 1
            if channel is not None and reachable(contact, channel):
                ok += 1
    return {"count": total} if channel is None else {"count": total, "reachable": ok}


# -- the targeting events ------------------------------------------------------------------
def targeted_event_id(broadcast_id: str, contact_id: str) -> str:
    """``broadcast:<id>:<contact_id>``: one per recipient, so a retry never targets twice.
    A contact id too long for an event id is replaced by its hash (``h<hex>``)."""
    plain = f"broadcast:{broadcast_id}:{contact_id}"
    if len(plain) <= MAX_EVENT_ID:
        return plain
    return f"broadcast:{broadcast_id}:h" + hashlib.blake2b(contact_id.encode(), digest_size=16).hexdigest()


def targeted_events(broadcast_id: str, workspace: str, contact_ids: Iterable[str],
                    at: float) -> Iterator[dict[str, Any]]:
    """The ``broadcast.targeted`` envelopes (log records) for ``contact_ids``, stamped ``at``.

    The envelope is validated once with ``journeys.events.Event``; per recipient only the
    id and contact id change (contact ids come from the engine's states, which only
    validated events created).
    """
    stamp = iso_from_epoch(at)
    prototype = Event.model_validate({
        "id": targeted_event_id(broadcast_id, "prototype"), "type": TARGETED, "workspace": workspace,
        "contact_id": "prototype", "occurred_at": stamp, "received_at": stamp, "source": TARGETING_SOURCE,
        "data": {"broadcast_id": broadcast_id},
    }).to_record(received_at=datetime.fromtimestamp(at, UTC))
    for contact_id in contact_ids:
        yield {**prototype, "id": targeted_event_id(broadcast_id, contact_id), "contact_id": contact_id,
               "data": {"broadcast_id": broadcast_id}}


# -- progress -------------------------------------------------------------------------------
PROGRESS = ("queued", "sent", "delivered", "opened", "clicked", "bounced", "complained", "failed", "suppressed")


def status(stored: str, journey_status: str, send_at: float | None, now: float, targeted: int,
           finished: int, pending: int = 0) -> str:
    """The broadcast's status now: ``targeting`` (being created), ``scheduled``,
    ``sending``, ``completed`` (every targeted contact went through the journey and no
    message waits for the sender: ``pending`` is 0) or ``cancelled`` (its journey is
    paused: cancelled broadcasts are never resumed)."""
    if stored == "cancelled" or journey_status == "paused":
        return "cancelled"
    if stored == "targeting":
        return "targeting"
    if send_at is not None and now < send_at:
        return "scheduled"
    if finished >= targeted and pending == 0:
        return "completed"
    return "sending"
