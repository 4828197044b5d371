"""The journey interpreter: ``step(instance, event, plan, now, contact) -> (instance, effects)``.

Pure and deterministic: no clock, no randomness, no I/O. The runtime passes the
current instant, the contact's state and the compiled plan of the version the
instance runs on; it carries out the returned effects (send commands and journey
events) and stores the new instance. ``event=None`` is a timer tick.

An instance is a plain dict (JSON-ready)::

    journey_id, version, state ("active" | "done"), node, visit, entries,
    wake_at (epoch s | None), awaiting ({event, match} | None), pending (bool: the
    send at ``node`` still has to happen), held (bool: held by a paused journey),
    entered_at, exited_at, exit_reason, trigger (the entry event), last_event, sends

``visit`` counts node entries over the contact's whole history in this journey, so
``message_id = hash(workspace, journey, version, contact, node, visit)`` is unique per
pass and identical on replay.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from engine.localtime import next_local_time, quiet_until
from engine.plan import Plan
from journeys.contact import address
from journeys.rules import evaluate, lookup

STEP_CAP = 100
_EXPR = re.compile(r"^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$")


@dataclass(frozen=True, slots=True)
class Emit:
    """Append a journey/message event for this contact; ``key`` makes its id deterministic."""

    type: str
    data: dict[str, Any]
    key: str


@dataclass(frozen=True, slots=True)
class Send:
    """Ask the sender to deliver one message (idempotent by ``message_id``)."""

    message_id: str
    channel: str
    template: Any
    journey_id: str
    version: int
    node_id: str
    offer: dict[str, Any] | None = None
    context: dict[str, Any] = field(default_factory=dict)
    rate_limit: dict[str, Any] | None = None  # the node's {"per_minute": n}: a campaign limit for the sender
    broadcast_id: str | None = None  # set on a broadcast's send node


Effect = Emit | Send


def message_id(workspace: str, journey_id: str, version: int, contact_id: str, node_id: str, visit: int) -> str:
    raw = f"{workspace}|{journey_id}|{version}|{contact_id}|{node_id}|{visit}".encode()
    return "m_" + hashlib.blake2b(raw, digest_size=12).hexdigest()


def split_bucket(contact_id: str, journey_id: str, node_id: str) -> float:
    """A stable number in [0, 1) for this contact at this split node."""
    digest = hashlib.blake2b(f"{contact_id}|{journey_id}|{node_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def step(instance: dict[str, Any] | None, event: dict[str, Any] | None, plan: Plan, now: float,
         contact: dict[str, Any], paused: bool = False) -> tuple[dict[str, Any] | None, list[Effect]]:
    """Feed one input (an event, or ``None`` for a timer tick) to one contact's instance."""
    effects: list[Effect] = []
    run = _Run(plan, now, contact, paused, effects)
    if event is None:
        if instance is None or instance["state"] != "active":
            return instance, effects
        if instance["wake_at"] is None or instance["wake_at"] > now:
            return instance, effects
        return run.wake(dict(instance)), effects
    if instance is not None and instance["state"] == "active":
        return run.react(dict(instance), event), effects
    if paused or not _triggers(plan, event, contact, now) or not _may_enter(plan, instance, now):
        return instance, effects
    return run.enter(instance, event), effects


def resume(instance: dict[str, Any], now: float) -> dict[str, Any]:
    """Release an instance held by a paused journey: its send fires at the next tick."""
    if instance["state"] == "active" and instance.get("held"):
        return {**instance, "held": False, "wake_at": now}
    return instance


def _triggers(plan: Plan, event: dict[str, Any], contact: dict[str, Any], now: float) -> bool:
    if event["type"] != plan.trigger_event:
        return False
    if plan.trigger_segment and (event.get("data") or {}).get("segment_id") != plan.trigger_segment:
        return False
    if plan.entry_filter is not None and not evaluate(plan.entry_filter, contact, now, event):
        return False
    # a contact the exit rule would take out (e.g. tagged do-not-contact) does not enter at all
    return plan.exit_rule is None or not evaluate(plan.exit_rule, contact, now, event)


def _may_enter(plan: Plan, instance: dict[str, Any] | None, now: float) -> bool:
    if instance is None:
        return True
    if plan.reentry == "never":
        return False
    if plan.reentry == "after":
        return (instance.get("exited_at") or 0.0) + plan.reentry_after <= now
    return True


def _slim(event: dict[str, Any]) -> dict[str, Any]:
    return {"id": event.get("id"), "type": event["type"], "occurred_at": event.get("occurred_at"),
            "data": event.get("data") or {}}


