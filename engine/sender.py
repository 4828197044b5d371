"""The sender: turns send commands into messages, hands them to the workspace's provider
and records what happened (``message.sent`` or ``message.failed``, and ``offer.issued``
when the message carries a QR offer) in the log.

Order of work (embedded mode, one thread):

1. New commands (after the sender's stored position) are booked into the rate-limit
   buckets they pass (the provider's, and the journey's when its send node has a
   ``rate_limit``) and queued in ``scheduled_sends`` with the time the buckets allow;
   the bookings, the queue rows and the position commit in one transaction, so a
   restart neither refills a burst nor loses a command.
2. Queued sends that are due are composed (``engine.compose``) and sent, with retries
   on transient errors (``engine.providers.retry``); their events and the removal of
   their queue rows commit together.

Each command is delivered at most once in effect: providers are idempotent by
``message_id`` where they can be, and the resulting events have deterministic ids, so a
batch replayed after a crash neither records twice nor issues a second offer token.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol

import orjson

from engine import log as eventlog
from engine import state
from engine.compose import NotSendable, compose
from engine.offers import issued_event
from engine.providers.base import OutgoingMessage, Provider, Receipt
from engine.providers.registry import ProviderConfigError
from engine.providers.retry import DeliveryFailed, send_with_retry
from engine.ratelimit import Bucket
from engine.ratelimit_store import ensure_schema, reserve_in
from engine.worker import Worker
from journeys.contact import new_contact
from journeys.events import iso_from_epoch
from journeys.offers import OfferError

logger = logging.getLogger("switchback.sender")
POSITION = "sender"
HOLD_RECHECK = 5.0  # seconds between looks at a paused journey's queued message
QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS scheduled_sends (
    seq INTEGER PRIMARY KEY, send_at REAL NOT NULL, body BLOB NOT NULL, attempted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS scheduled_sends_due ON scheduled_sends (send_at, seq);
"""


class TemplateSource(Protocol):
    def get_template(self, workspace: str, template_id: str) -> dict[str, Any]: ...


