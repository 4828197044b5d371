"""The dry run behind ``switchback simulate JOURNEY.json EVENTS.jsonl``.

Pure over plain data: a virtual clock, no I/O, no sends, no wall clock. The journey
is validated first (without template or segment checks, so a draft from the editor
can be tried as it is); if it has errors they come back as ``problems`` and nothing
is simulated. Otherwise the events run through the same ``engine.interpreter.step``
the runtimes use, one instance per contact:

* events are processed in ``occurred_at`` order; an event without ``occurred_at`` is
  placed 1 s after the previous line (the first at ``start``);
* a line ``{"advance": "PT4H"}`` moves the virtual clock forward;
* before each event (and each advance) every timer that is due fires, in wake order,
  at its own wake time;
* at the end, with ``until_idle``, timers keep firing until no instance waits any
  more (at most ``MAX_IDLE_TICKS``), so the result shows what happens after all waits.

Each contact's state is folded with ``journeys.contact.apply_event`` from its events
(before the interpreter sees the event, as in the runtimes) and from what the journey
itself emits (``journey.*``, ``message.suppressed``, ``message.queued`` for a send).
Emitted events are not fed back into the journey. Nothing is opened or clicked
unless the script says so: add ``message.opened`` lines (``data.journey_id``) to
take an "engaged" branch.
"""

from __future__ import annotations

import heapq
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from pydantic import ValidationError

from engine.interpreter import Emit, Send, step
from engine.plan import compile_plan
from journeys.contact import apply_event, new_contact
from journeys.durations import DurationError, seconds
from journeys.events import Event, iso_from_epoch, parse_time
from journeys.graph import Journey
from journeys.validation import validate_journey

DEFAULT_START = 1767603600.0  # 2026-01-05T09:00:00Z, used when no event carries a time
MAX_IDLE_TICKS = 10_000
EVENT_SPACING = 1.0
_PLACEHOLDER_TIME = "2000-01-01T00:00:00Z"


@dataclass
class SimulatedContact:
    """What happened to one contact: the nodes it entered, the messages it was sent,
    the messages held back (``suppressed``, with the reason), its exits and its final
    instance (``state`` is None when it never entered the journey); ``steps`` are the
    entered nodes again, each with its virtual time."""

    contact_id: str
    path: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    exits: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] | None = None
    suppressed: list[dict[str, Any]] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)  # {"node_id", "at"} for each entry in ``path``