def render_value(value: Any, scope: dict[str, Any]) -> Any:
    """A match value: a literal, or ``{{ dotted.path }}`` looked up in ``scope``."""
    if isinstance(value, str):
        found = _EXPR.match(value)
        if found:
            return lookup(scope, found.group(1))
    return value


def matches(match: dict[str, Any] | None, event: dict[str, Any]) -> bool:
    if not match:
        return True
    for path, expected in match.items():
        actual = lookup(event, path)
        # an expression that rendered to nothing matches nothing (not the text "None")
        if actual is None or expected is None or str(actual) != str(expected):
            return False
    return True


class _Run:
    """One input's worth of interpretation; collects effects into ``self.effects``."""

    def __init__(self, plan: Plan, now: float, contact: dict[str, Any], paused: bool, effects: list[Effect]):
        self.plan, self.now, self.contact, self.paused, self.effects = plan, now, contact, paused, effects
        self.steps = 0

    # -- inputs ---------------------------------------------------------------
    def enter(self, previous: dict[str, Any] | None, event: dict[str, Any]) -> dict[str, Any]:
        inst = {
            "journey_id": self.plan.journey_id, "version": self.plan.version, "state": "active",
            "node": None, "visit": previous["visit"] if previous else 0,
            "entries": (previous["entries"] if previous else 0) + 1,
            "wake_at": None, "awaiting": None, "pending": False, "held": False,
            "entered_at": self.now, "exited_at": None, "exit_reason": None,
            "trigger": _slim(event), "last_event": None,
            "sends": previous.get("sends", []) if previous else [],
        }
        self._emit(inst, "journey.entered", {}, f"entered:{inst['entries']}")
        return self._go(inst, None, self.plan.entry_id)

    def react(self, inst: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
        plan, kind = self.plan, event["type"]
        if kind == "contact.deleted":
            return self._exit(inst, "contact_deleted")
        if plan.goal and kind == plan.goal["event"] and matches(self._rendered(inst, plan.goal.get("match")), event):
            self._emit(inst, "journey.goal_reached", {"goal": kind, "event_id": event.get("id")}, f"goal:{inst['visit']}")
            return self._exit(inst, "goal")
        if plan.exit_rule is not None and evaluate(plan.exit_rule, self.contact, self.now, event):
            return self._exit(inst, "exit_rule")
        awaiting = inst.get("awaiting")
        if awaiting and kind == awaiting["event"] and matches(awaiting.get("match"), event):
            inst.update(awaiting=None, wake_at=None, last_event=_slim(event))
            return self._follow(inst, inst["node"], "event")
        return inst

    def wake(self, inst: dict[str, Any]) -> dict[str, Any]:
        node = self.plan.nodes.get(inst["node"])
        if node is None:
            return self._exit(inst, "node_removed")
        if self.plan.exit_rule is not None and evaluate(self.plan.exit_rule, self.contact, self.now, None):
            return self._exit(inst, "exit_rule")  # time-relative rules (e.g. "no order within P30D") hold without an event
        inst["wake_at"] = None
        if inst.get("pending"):
            inst["pending"] = False
            return self._after(inst, node, self._send(inst, node))
        if node["type"] == "wait":
            handle = "timeout" if node["data"].get("mode") == "event" else "default"
            inst["awaiting"] = None
            return self._follow(inst, node["id"], handle)
        return inst

    # -- movement ---------------------------------------------------------------
    def _follow(self, inst: dict[str, Any], node_id: str, handle: str) -> dict[str, Any]:
        target = self.plan.next.get((node_id, handle))
        if target is None:
            return self._exit(inst, "dead_end")
        return self._go(inst, node_id, target)

    def _go(self, inst: dict[str, Any], from_node: str | None, target: str) -> dict[str, Any]:
        while True:
            self.steps += 1
            if self.steps > STEP_CAP:
                return self._exit(inst, "step_cap")
            node = self.plan.nodes[target]
            inst["visit"] += 1
            inst["node"] = target
            self._emit(inst, "journey.node_entered", {"node_id": target, "from_node": from_node}, f"node:{inst['visit']}")
            handle = self._run(inst, node)
            if handle is None:
                return inst
            if handle == "__exit__":
                return self._exit(inst, "completed")
            nxt = self.plan.next.get((target, handle))
            if nxt is None:
                return self._exit(inst, "dead_end")
            from_node, target = target, nxt

    def _after(self, inst: dict[str, Any], node: dict[str, Any], handle: str | None) -> dict[str, Any]:
        return inst if handle is None else self._follow(inst, node["id"], handle)

    def _run(self, inst: dict[str, Any], node: dict[str, Any]) -> str | None:
        """Do what the node does; return the out-handle to follow, or None to stop here."""
        kind, data = node["type"], node["data"]
        if kind == "entry":
            return "default"
        if kind == "end":
            return "__exit__"
        if kind == "branch":
            return self._branch(inst, node)
        if kind == "send":
            return self._send(inst, node)
        mode = data.get("mode")
        tz = self.contact["attributes"].get("timezone")
        if mode == "duration":
            inst["wake_at"] = self.now + data["seconds"]
        elif mode == "until":
            inst["wake_at"] = next_local_time(self.now, tz, data["time"], data.get("weekdays"))
        else:
            inst["awaiting"] = {"event": data["event"], "match": self._rendered(inst, data.get("match"))}
            inst["wake_at"] = self.now + data["timeout_seconds"]
        return None

    def _branch(self, inst: dict[str, Any], node: dict[str, Any]) -> str:
        data = node["data"]
        if data.get("mode") == "split":
            point = split_bucket(self.contact["id"], self.plan.journey_id, node["id"]) * data["total_weight"]
            for variant in data["variants"]:
                point -= variant["weight"]
                if point < 0:
                    return variant["handle"]
            return data["variants"][-1]["handle"]
        trigger = inst["trigger"]
        for case in data["cases"]:
            if evaluate(case["rule"], self.contact, self.now, trigger):
                return case["handle"]
        return data.get("default") or "else"

    def _send(self, inst: dict[str, Any], node: dict[str, Any]) -> str | None:
        data, plan, contact = node["data"], self.plan, self.contact
        channel = data["channel"]
        mid = message_id(contact["workspace"], plan.journey_id, plan.version, contact["id"], node["id"], inst["visit"])
        if self.paused:
            inst.update(pending=True, held=True, wake_at=None)
            return None
        reason = None
        if channel in contact["unsubscribed"]:
            reason = "unsubscribed"
        elif channel in contact["suppressed"]:
            reason = "suppressed"
        elif address(contact, channel) is None:
            reason = "no_address"
        elif plan.cap_max:
            recent = [t for t in inst.get("sends", []) if t > self.now - plan.cap_per]
            inst["sends"] = recent
            if len(recent) >= plan.cap_max:
                reason = "frequency_cap"
        if reason is None and plan.quiet:
            until = quiet_until(self.now, contact["attributes"].get("timezone"), plan.quiet)
            if until is not None:
                inst.update(pending=True, wake_at=until)
                return None
        if reason is not None:
            self._emit(inst, "message.suppressed", {"message_id": mid, "node_id": node["id"], "channel": channel,
                                                    "reason": reason}, f"suppressed:{mid}")
            return "default"
        inst["sends"] = [*inst.get("sends", []), self.now][-max(plan.cap_max, 1):]
        self.effects.append(Send(
            message_id=mid, channel=channel, template=data["template"], journey_id=plan.journey_id,
            version=plan.version, node_id=node["id"], offer=data.get("offer"), rate_limit=data.get("rate_limit"),
            broadcast_id=data.get("broadcast_id"),
            context={"trigger": inst["trigger"], "event": inst.get("last_event") or inst["trigger"],
                     "journey": {"id": plan.journey_id, "version": plan.version, "name": plan.name}},
        ))
        return "default"

    def _exit(self, inst: dict[str, Any], reason: str) -> dict[str, Any]:
        inst.update(state="done", exited_at=self.now, exit_reason=reason, wake_at=None, awaiting=None,
                    pending=False, held=False)
        self._emit(inst, "journey.exited", {"node_id": inst["node"], "reason": reason}, f"exited:{inst['visit']}")
        return inst

    # -- helpers ----------------------------------------------------------------
    def _rendered(self, inst: dict[str, Any], match: dict[str, Any] | None) -> dict[str, Any] | None:
        if not match:
            return match
        scope = {"trigger": inst["trigger"], "contact": self.contact["attributes"], "event": inst.get("last_event")}
        return {path: render_value(value, scope) for path, value in match.items()}

    def _emit(self, inst: dict[str, Any], kind: str, data: dict[str, Any], key: str) -> None:
        payload = {"journey_id": self.plan.journey_id, "version": inst["version"], **data}
        self.effects.append(Emit(kind, payload, f"{self.plan.journey_id}:{key}"))
