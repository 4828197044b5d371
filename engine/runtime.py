"""The embedded journey runtime: reads the SQLite event log in batches, drives the pure
interpreter for every contact the batch touches, fires due timers, and commits in one
transaction everything that follows: contact states, instances (with their timers),
send commands, the events it emits and its log position. A crash loses nothing (the
batch is read again) and duplicates nothing (emitted event ids and message ids are
deterministic, so a replayed batch inserts nothing new).
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

from engine import log as eventlog
from engine import state
from engine.interpreter import Emit, Send, resume, step
from engine.plan import Plan, compile_plan
from engine.worker import Worker
from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.graph import Journey

logger = logging.getLogger("switchback.runtime")

# Events the engine writes for bookkeeping; read back only if some journey uses them.
BOOKKEEPING = frozenset({"journey.entered", "journey.node_entered", "journey.exited",
                         "journey.goal_reached", "message.queued"})
POSITION = "runtime"


class JourneySource(Protocol):
    """Where published journeys come from (``engine.definitions.Definitions`` in the app)."""

    def published(self) -> list[tuple[str, dict[str, Any], str]]: ...
    def all_versions(self) -> list[tuple[str, dict[str, Any]]]: ...
    def changes(self) -> int: ...


class Clock(Protocol):
    def now(self) -> float: ...


@dataclass
class Catalog:
    """Compiled plans: every version (for running instances) and the entry index."""

    versions: dict[tuple[str, str, int], Plan] = field(default_factory=dict)
    latest: dict[tuple[str, str], Plan] = field(default_factory=dict)
    status: dict[tuple[str, str], str] = field(default_factory=dict)
    triggers: dict[tuple[str, str], list[Plan]] = field(default_factory=dict)
    used_types: set[str] = field(default_factory=set)

    @property
    def skipped(self) -> frozenset[str]:
        """Bookkeeping types no journey reacts to: the runtime does not decode them."""
        return BOOKKEEPING - self.used_types

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
        return catalog

    def _note_types(self, plan: Plan) -> None:
        self.used_types.add(plan.trigger_event)
        if plan.goal:
            self.used_types.add(plan.goal["event"])
        for node in plan.nodes.values():
            if node["type"] == "wait" and node["data"].get("mode") == "event":
                self.used_types.add(node["data"]["event"])


@dataclass
class BatchStats:
    events: int = 0
    timers: int = 0
    transitions: int = 0
    sends: int = 0


def _event_id(cause: str, key: str, effect_key: str) -> str:
    """Deterministic and roughly ordered: ``cause`` is the input's log position (or the
    timer's wake time), so a replay yields the same id and new ids land at the end of the
    log's id index instead of all over it; the hash makes it unique."""
    return f"e{cause}-" + hashlib.blake2b(f"{key}|{effect_key}".encode(), digest_size=10).hexdigest()


class _Batch:
    """The working set of one batch: loaded states plus everything to write back."""

    def __init__(self, conn, keys: list[str]):
        self.contacts = state.load_contacts(conn, keys)
        self.instances = state.load_instances(conn, keys)
        self.dirty_contacts: set[str] = set()
        self.dirty_instances: set[tuple[str, str]] = set()
        self.emitted: list[dict[str, Any]] = []
        self.commands: list[dict[str, Any]] = []

    def contact(self, key: str, workspace: str, contact_id: str) -> dict[str, Any]:
        found = self.contacts.get(key)
        if found is None:
            found = self.contacts[key] = new_contact(contact_id, workspace)
        return found