class FixedProviders:
    """One provider per channel for every workspace, no provider limits (tests, tools);
    ``engine.providers.registry.ProviderRegistry`` is the configurable one."""

    def __init__(self, providers: dict[str, Provider]):
        self.providers = providers

    def get(self, workspace: str, channel: str) -> Provider:
        if channel not in self.providers:
            raise ProviderConfigError(f"no provider for channel {channel}")
        return self.providers[channel]

    def limits(self, workspace: str, channel: str, campaign_id: str | None = None,
               per_minute: float | None = None) -> list[Bucket]:
        if campaign_id is None or not per_minute:
            return []
        return [Bucket(f"campaign:{workspace}:{campaign_id}:{channel}", per_minute, max(1, -(-int(per_minute) // 60)))]

    def send(self, message: OutgoingMessage, **retry: Any) -> Receipt:
        return send_with_retry(self.get(message.workspace, message.channel), message, **retry)


class Sender:
    def __init__(self, log: eventlog.EventLog | None, templates: TemplateSource, providers, clock,
                 base_url: str = "http://127.0.0.1:8000", wait_for_commands: Callable[[float], None] | None = None,
                 *, tracker=None, postal_address: str | None = None, offers=None,
                 sleep: Callable[[float], None] = time.sleep):
        """``providers``: a ``ProviderRegistry`` or a plain ``{channel: provider}`` dict;
        ``tracker``: an ``engine.tracking.Tracker`` (tracked links, pixel, footer);
        ``offers``: an ``engine.offers.OfferBook`` that issues QR offer tokens."""
        self.log, self.templates, self.clock = log, templates, clock
        self.providers = FixedProviders(providers) if isinstance(providers, dict) else providers
        self.base_url = base_url.rstrip("/")
        self.tracker, self.postal_address, self.offers, self.sleep = tracker, postal_address, offers, sleep
        wait = wait_for_commands or time.sleep
        self.worker = Worker("sender", self.run_once, lambda: wait(0.2))
        self.sent = 0
        self.failed = 0
        if log is not None:
            conn = log.connection()
            conn.executescript(QUEUE_SCHEMA)
            ensure_schema(conn)

    # -- embedded loop ----------------------------------------------------------------
    def run_once(self, limit: int = 200) -> int:
        conn = self.log.connection()
        now = self.clock.now()
        queued = self._queue_new(conn, now, limit)
        due = conn.execute("SELECT seq, body, attempted FROM scheduled_sends WHERE send_at <= ? ORDER BY send_at, seq "
                           "LIMIT ?", (now, limit)).fetchall()
        if not due:
            return queued
        commands = [orjson.loads(body) for _, body, _ in due]
        paused = self.paused_journeys(commands)
        held = {seq for (seq, _, _), command in zip(due, commands) if is_held(paused, command)}
        with self.log.transaction(conn):  # what was handed to a provider before a crash is not sent again
            conn.executemany("UPDATE scheduled_sends SET send_at = ? WHERE seq = ?",
                             [(now + HOLD_RECHECK, seq) for seq in held])  # a paused journey's message waits
            conn.executemany("UPDATE scheduled_sends SET attempted = 1 WHERE seq = ?",
                             [(seq,) for seq, _, _ in due if seq not in held])
        items = [(command, bool(attempted)) for (seq, _, attempted), command in zip(due, commands) if seq not in held]
        due = [row for row in due if row[0] not in held]
        keys = sorted({state.key_of(c["workspace"], c["contact_id"]) for c, _ in items})
        events = self.deliver_queued(items, state.load_contacts(conn, keys), paused)
        with self.log.transaction(conn):
            eventlog.append_many(conn, events)
            conn.executemany("DELETE FROM scheduled_sends WHERE seq = ?", [(seq,) for seq, _, _ in due])
        self.log.notify()
        return queued + len(due)

    def _queue_new(self, conn, now: float, limit: int) -> int:
        """Book new commands into their rate-limit buckets and queue them for their time."""
        after = state.position(conn, POSITION)
        rows = conn.execute("SELECT seq, body FROM commands WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        if not rows:
            return 0
        with self.log.transaction(conn):
            queue = []
            for seq, body in rows:
                send_at = reserve_in(conn, self.limits(orjson.loads(body)), now)
                queue.append((seq, send_at, body))
            conn.executemany("INSERT OR IGNORE INTO scheduled_sends(seq, send_at, body) VALUES (?,?,?)", queue)
            state.set_position(conn, POSITION, rows[-1][0])
        return len(rows)

    def deliver_queued(self, items: list[tuple[dict[str, Any], bool]], contacts: dict[str, dict[str, Any]],
                       paused: dict[tuple[str, str], str]) -> list[dict[str, Any]]:
        """The events of due queued sends: ``items`` are (command, attempted before);
        ``contacts`` by state key; ``paused`` from :meth:`paused_journeys`."""
        events = []
        for command, attempted in items:
            contact = contacts.get(state.key_of(command["workspace"], command["contact_id"]))
            contact = contact or new_contact(command["contact_id"], command["workspace"])
            if paused.get((command["workspace"], command.get("journey_id"))) == "cancelled":
                events.append(self._event(command, "message.suppressed", "suppressed",
                                          {**_base(command), "reason": "cancelled"}))
            elif attempted and not self._idempotent(command):
                events.append(self._failed(command, _base(command), "interrupted: the sender stopped while sending; "
                                           "not retried, so the contact never gets it twice"))
            else:
                events.extend(self.deliver(command, contact))
        return events

    def paused_journeys(self, commands: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
        """(workspace, journey id) -> "cancelled" (a paused broadcast: cancelled for good) or
        "held" (a paused journey) for the journeys of ``commands`` that are paused."""
        found = {}
        get_journey = getattr(self.templates, "get_journey", None)
        for workspace, journey_id in {(c["workspace"], c.get("journey_id")) for c in commands}:
            if get_journey is None or not journey_id:
                continue
            try:
                status = get_journey(workspace, journey_id)["status"]
            except Exception:
                continue  # unknown journey (inline sends, tests): nothing to hold
            if status == "paused":
                found[(workspace, journey_id)] = "cancelled" if journey_id.startswith("broadcast-") else "held"
        return found

    def _idempotent(self, command: dict[str, Any]) -> bool:
        """Whether sending ``command`` again cannot reach the contact twice (the outbox)."""
        try:
            return bool(getattr(self.providers.get(command["workspace"], command["channel"]), "idempotent", False))
        except ProviderConfigError:
            return True  # it fails again, the same way

    def limits(self, command: dict[str, Any]) -> list[Bucket]:
        """The buckets a command passes: its provider's, and its journey's when the send
        node sets ``rate_limit`` (broadcasts always do)."""
        limit = command.get("rate_limit") or {}
        per_minute = limit.get("per_minute") if isinstance(limit, dict) else None
        try:
            return self.providers.limits(command["workspace"], command["channel"],
                                         command.get("journey_id") if per_minute else None, per_minute)
        except ProviderConfigError:
            return []  # deliver() records the configuration problem as message.failed

    # -- one message ------------------------------------------------------------------
    def deliver(self, command: dict[str, Any], contact: dict[str, Any]) -> list[dict[str, Any]]:
        """Compose and send one command; returns its events (``offer.issued`` first when
        an offer was issued, then ``message.sent`` or ``message.failed``)."""
        base = _base(command)
        events: list[dict[str, Any]] = []
        try:
            template = command["template"]
            if isinstance(template, str):
                template = self.templates.get_template(command["workspace"], template)
        except Exception as exc:  # template missing or unreadable
            return [self._failed(command, base, f"template: {exc}")]
        offer = None
        if command.get("offer") and self.offers is not None:
            campaign = command.get("broadcast_id") or command.get("journey_id") or "send"
            try:  # idempotent by message id: a replayed command gets the same token and event
                offer = self.offers.issue(command["workspace"], campaign, command["contact_id"], command["message_id"],
                                          command["offer"], self.clock.now())
            except OfferError as exc:  # a bad offer spec names the field; store outages propagate (retried)
                return [self._failed(command, base, f"offer: {exc}")]
            events.append(issued_event(command["workspace"], offer))
        try:
            message = compose(command, contact, template, base_url=self.base_url, tracker=self.tracker,
                              postal_address=self.postal_address, offer=offer)
            receipt = self.providers.send(message, sleep=self.sleep)
        except NotSendable as exc:
            return [*events, self._failed(command, base, str(exc))]
        except ProviderConfigError as exc:
            return [*events, self._failed(command, base, f"provider: {exc}")]
        except DeliveryFailed as exc:
            name = _provider_name(self.providers, command)
            return [*events, self._failed(command, base, str(exc), provider=name, attempts=exc.attempts)]
        self.sent += 1
        return [*events, self._event(command, "message.sent", "sent", {
            **base, "provider": receipt.provider, "provider_message_id": receipt.provider_message_id, "to": message.to})]

    def _failed(self, command: dict[str, Any], base: dict[str, Any], reason: str, **extra: Any) -> dict[str, Any]:
        self.failed += 1
        return self._event(command, "message.failed", "failed", {**base, "reason": reason,
                                                                 **{k: v for k, v in extra.items() if v is not None}})

    def _event(self, command: dict[str, Any], kind: str, suffix: str, data: dict[str, Any]) -> dict[str, Any]:
        stamp = iso_from_epoch(self.clock.now())
        return {"id": f"{command['message_id']}:{suffix}", "type": kind,
                "workspace": command["workspace"], "contact_id": command["contact_id"],
                "occurred_at": stamp, "received_at": stamp, "source": "engine", "data": data}

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)


def is_held(paused: dict[tuple[str, str], str], command: dict[str, Any]) -> bool:
    """Whether ``command`` belongs to a paused (not cancelled) journey: it waits in the queue."""
    return paused.get((command["workspace"], command.get("journey_id"))) == "held"


def _base(command: dict[str, Any]) -> dict[str, Any]:
    """What every message event of a command carries."""
    base = {k: command.get(k) for k in ("message_id", "journey_id", "version", "node_id", "channel")}
    if command.get("broadcast_id"):
        base["broadcast_id"] = command["broadcast_id"]
    base["template"] = command["template"] if isinstance(command["template"], str) else "inline"
    return base


def _provider_name(providers, command: dict[str, Any]) -> str | None:
    try:
        return providers.get(command["workspace"], command["channel"]).name
    except Exception:
        return None
