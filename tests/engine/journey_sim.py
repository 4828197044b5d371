"""A tiny in-memory driver for the pure interpreter, shared by the engine and golden tests.

It plays the part of a runtime with none of a runtime's machinery: a virtual clock,
one contact state per contact (folded with ``journeys.contact.apply_event`` *before*
the interpreter sees the event, as the runtimes do), one instance per (contact,
journey), and timers fired in wake order at their own wake time. What the interpreter
emits (``journey.*``, ``message.suppressed``) is folded into the contact's state, as
the runtimes do when they read their own events back, but is not fed to ``step``.

Everything is recorded in ``history[contact_id]`` as ``(now, journey_id, effect)``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable

from engine.interpreter import Emit, Send, resume, step
from engine.plan import Plan, compile_plan
from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.graph import Journey

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC).timestamp()  # a Friday, 10:00 UTC
WORKSPACE = "default"


def journey(nodes: list[dict[str, Any]], edges: list[Any] | None = None, *, id: str = "j",
            version: int = 1, **settings: Any) -> Journey:
    """Build a journey; ``edges`` may be ``(source, target)`` or ``(source, handle, target)``
    tuples (ids are generated) or React Flow edge dicts."""
    out = []
    for i, edge in enumerate(edges or []):
        if isinstance(edge, dict):
            out.append(edge)
        elif len(edge) == 2:
            out.append({"id": f"e{i}", "source": edge[0], "target": edge[1]})
        else:
            out.append({"id": f"e{i}", "source": edge[0], "sourceHandle": edge[1], "target": edge[2]})
    return Journey.model_validate({"id": id, "name": id, "version": version, "status": "published",
                                   "settings": settings, "nodes": nodes, "edges": out})


def node(id: str, type: str, **data: Any) -> dict[str, Any]:
    return {"id": id, "type": type, "position": {"x": 0, "y": 0}, "data": data}


def entry(event: str = "cart.updated", id: str = "start", **data: Any) -> dict[str, Any]:
    return node(id, "entry", trigger={"event": event, **data.pop("trigger", {})}, **data)


def plan_of(j: Journey) -> Plan:
    return compile_plan(j)


@dataclass
class Sim:
    plans: dict[str, Plan]
    now: float = T0
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    instances: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    history: dict[str, list[tuple[float, str, Emit | Send]]] = field(default_factory=dict)
    paused: set[str] = field(default_factory=set)
    max_nodes_per_input: int = 0
    check_purity: bool = False
    seq: int = 0

    @classmethod
    def of(cls, *journeys: Journey | Plan, now: float = T0) -> Sim:
        plans = [j if isinstance(j, Plan) else compile_plan(j) for j in journeys]
        return cls({p.journey_id: p for p in plans}, now=now)

    # -- inputs -------------------------------------------------------------
    def contact(self, contact_id: str) -> dict[str, Any]:
        return self.contacts.get(contact_id) or new_contact(contact_id, WORKSPACE)

    def event(self, type: str, contact_id: str, data: dict[str, Any] | None = None,
              id: str | None = None) -> list[Emit | Send]:
        """Deliver one event at the current virtual time; returns the effects it caused."""
        self.seq += 1
        record = {"id": id or f"ev{self.seq}", "type": type, "workspace": WORKSPACE,
                  "contact_id": contact_id, "occurred_at": iso_from_epoch(self.now),
                  "received_at": iso_from_epoch(self.now), "source": "api", "data": data or {}}
        contact = apply_event(self.contact(contact_id), record)
        self.contacts[contact_id] = contact
        caused: list[Emit | Send] = []
        for journey_id, plan in self.plans.items():
            inst = self.instances.get((contact_id, journey_id))
            caused += self._step(contact_id, plan, inst, record)
        return caused

    def advance(self, seconds: float) -> list[Emit | Send]:
        """Move the clock forward, firing every timer that falls due on the way at its
        own wake time (earliest first; ties by contact then journey)."""
        target = self.now + seconds
        caused: list[Emit | Send] = []
        for _ in range(1_000_000):
            due = sorted((inst["wake_at"], cid, jid) for (cid, jid), inst in self.instances.items()
                         if inst["state"] == "active" and inst["wake_at"] is not None
                         and inst["wake_at"] <= target)
            if not due:
                break
            at, cid, jid = due[0]
            self.now = max(self.now, at)
            caused += self._step(cid, self.plans[jid], self.instances[(cid, jid)], None)
        else:
            raise AssertionError("timers keep firing without the clock moving")
        self.now = target
        return caused

    def tick(self, contact_id: str, journey_id: str = "j") -> list[Emit | Send]:
        """A timer tick for one instance at the current time (due or not)."""
        return self._step(contact_id, self.plans[journey_id], self.instances.get((contact_id, journey_id)), None)

    def pause(self, journey_id: str = "j") -> None:
        self.paused.add(journey_id)

    def resume(self, journey_id: str = "j") -> None:
        self.paused.discard(journey_id)
        for (cid, jid), inst in list(self.instances.items()):
            if jid == journey_id:
                self.instances[(cid, jid)] = resume(inst, self.now)

    def _step(self, contact_id: str, plan: Plan, inst: dict[str, Any] | None,
              record: dict[str, Any] | None) -> list[Emit | Send]:
        contact = self.contact(contact_id)
        before = copy.deepcopy((inst, contact, record)) if self.check_purity else None
        new, effects = step(inst, record, plan, self.now, contact, paused=plan.journey_id in self.paused)
        if before is not None:
            assert (inst, contact, record) == before, "step modified its inputs"
        if new is not None:
            self.instances[(contact_id, plan.journey_id)] = new
        entered = sum(1 for e in effects if isinstance(e, Emit) and e.type == "journey.node_entered")
        self.max_nodes_per_input = max(self.max_nodes_per_input, entered)
        log = self.history.setdefault(contact_id, [])
        for effect in effects:
            log.append((self.now, plan.journey_id, effect))
            if isinstance(effect, Emit):
                self.seq += 1
                contact = apply_event(contact, {"id": f"emitted{self.seq}", "type": effect.type,
                                                "occurred_at": iso_from_epoch(self.now), "data": effect.data})
        self.contacts[contact_id] = contact
        return effects

    # -- views --------------------------------------------------------------
    def effects(self, contact_id: str) -> list[Emit | Send]:
        return [e for _, _, e in self.history.get(contact_id, [])]

    def sends(self, contact_id: str) -> list[Send]:
        return [e for e in self.effects(contact_id) if isinstance(e, Send)]

    def path(self, contact_id: str) -> list[str]:
        return [e.data["node_id"] for e in self.effects(contact_id)
                if isinstance(e, Emit) and e.type == "journey.node_entered"]

    def inst(self, contact_id: str, journey_id: str = "j") -> dict[str, Any] | None:
        return self.instances.get((contact_id, journey_id))

    def snapshot(self) -> Any:
        return copy.deepcopy((self.instances, self.contacts,
                              {c: [(t, j, e) for t, j, e in h] for c, h in self.history.items()}))


def summarize(effect: Emit | Send) -> str:
    """One line per effect, as kept in the golden expected files."""
    if isinstance(effect, Send):
        offer = f" offer={effect.offer.get('kind')}" if effect.offer else ""
        return f"send {effect.channel} {effect.template} @{effect.node_id} {effect.message_id}{offer}"
    data = effect.data
    if effect.type == "journey.node_entered":
        return f"node {data['node_id']} (from {data['from_node']})"
    if effect.type == "journey.exited":
        return f"exited at {data['node_id']}: {data['reason']}"
    if effect.type == "message.suppressed":
        return f"suppressed {data['channel']} @{data['node_id']} {data['message_id']}: {data['reason']}"
    if effect.type == "journey.goal_reached":
        return f"goal {data['goal']}"
    if effect.type == "journey.entered":
        return f"entered v{data['version']}"
    return f"{effect.type} {sorted(data.items())}"


def run_script(sim: Sim, lines: Iterable[dict[str, Any]]) -> None:
    """Play script lines: ``{"advance": "PT4H"}``, ``{"pause": "j"}``, ``{"resume": "j"}``
    or an event envelope (``type``, ``contact_id``, ``data``; time = the virtual clock)."""
    from journeys.durations import seconds

    for line in lines:
        if "advance" in line:
            sim.advance(seconds(line["advance"]))
        elif "pause" in line:
            sim.pause(line["pause"])
        elif "resume" in line:
            sim.resume(line["resume"])
        else:
            sim.event(line["type"], line["contact_id"], line.get("data"), line.get("id"))