class JourneyRuntime:
    """Drives journeys from the log. ``run_once`` does one batch; ``start`` runs a thread."""

    def __init__(self, log: eventlog.EventLog, source: JourneySource, clock: Clock, batch: int = 2000):
        self.log, self.source, self.clock, self.batch_size = log, source, clock, batch
        conn = log.connection()
        conn.executescript(state.SCHEMA)
        self._changes = -1
        self.catalog = Catalog()
        self.stats = BatchStats()
        self.worker = Worker("journey-runtime", self.run_once, lambda: self.log.wait(self._idle_timeout()),
                             wake=self.log.notify)
        self.commands_ready = threading.Condition()

    # -- catalogue --------------------------------------------------------------
    def refresh(self) -> None:
        """Reload plans when definitions changed; release instances of resumed journeys."""
        changes = self.source.changes()
        if changes == self._changes:
            return
        old = self.catalog
        self.catalog = Catalog.build(self.source)
        self._changes = changes
        for (workspace, journey_id), status in self.catalog.status.items():
            if status == "published" and old.status.get((workspace, journey_id)) == "paused":
                self._release(journey_id)

    def _release(self, journey_id: str) -> None:
        conn = self.log.connection()
        now = self.clock.now()
        with self.log.transaction(conn):
            held = state.held_instances(conn, journey_id)
            state.save_instances(conn, {(key, journey_id): resume(inst, now) for key, inst in held})
        logger.info("released %d held contacts of journey %s", len(held), journey_id)

    # -- processing -------------------------------------------------------------
    def run_once(self) -> int:
        """Process one batch of events and due timers; returns how many inputs it handled."""
        self.refresh()
        conn = self.log.connection()
        now = self.clock.now()
        after = state.position(conn, POSITION)
        events, consumed = eventlog.read_relevant(conn, after, self.batch_size, self.catalog.skipped)
        due = state.due_timers(conn, now, self.batch_size)
        if consumed == after and not due:
            return 0
        relevant = [(p, e) for p, e in events if e.get("contact_id")]
        keys = {state.key_of(e["workspace"], e["contact_id"]) for _, e in relevant}
        keys.update(k for k, _ in due)
        work = _Batch(conn, sorted(keys))
        for position, event in relevant:
            self._on_event(work, event, now, f"{position:012d}")
        fired = sum(self._on_timer(work, key, journey_id, now) for key, journey_id in due)
        if consumed == after and not fired:
            return 0  # due timers of journeys not loaded yet stay due
        self._commit(conn, work, consumed, now)
        self.stats.events += len(events)
        self.stats.timers += fired
        return max(len(events) + fired, 1)

    def _on_event(self, work: _Batch, event: dict[str, Any], now: float, cause: str) -> None:
        workspace, contact_id = event["workspace"], event["contact_id"]
        key = state.key_of(workspace, contact_id)
        contact = apply_event(work.contact(key, workspace, contact_id), event)
        work.contacts[key] = contact
        work.dirty_contacts.add(key)
        mine = work.instances.setdefault(key, {})
        handled = set()
        for journey_id, inst in list(mine.items()):
            if inst["state"] != "active":
                continue
            plan = self.catalog.versions.get((workspace, journey_id, inst["version"]))
            if plan is None:
                continue
            handled.add(journey_id)
            paused = self.catalog.status.get((workspace, journey_id)) == "paused"
            self._apply(work, key, contact, inst, *step(inst, event, plan, now, contact, paused), now, cause)
        for plan in self.catalog.triggers.get((workspace, event["type"]), ()):
            if plan.journey_id in handled or self.catalog.status.get((workspace, plan.journey_id)) != "published":
                continue
            inst = mine.get(plan.journey_id)
            self._apply(work, key, contact, inst, *step(inst, event, plan, now, contact), now, cause)

    def _on_timer(self, work: _Batch, key: str, journey_id: str, now: float) -> bool:
        inst = work.instances.get(key, {}).get(journey_id)
        if inst is None or inst["state"] != "active" or inst["wake_at"] is None or inst["wake_at"] > now:
            return False
        workspace, contact_id = state.split_key(key)
        plan = self.catalog.versions.get((workspace, journey_id, inst["version"]))
        if plan is None:
            return False  # definitions not loaded yet; the timer stays due
        contact = work.contact(key, workspace, contact_id)
        paused = self.catalog.status.get((workspace, journey_id)) == "paused"
        cause = f"t{int(inst['wake_at'] * 1000):013d}"
        self._apply(work, key, contact, inst, *step(inst, None, plan, now, contact, paused), now, cause)
        return True

    def _apply(self, work: _Batch, key: str, contact: dict[str, Any], old: dict[str, Any] | None,
               new: dict[str, Any] | None, effects: list, now: float, cause: str) -> None:
        if new is None or (new is old and not effects):
            return
        journey_id = new["journey_id"]
        work.instances.setdefault(key, {})[journey_id] = new
        work.dirty_instances.add((key, journey_id))
        workspace, contact_id = contact["workspace"], contact["id"]
        stamp = iso_from_epoch(now)
        for effect in effects:
            if isinstance(effect, Emit):
                if effect.type == "journey.node_entered":
                    self.stats.transitions += 1
                work.emitted.append(_envelope(_event_id(cause, key, effect.key), effect.type, workspace, contact_id, stamp, effect.data))
            elif isinstance(effect, Send):
                self.stats.sends += 1
                command = _command(effect, workspace, contact_id)
                work.commands.append(command)
                data = {k: command[k] for k in ("message_id", "journey_id", "version", "node_id", "channel", "template")}
                work.emitted.append(_envelope(_event_id(cause, key, f"queued:{effect.message_id}"), "message.queued",
                                              workspace, contact_id, stamp, data))

    def _commit(self, conn, work: _Batch, new_position: int, now: float) -> None:
        with self.log.transaction(conn):
            state.save_contacts(conn, {k: work.contacts[k] for k in work.dirty_contacts})
            state.save_instances(conn, {(k, j): work.instances[k][j] for k, j in work.dirty_instances})
            state.add_commands(conn, work.commands, now)
            eventlog.append_many(conn, work.emitted)
            state.set_position(conn, POSITION, new_position)
        if work.emitted:
            self.log.notify()
        if work.commands:
            with self.commands_ready:
                self.commands_ready.notify_all()

    # -- thread -----------------------------------------------------------------
    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)

    @property
    def last_error(self) -> str | None:
        return self.worker.last_error

    def _idle_timeout(self) -> float:
        wake = state.next_wake(self.log.connection())
        if wake is None:
            return 0.5
        return max(0.005, min(0.5, wake - self.clock.now()))


