"""Journey processing without storage: one batch of events and due timers in, the new
contact states, instances, emitted events and send commands out.

Both runtimes drive this same code: the embedded one (``engine.runtime``, SQLite log)
and the distributed one (``engine.distributed``, Kafka + PostgreSQL). They differ only
in where states are loaded from and where the results are written.

Segments (``journeys.segments``): after an input event changes a contact, the segments
whose rules read what changed are evaluated again; each change becomes a
``segment.entered``/``segment.exited`` event (source ``engine``, id derived from the
cause), is applied to the contact at once and is fed to the journeys right after the
input. The engine's own membership events come back from the log as echoes and are
skipped; membership events from elsewhere (backfill, static imports) that change
nothing for a defined segment are dropped. Time-relative segments re-check a contact
at the next instant their verdict may change: a timer kept as the pseudo instance
``SEGMENT_TIMER`` next to the contact's journey instances, fired like any other.
A workspace without segments pays one dict lookup per event.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.interpreter import Emit, Send, step
from engine.plan import Plan, compile_plan
from engine.state import key_of, split_key
from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.graph import Journey
from journeys.segments import SEGMENT_EVENTS, SegmentBook

# Events the engine writes for bookkeeping; read back only if some journey uses them.
BOOKKEEPING = frozenset({"journey.entered", "journey.node_entered", "journey.exited",
                         "journey.goal_reached", "message.queued"})
SEGMENT_TIMER = "~segments"  # pseudo journey id of a contact's time-relative segment re-check


class JourneySource(Protocol):
    """Where published journeys come from (``engine.definitions.Definitions``)."""

    def published(self) -> list[tuple[str, dict[str, Any], str]]: ...
    def all_versions(self) -> list[tuple[str, dict[str, Any]]]: ...
    def changes(self) -> int: ...
    # optional: def segments(self) -> list[tuple[str, dict[str, Any]]]  (workspace, definition)


@dataclass
class Catalog:
    """Compiled plans: every version (for running instances) and the entry index."""

    versions: dict[tuple[str, str, int], Plan] = field(default_factory=dict)
    latest: dict[tuple[str, str], Plan] = field(default_factory=dict)
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    triggers: dict[tuple[str, str], list[Plan]] = field(default_factory=dict)
    used_types: set[str] = field(default_factory=set)
    segments: dict[str, SegmentBook] = field(default_factory=dict)

    @classmethod
    def build(cls, source: JourneySource) -> Catalog:
        catalog = cls()
        for workspace, graph in source.all_versions():
            plan = compile_plan(Journey.model_validate(graph))
            catalog.versions[(workspace, plan.journey_id, plan.version)] = plan
            catalog._note_types(plan)
        for workspace, graph, status in source.published():
            plan = catalog.versions.get((workspace, graph["id"], graph["version"])) or compile_plan(Journey.model_validate(graph))
            catalog.versions[(workspace, plan.journey_id, plan.version)] = plan
            catalog.latest[(workspace, plan.journey_id)] = plan
            catalog.status[(workspace, plan.journey_id)] = status
            catalog.triggers.setdefault((workspace, plan.trigger_event), []).append(plan)
            catalog._note_types(plan)
        defined: dict[str, list[dict[str, Any]]] = {}
        for workspace, segment in getattr(source, "segments", list)():
            defined.setdefault(workspace, []).append(segment)
        catalog.segments = {workspace: SegmentBook(items) for workspace, items in defined.items()}
        for book in catalog.segments.values():
            catalog.used_types |= book.event_types  # e.g. a segment of contacts who entered a journey
        return catalog

    def _note_types(self, plan: Plan) -> None:
        self.used_types.add(plan.trigger_event)
        if plan.goal:
            self.used_types.add(plan.goal["event"])
        for node in plan.nodes.values():
            if node["type"] == "wait" and node["data"].get("mode") == "event":
                self.used_types.add(node["data"]["event"])

    @property
    def skipped(self) -> frozenset[str]:
        """Bookkeeping types no journey reacts to: runtimes need not read them."""
        return BOOKKEEPING - self.used_types

    def paused(self, workspace: str, journey_id: str) -> bool:
        return self.status.get((workspace, journey_id)) == "paused"


@dataclass
class Totals:
    events: int = 0
    timers: int = 0
    transitions: int = 0
    sends: int = 0


class Batch:
    """The working set of one batch: the loaded states plus everything to write back."""

    def __init__(self, contacts: dict[str, dict[str, Any]], instances: dict[str, dict[str, dict[str, Any]]]):
        self.contacts, self.instances = contacts, instances
        self.dirty_contacts: set[str] = set()
        self.dirty_instances: set[tuple[str, str]] = set()
        self.emitted: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []
        self.timers_fired = 0

    def contact(self, key: str) -> dict[str, Any]:
        found = self.contacts.get(key)
        if found is None:
            workspace, contact_id = split_key(key)
            found = self.contacts[key] = new_contact(contact_id, workspace)
        return found

    def changed_contacts(self) -> dict[str, dict[str, Any]]:
        return {k: self.contacts[k] for k in self.dirty_contacts}

    def changed_instances(self) -> dict[tuple[str, str], dict[str, Any]]:
        return {(k, j): self.instances[k][j] for k, j in self.dirty_instances}


def event_id(cause: str, key: str, effect_key: str) -> str:
    """Deterministic and roughly ordered: ``cause`` is where the input came from (its log
    position or partition/offset, or the timer's wake time), so a replay yields the same
    id and new ids land at the end of an id index; the hash makes it unique."""
    return f"e{cause}-" + hashlib.blake2b(f"{key}|{effect_key}".encode(), digest_size=10).hexdigest()


class JourneyProcessor:
    """Interprets batches against the current catalogue of published journeys."""

    def __init__(self, source: JourneySource):
        self.source = source
        self.catalog = Catalog()
        self.totals = Totals()
        self._changes = -1

    def refresh(self) -> list[tuple[str, str]]:
        """Reload plans when definitions changed; returns journeys resumed since."""
        changes = self.source.changes()
        if changes == self._changes:
            return []
        old, self.catalog = self.catalog, Catalog.build(self.source)
        self._changes = changes
        return [key for key, status in self.catalog.status.items()
                if status == "published" and old.status.get(key) == "paused"]

    def keys_of(self, events: list[tuple[str, dict[str, Any]]]) -> set[str]:
        return {key_of(e["workspace"], e["contact_id"]) for _, e in events if e.get("contact_id")}

    def process(self, batch: Batch, events: list[tuple[str, dict[str, Any]]], due: list[tuple[str, str]],
                now: float) -> Batch:
        """``events``: (cause, event) in order; ``due``: (contact key, journey id) timers."""
        for cause, event in events:
            if event.get("contact_id"):
                self._on_event(batch, event, now, cause)
        for key, journey_id in due:
            batch.timers_fired += self._on_timer(batch, key, journey_id, now)
        self.totals.events += len(events)
        self.totals.timers += batch.timers_fired
        return batch

    def _on_event(self, batch: Batch, event: dict[str, Any], now: float, cause: str) -> None:
        workspace = event["workspace"]
        key = key_of(workspace, event["contact_id"])
        segments = self.catalog.segments
        if segments or event["type"] in SEGMENT_EVENTS:
            self._on_event_with_segments(batch, key, segments.get(workspace), event, now, cause)
            return
        contact = apply_event(batch.contact(key), event)
        batch.contacts[key] = contact
        batch.dirty_contacts.add(key)
        self._journeys(batch, key, contact, event, now, cause)

    def _on_event_with_segments(self, batch: Batch, key: str, book: SegmentBook | None, event: dict[str, Any],
                                now: float, cause: str) -> None:
        if event["type"] in SEGMENT_EVENTS and self._no_news(batch, key, book, event):
            return
        before = batch.contact(key)
        contact = apply_event(before, event)
        derived: list[dict[str, Any]] = []
        if book:
            contact, derived = self._segments(batch, key, book, before, contact, event, now, cause)
        batch.contacts[key] = contact
        batch.dirty_contacts.add(key)
        self._journeys(batch, key, contact, event, now, cause)
        for membership in derived:
            self._journeys(batch, key, contact, membership, now, cause)

    def _journeys(self, batch: Batch, key: str, contact: dict[str, Any], event: dict[str, Any], now: float,
                  cause: str) -> None:
        workspace = event["workspace"]
        mine = batch.instances.setdefault(key, {})
        handled = set()
        for journey_id, inst in list(mine.items()):
            if inst["state"] != "active":
                continue
            plan = self.catalog.versions.get((workspace, journey_id, inst["version"]))
            if plan is None:
                continue
            handled.add(journey_id)
            paused = self.catalog.paused(workspace, journey_id)
            self._apply(batch, key, contact, inst, *step(inst, event, plan, now, contact, paused), now, cause)
        for plan in self.catalog.triggers.get((workspace, event["type"]), ()):
            if plan.journey_id in handled or self.catalog.status.get((workspace, plan.journey_id)) != "published":
                continue
            inst = mine.get(plan.journey_id)
            self._apply(batch, key, contact, inst, *step(inst, event, plan, now, contact), now, cause)

    # -- segments ---------------------------------------------------------------------
    @staticmethod
    def _no_news(batch: Batch, key: str, book: SegmentBook | None, event: dict[str, Any]) -> bool:
        """Skip the engine's own membership events (applied when emitted) and outside
        ones that change nothing for a defined segment (a backfill racing the engine)."""
        if event.get("source") == "engine":
            return True
        segment_id = (event.get("data") or {}).get("segment_id")
        if not book or segment_id not in book.segments:
            return False
        return (segment_id in batch.contact(key)["segments"]) == (event["type"] == "segment.entered")

    def _segments(self, batch: Batch, key: str, book: SegmentBook, before: dict[str, Any], contact: dict[str, Any],
                  event: dict[str, Any] | None, now: float, cause: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Apply the membership changes ``event`` (None: the re-check timer) caused."""
        found = book.changes(before, contact, event, now)
        derived = []
        if found.changes:
            workspace, contact_id = contact["workspace"], contact["id"]
            stamp = iso_from_epoch(now)
            for kind, segment_id in found.changes:
                membership = envelope(event_id(cause, key, f"{kind}:{segment_id}"), kind, workspace, contact_id, stamp,
                                      {"segment_id": segment_id})
                contact = apply_event(contact, membership)
                batch.emitted.append(membership)
                derived.append(membership)
        if found.timed:
            self._set_recheck(batch, key, book.due_at(contact, now))
        return contact, derived

    @staticmethod
    def _set_recheck(batch: Batch, key: str, wake_at: float | None) -> None:
        mine = batch.instances.setdefault(key, {})
        current = mine.get(SEGMENT_TIMER)
        if (current["wake_at"] if current else None) == wake_at:
            return
        mine[SEGMENT_TIMER] = {"journey_id": SEGMENT_TIMER, "version": 0, "wake_at": wake_at,
                               "state": "active" if wake_at is not None else "done"}
        batch.dirty_instances.add((key, SEGMENT_TIMER))

    def _on_recheck(self, batch: Batch, key: str, inst: dict[str, Any], now: float) -> bool:
        workspace, _ = split_key(key)
        book = self.catalog.segments.get(workspace)
        contact = batch.contact(key)
        if not book or not book.timed:
            self._set_recheck(batch, key, None)
            return True
        cause = f"t{int(inst['wake_at'] * 1000):013d}"
        contact, derived = self._segments(batch, key, book, contact, contact, None, now, cause)
        if derived:
            batch.contacts[key] = contact
            batch.dirty_contacts.add(key)
        for membership in derived:
            self._journeys(batch, key, contact, membership, now, cause)
        return True

    def _on_timer(self, batch: Batch, key: str, journey_id: str, now: float) -> bool:
        inst = batch.instances.get(key, {}).get(journey_id)
        if inst is None or inst["state"] != "active" or inst["wake_at"] is None or inst["wake_at"] > now:
            return False
        if journey_id == SEGMENT_TIMER:
            return self._on_recheck(batch, key, inst, now)
        workspace, _ = split_key(key)
        plan = self.catalog.versions.get((workspace, journey_id, inst["version"]))
        if plan is None:
            return False  # definitions not loaded yet; the timer stays due
        contact = batch.contact(key)
        cause = f"t{int(inst['wake_at'] * 1000):013d}"
        paused = self.catalog.paused(workspace, journey_id)
        self._apply(batch, key, contact, inst, *step(inst, None, plan, now, contact, paused), now, cause)
        return True

    def _apply(self, batch: Batch, key: str, contact: dict[str, Any], old: dict[str, Any] | None,
               new: dict[str, Any] | None, effects: list, now: float, cause: str) -> None:
        if new is None or (new is old and not effects):
            return
        journey_id = new["journey_id"]
        batch.instances.setdefault(key, {})[journey_id] = new
        batch.dirty_instances.add((key, journey_id))
        workspace, contact_id = contact["workspace"], contact["id"]
        stamp = iso_from_epoch(now)
        for effect in effects:
            if isinstance(effect, Emit):
                if effect.type == "journey.node_entered":
                    self.totals.transitions += 1
                batch.emitted.append(envelope(event_id(cause, key, effect.key), effect.type, workspace, contact_id,
                                              stamp, effect.data))
            elif isinstance(effect, Send):
                self.totals.sends += 1
                command = send_command(effect, workspace, contact_id)
                batch.commands.append(command)
                data = {k: command[k] for k in ("message_id", "journey_id", "version", "node_id", "channel", "template")}
                if effect.broadcast_id:
                    data["broadcast_id"] = effect.broadcast_id
                batch.emitted.append(envelope(event_id(cause, key, f"queued:{effect.message_id}"), "message.queued",
                                              workspace, contact_id, stamp, data))


def envelope(event_id: str, kind: str, workspace: str, contact_id: str, stamp: str, data: dict) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "workspace": workspace, "contact_id": contact_id,
            "occurred_at": stamp, "received_at": stamp, "source": "engine", "data": data}


def send_command(effect: Send, workspace: str, contact_id: str) -> dict[str, Any]:
    command = {"message_id": effect.message_id, "workspace": workspace, "contact_id": contact_id,
               "journey_id": effect.journey_id, "version": effect.version, "node_id": effect.node_id,
               "channel": effect.channel, "template": effect.template, "offer": effect.offer,
               "context": effect.context}
    if effect.rate_limit:
        command["rate_limit"] = effect.rate_limit
    if effect.broadcast_id:
        command["broadcast_id"] = effect.broadcast_id
    return command