@dataclass
class Simulation:
    contacts: dict[str, SimulatedContact]
    problems: list[dict[str, Any]]
    ended_at: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (for ``switchback simulate --json``)."""
        return {"contacts": {cid: asdict(c) for cid, c in self.contacts.items()},
                "problems": list(self.problems), "ended_at": self.ended_at}

    def summary(self) -> dict[str, Any]:
        """Totals: contacts seen and entered, messages by template, exits by reason,
        and how many contacts entered each node."""
        entered = [c for c in self.contacts.values() if c.state is not None]
        return {
            "contacts": len(self.contacts),
            "entered": len(entered),
            "messages": dict(Counter(m["template"] for c in entered for m in c.messages)),
            "suppressed": dict(Counter(s["reason"] for c in entered for s in c.suppressed)),
            "exits": dict(Counter(e["reason"] for c in entered for e in c.exits)),
            "nodes": dict(Counter(n for c in entered for n in c.path)),
            "still_active": sum(1 for c in entered if c.state and c.state["state"] == "active"),
        }


def load_events_jsonl(text: str) -> list[dict[str, Any]]:
    """Parse an event script: one envelope (or ``{"advance": "PT4H"}``) per line, blank
    lines ignored. Envelopes are checked against ``journeys.events.Event`` with
    ``id``/``occurred_at``/``workspace`` filled in when absent, but returned as written
    (so ``simulate`` can space untimed events). Raises ``ValueError("line N: ...")``."""
    out: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"line {n}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(item, dict):
            raise ValueError(f"line {n}: expected a JSON object: an event envelope or {{\"advance\": \"PT4H\"}}")
        if "advance" in item:
            if set(item) != {"advance"}:
                raise ValueError(f"line {n}: an advance line takes only 'advance', e.g. {{\"advance\": \"PT4H\"}}")
            try:
                _advance(item["advance"])
            except DurationError as exc:
                raise ValueError(f"line {n}: advance {exc}") from None
        else:
            candidate = {"id": f"line-{n}", "workspace": "default", "occurred_at": _PLACEHOLDER_TIME, **item}
            try:
                Event.model_validate(candidate)
            except ValidationError as exc:
                raise ValueError(f"line {n}: {_explain(exc)}") from None
        out.append(item)
    return out


def simulate(journey: dict[str, Any], events: Iterable[dict[str, Any]], start: float | None = None,
             until_idle: bool = True) -> Simulation:
    """Run ``events`` (envelopes and advance lines) through ``journey`` on a virtual clock."""
    try:
        if not isinstance(journey, dict):
            raise TypeError(f"expected a JSON object with nodes and edges, got {type(journey).__name__}")
        graph = {k: v for k, v in journey.items() if not (k in ("version", "status") and v is None)}
        model = Journey.model_validate(graph)
    except (ValidationError, TypeError) as exc:
        why = _explain(exc) if isinstance(exc, ValidationError) else str(exc)
        problem = {"code": "SIM-001", "message": f"the journey JSON does not fit the graph model: {why}",
                   "severity": "error"}
        return Simulation({}, [problem], iso_from_epoch(start if start is not None else DEFAULT_START))
    found = validate_journey(model)
    problems = [p.as_dict() for p in found]
    timeline, base = _timeline(list(events), start, problems)
    if any(p.severity == "error" for p in found):
        return Simulation({}, problems, iso_from_epoch(base))
    run = _Simulator(model, base, problems)
    for at, _, item in timeline:
        run.fire_due(at)
        run.clock = max(run.clock, at)
        if "advance" not in item:
            run.handle(item, at)
    if until_idle:
        run.fire_idle()
    return Simulation(run.results, problems, iso_from_epoch(run.clock))


def _timeline(items: list[dict[str, Any]], start: float | None,
              problems: list[dict[str, Any]]) -> tuple[list[tuple[float, int, dict[str, Any]]], float]:
    """Give every item a time, fill envelope defaults, sort stably; also return the start."""
    stamped: list[float | str | None] = []  # a time, None (untimed) or why the time is unusable
    for item in items:
        at: float | str | None = None
        if isinstance(item, dict) and "advance" not in item and item.get("occurred_at") is not None:
            try:
                at = parse_time(item["occurred_at"])
            except (TypeError, ValueError, AttributeError):
                at = f"occurred_at {item['occurred_at']!r} is not an ISO-8601 time"
        stamped.append(at)
    known = [t for t in stamped if isinstance(t, float)]
    base = start if start is not None else min(known) if known else DEFAULT_START
    cursor: float | None = None
    timeline: list[tuple[float, int, dict[str, Any]]] = []
    for n, (item, at) in enumerate(zip(items, stamped), 1):
        if not isinstance(item, dict):
            problems.append(_skip(n, "is not a JSON object"))
            continue
        if isinstance(at, str):
            problems.append(_skip(n, at))
            continue
        if "advance" in item:
            try:
                at = (cursor if cursor is not None else base) + _advance(item["advance"])
            except DurationError as exc:
                problems.append(_skip(n, f"advance {exc}"))
                continue
        else:
            if not item.get("type") or not item.get("contact_id"):
                problems.append(_skip(n, "needs 'type' and 'contact_id'"))
                continue
            if at is None:
                at = cursor + EVENT_SPACING if cursor is not None else base
            item = {"id": f"sim-{n}", "workspace": "default", **item, "occurred_at": iso_from_epoch(at)}
        cursor = at
        timeline.append((at, n, item))
    timeline.sort(key=lambda entry: (entry[0], entry[1]))
    return timeline, base


def _advance(value: Any) -> float:
    if not isinstance(value, str):
        raise DurationError(f"{value!r} is not an ISO-8601 duration, e.g. 'PT4H' or 'P2D'")
    return seconds(value)


def _skip(n: int, why: str) -> dict[str, Any]:
    return {"code": "SIM-002", "message": f"event {n} skipped: {why}", "severity": "warning"}


class _Simulator:
    """The virtual runtime: instances, contact states and a timer heap for one journey."""

    def __init__(self, model: Journey, start: float, problems: list[dict[str, Any]]):
        self.plan = compile_plan(model)
        self.clock = start
        self.problems = problems
        self.instances: dict[str, dict[str, Any]] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.results: dict[str, SimulatedContact] = {}
        self.timers: list[tuple[float, int, str]] = []
        self.seq = 0

    def handle(self, event: dict[str, Any], at: float) -> None:
        cid = event["contact_id"]
        if cid not in self.results:
            self.results[cid] = SimulatedContact(cid)
            self.people[cid] = new_contact(cid, event.get("workspace") or "default")
        self.people[cid] = apply_event(self.people[cid], event)
        self._step(cid, event, at)

    def fire_due(self, limit: float) -> int:
        """Fire every timer with ``wake_at <= limit`` in wake order; return how many fired."""
        fired = 0
        while self.timers and self.timers[0][0] <= limit:
            if self._fire_next():
                fired += 1
        return fired

    def fire_idle(self) -> None:
        ticks = 0
        while self.timers:
            if ticks >= MAX_IDLE_TICKS:
                self.problems.append({
                    "code": "SIM-003", "severity": "warning",
                    "message": f"stopped after {MAX_IDLE_TICKS} timer ticks with instances still waiting; "
                               "does the journey loop through a wait forever?"})
                return
            if self._fire_next():
                ticks += 1

    def _fire_next(self) -> bool:
        wake_at, _, cid = heapq.heappop(self.timers)
        inst = self.instances.get(cid)
        if inst is None or inst["state"] != "active" or inst.get("wake_at") != wake_at:
            return False  # stale: the instance moved on since this timer was set
        self.clock = max(self.clock, wake_at)
        self._step(cid, None, wake_at)
        return True

    def _step(self, cid: str, event: dict[str, Any] | None, at: float) -> None:
        inst, effects = step(self.instances.get(cid), event, self.plan, at, self.people[cid])
        if inst is None:
            return
        self.instances[cid] = inst
        result = self.results[cid]
        result.state = inst
        stamp = iso_from_epoch(at)
        for effect in effects:
            self._record(cid, result, effect, at, stamp)
        if inst["state"] == "active" and inst.get("wake_at") is not None:
            self.seq += 1
            heapq.heappush(self.timers, (inst["wake_at"], self.seq, cid))

    def _record(self, cid: str, result: SimulatedContact, effect: Emit | Send, at: float, stamp: str) -> None:
        if isinstance(effect, Send):
            message = {"message_id": effect.message_id, "node_id": effect.node_id, "channel": effect.channel,
                       "template": effect.template, "at": stamp}
            if effect.offer:
                message["offer"] = effect.offer
            result.messages.append(message)
            kind, data = "message.queued", {"message_id": effect.message_id, "channel": effect.channel,
                                            "template": effect.template, "journey_id": effect.journey_id,
                                            "node_id": effect.node_id}
        else:
            kind, data = effect.type, effect.data
            if kind == "journey.node_entered":
                result.path.append(data["node_id"])
                result.steps.append({"node_id": data["node_id"], "at": stamp})
            elif kind == "journey.exited":
                result.exits.append({"reason": data["reason"], "node_id": data.get("node_id"), "at": stamp})
            elif kind == "message.suppressed":
                result.suppressed.append({"message_id": data["message_id"], "node_id": data["node_id"],
                                          "channel": data["channel"], "reason": data["reason"], "at": stamp})
        self.people[cid] = apply_event(self.people[cid], {"type": kind, "occurred_at": at, "data": data})


def _explain(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "envelope"
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