def tune_gc() -> None:
    """Garbage-collector settings for a long-running engine process: objects alive after
    start-up are frozen (never scanned again) and young collections run less often.
    Batches allocate many short-lived dicts; with the defaults the collector spends
    a third of the runtime's time walking long-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def _envelope(event_id: str, kind: str, workspace: str, contact_id: str, stamp: str, data: dict) -> dict[str, Any]:
    return {"id": event_id, "type": kind, "workspace": workspace, "contact_id": contact_id,
            "occurred_at": stamp, "received_at": stamp, "source": "engine", "data": data}


def _command(effect: Send, workspace: str, contact_id: str) -> dict[str, Any]:
    return {"message_id": effect.message_id, "workspace": workspace, "contact_id": contact_id,
            "journey_id": effect.journey_id, "version": effect.version, "node_id": effect.node_id,
            "channel": effect.channel, "template": effect.template, "offer": effect.offer,
            "context": effect.context}


def drain(runtime: JourneyRuntime, limit: int = 10_000) -> int:
    """Run batches until nothing is left (tests and the simulator's helpers)."""
    total = 0
    for _ in range(limit):
        handled = runtime.run_once()
        if not handled:
            return total
        total += handled
    return total


def iter_states(conn) -> Iterable[tuple[str, str, dict[str, Any]]]:
    import orjson

    for key, journey_id, body in conn.execute("SELECT key, journey_id, body FROM journey_state"):
        yield key, journey_id, orjson.loads(body)
