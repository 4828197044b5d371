"""Segment membership in memory: what a rule reads, and who enters or leaves.

Pure functions over the contact state of ``journeys.contact``. The engine keeps every
contact's ``segments`` list up to date event by event; evaluating every segment on
every event would cost too much, so each rule is reduced to the **inputs** it reads::

    ("attr", "city")  ("tag", "vip")  ("subscribed", "email")  ("event", "order.placed")
    ("metric", "order_count")  ("engaged", "*")  ("segment", "big-spenders")

``touched(before, after, event)`` lists the inputs one event changed; only segments
reading one of them are evaluated again. Segments of segments are evaluated in
dependency order (a segment after the segments it reads), so one event can move a
contact into ``big-spenders`` and, through it, into ``vip-candidates``.

Who can be a member: contacts the read model has a ``contacts`` row for (any contact
event, order, cart or custom event; not only message/journey/segment/offer events),
and not erased (after an erasure only ``contact.created``/``updated`` brings the
profile back). An erased contact leaves every segment. This is also what
``projections.segment_sql`` selects.

Membership events from elsewhere (a backfill, a static import) are facts, except for a
dynamic segment: there the rule decides, and a claim it contradicts is undone at once.
A backfill names the definition ``version`` it was computed from; a claim from a newer
definition than the one loaded (a runtime that has not reloaded yet) stays a fact.

Time-relative rules (``within``, ``last_order_at`` against a duration) also change as
time passes: ``SegmentBook.due_at`` gives the next instant at which one of them may
change for a contact (the engine sets a timer for it, see ``engine.processing``).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from journeys.durations import parse_duration
from journeys.rules import METRICS, RuleError, evaluate, parse_rule

KINDS = ("dynamic", "static")
SEGMENT_EVENTS = frozenset({"segment.entered", "segment.exited"})
# events that never give a contact a row in the read model (projections.handlers)
_NO_CONTACT_ROW = ("message.", "journey.", "segment.", "offer.", "workspace.")
EPSILON = 0.001  # a timestamp leaves a "within" window just after t + window
Input = tuple[str, str]


# -- what a rule reads -----------------------------------------------------------------
def leaves(rule: dict[str, Any], path: str = "rule") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every leaf rule with its path (``rule.all[1]``), depth first."""
    for kind in ("all", "any"):
        if kind in rule:
            for i, sub in enumerate(rule[kind]):
                yield from leaves(sub, f"{path}.{kind}[{i}]")
            return
    if "not" in rule:
        yield from leaves(rule["not"], f"{path}.not")
        return
    yield path, rule


def reads(rule: dict[str, Any]) -> frozenset[Input]:
    """The inputs a (parsed) rule depends on."""
    found: set[Input] = set()
    for _, leaf in leaves(rule):
        if "attr" in leaf:
            found.add(("attr", leaf["attr"].split(".", 1)[0]))
        elif "tag" in leaf:
            found.add(("tag", leaf["tag"].lower()))
        elif "subscribed" in leaf:
            found.add(("subscribed", leaf["subscribed"]))
        elif "event" in leaf:
            found.add(("event", leaf["event"]))
        elif "metric" in leaf:
            found.add(("metric", leaf["metric"]))
        elif "engaged" in leaf:
            found.add(("engaged", "*"))
        elif "segment" in leaf:
            found.add(("segment", leaf["segment"]))
        elif "property" in leaf:
            found.add(("property", leaf["property"]))
    return frozenset(found)


def is_time_relative(rule: dict[str, Any]) -> bool:
    """Can the rule's result change with time alone (``within``, ``last_order_at`` vs ``P90D``)?"""
    return any(_timed_leaf(leaf) for _, leaf in leaves(rule))


def _timed_leaf(leaf: dict[str, Any]) -> bool:
    if "within" in leaf and ("event" in leaf or "engaged" in leaf):
        return True
    value = leaf.get("value")
    return leaf.get("metric") == "last_order_at" and isinstance(value, str) and value.startswith("P")


def segment_references(rule: dict[str, Any]) -> list[tuple[str, str]]:
    """``(path, segment id)`` of every ``{"segment": ...}`` in a (parsed) rule."""
    return [(f"{path}.segment", leaf["segment"]) for path, leaf in leaves(rule) if "segment" in leaf]


def check_segment_rule(rule: Any) -> dict[str, Any]:
    """``parse_rule`` plus what only a segment forbids: ``property`` (there is no
    triggering event when membership is computed) and counting ``segment.*`` events
    (membership would depend on itself). Raises ``RuleError`` with the path."""
    parse_rule(rule, "rule")
    for path, leaf in leaves(rule):
        if "property" in leaf:
            raise RuleError(f"{path}.property", "a segment cannot read the triggering event; use attr, tag, event, ...")
        if leaf.get("event") in SEGMENT_EVENTS:
            raise RuleError(f"{path}.event", "a segment cannot count membership events; use {\"segment\": \"id\"}")
    return rule


def find_cycle(start: str, refs: dict[str, Iterable[str]]) -> list[str] | None:
    """A path ``[start, ..., start]`` if following segment references from ``start``
    comes back to it, else None. ``refs``: segment id -> ids its rule reads."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for nxt in refs.get(node, ()):
            if nxt == start:
                return [*trail, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None


# -- who may be a member -----------------------------------------------------------------
def is_eligible(contact: dict[str, Any]) -> bool:
    """Has the contact a profile: a row in the read model, and not erased (an order or a
    tag after an erasure brings the row back but not the profile; only a contact event
    does, as in the fold)?"""
    return not contact.get("deleted") and any(not kind.startswith(_NO_CONTACT_ROW) for kind in contact["totals"])


def touched(before: dict[str, Any], after: dict[str, Any], event: dict[str, Any]) -> set[Input]:
    """The inputs ``event`` changed (``after = apply_event(before, event)``)."""
    found: set[Input] = {("event", event["type"])}
    if after["attributes"] is not before["attributes"]:
        old, new = before["attributes"], after["attributes"]
        found.update(("attr", k) for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    if after["tags"] is not before["tags"]:
        found.update(("tag", t) for t in set(before["tags"]) ^ set(after["tags"]))
    for part in ("unsubscribed", "suppressed"):
        if after[part] is not before[part]:
            found.update(("subscribed", c) for c in set(before[part]) ^ set(after[part]))
    for metric in METRICS:
        if after[metric] != before[metric]:
            found.add(("metric", metric))
    if after["engaged"] is not before["engaged"]:
        found.add(("engaged", "*"))
    if after["segments"] is not before["segments"]:
        found.update(("segment", s) for s in set(before["segments"]) ^ set(after["segments"]))
    return found


# -- one workspace's segments, compiled ------------------------------------------------
@dataclass(frozen=True)
class Segment:
    id: str
    kind: str
    rule: dict[str, Any] | None
    reads: frozenset[Input]
    timed: bool
    version: int = 0

    @classmethod
    def of(cls, definition: dict[str, Any]) -> Segment:
        rule = definition.get("rule") if definition.get("kind", "dynamic") == "dynamic" else None
        return cls(definition["id"], "dynamic" if rule is not None else "static", rule,
                   reads(rule) if rule is not None else frozenset(),
                   is_time_relative(rule) if rule is not None else False, int(definition.get("version") or 0))


@dataclass
class Changes:
    """What one input did to a contact's memberships, in the order it happened."""

    changes: list[tuple[str, str]] = field(default_factory=list)  # ("segment.entered"|"segment.exited", id)
    timed: bool = False  # a time-relative segment was looked at: its re-check time may have moved

    @property
    def entered(self) -> list[str]:
        return [sid for kind, sid in self.changes if kind == "segment.entered"]

    @property
    def exited(self) -> list[str]:
        return [sid for kind, sid in self.changes if kind == "segment.exited"]


class SegmentBook:
    """The segments of one workspace, indexed by the inputs their rules read."""

    def __init__(self, definitions: Iterable[dict[str, Any]]):
        self.segments: dict[str, Segment] = {}
        for definition in definitions:
            segment = Segment.of(definition)
            self.segments[segment.id] = segment
        dynamic = {sid: s for sid, s in self.segments.items() if s.kind == "dynamic"}
        self.rank = {sid: i for i, sid in enumerate(_dependency_order(dynamic))}
        self.readers: dict[Input, list[str]] = {}
        for sid, segment in dynamic.items():
            for item in segment.reads:
                self.readers.setdefault(item, []).append(sid)
        self.timed = tuple(sorted((sid for sid, s in dynamic.items() if s.timed), key=self.rank.__getitem__))
        self.event_types = frozenset(name for kind, name in self.readers if kind == "event")
        self._timed_inputs = {("segment", sid) for sid in self.timed}

    def __bool__(self) -> bool:
        return bool(self.segments)

    def changes(self, before: dict[str, Any], after: dict[str, Any], event: dict[str, Any] | None,
                now: float) -> Changes:
        """Memberships to change after ``event`` turned ``before`` into ``after``
        (``event=None``: the time-relative segments' re-check). The membership compared
        with is ``after["segments"]``, what the contact is recorded in."""
        result = Changes()
        if event is not None and event["type"] == "contact.deleted":
            result.changes = [("segment.exited", sid) for sid in before["segments"]]
            result.timed = bool(self.timed)
            return result
        if event is None:
            dirty = set(self.timed)
        else:
            inputs = touched(before, after, event)
            dirty = {sid for item in inputs for sid in self.readers.get(item, ())}
            if event["type"] in SEGMENT_EVENTS:
                data = event.get("data") or {}
                sid = data.get("segment_id")
                if sid in self.rank and (data.get("version") or 0) <= self.segments[sid].version:
                    dirty.add(sid)  # an outside claim about a dynamic segment: check it (unless it
                    # was computed from a definition newer than this one, which is then a fact)
            if not event["type"].startswith(_NO_CONTACT_ROW) and not is_eligible(before) and is_eligible(after):
                dirty = set(self.rank)  # a new (or re-created) profile: every segment may apply
            if not inputs.isdisjoint(self._timed_inputs):
                result.timed = True
        if not dirty:
            return result
        eligible = is_eligible(after)
        members = set(after["segments"])
        working = {**after, "segments": members}
        queue = [(self.rank[sid], sid) for sid in dirty]
        heapq.heapify(queue)
        done: set[str] = set()
        while queue:
            _, sid = heapq.heappop(queue)
            if sid in done:
                continue
            done.add(sid)
            segment = self.segments[sid]
            result.timed = result.timed or segment.timed
            member = eligible and evaluate(segment.rule, working, now)
            if member == (sid in members):
                continue
            if member:
                members.add(sid)
                result.changes.append(("segment.entered", sid))
            else:
                members.discard(sid)
                result.changes.append(("segment.exited", sid))
            for reader in self.readers.get(("segment", sid), ()):
                if reader not in done:
                    heapq.heappush(queue, (self.rank[reader], reader))
        return result

    def due_at(self, contact: dict[str, Any], now: float) -> float | None:
        """The next instant after ``now`` at which a time-relative segment may change its
        verdict on ``contact`` (None: only an event can change it)."""
        if not self.timed or not is_eligible(contact):
            return None
        soonest = None
        for sid in self.timed:
            for _, leaf in leaves(self.segments[sid].rule):
                at = _boundary(leaf, contact, now)
                if at is not None and (soonest is None or at < soonest):
                    soonest = at
        return soonest


def _boundary(leaf: dict[str, Any], contact: dict[str, Any], now: float) -> float | None:
    if not _timed_leaf(leaf):
        return None
    if "metric" in leaf:
        last = contact["last_order_at"]
        if last is None:
            return None
        at = last + parse_duration(leaf["value"]).total_seconds() + EPSILON
        return at if at > now else None
    window = parse_duration(leaf["within"]).total_seconds()
    if "event" in leaf:
        stamps = contact["events"].get(leaf["event"], ())
        i = bisect_left(stamps, now - window)
        return stamps[i] + window + EPSILON if i < len(stamps) else None
    ats = [e["at"] + window + EPSILON for e in contact["engaged"]
           if e["kind"] == leaf["engaged"] and e["at"] + window + EPSILON > now]
    return min(ats) if ats else None


def _dependency_order(dynamic: dict[str, Segment]) -> list[str]:
    """Segment ids, each after the dynamic segments it reads (Kahn's algorithm; ids in a
    cycle, which validation refuses, come last in id order)."""
    deps = {sid: {item[1] for item in s.reads if item[0] == "segment" and item[1] in dynamic and item[1] != sid}
            for sid, s in dynamic.items()}
    order: list[str] = []
    ready = sorted(sid for sid, d in deps.items() if not d)
    users: dict[str, list[str]] = {}
    for sid, d in deps.items():
        for dep in d:
            users.setdefault(dep, []).append(sid)
    waiting = {sid: len(d) for sid, d in deps.items()}
    while ready:
        sid = heapq.heappop(ready)
        order.append(sid)
        for user in users.get(sid, ()):
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, user)
    placed = set(order)
    return order + sorted(sid for sid in dynamic if sid not in placed)


def membership_changes(segments: SegmentBook | Iterable[dict[str, Any]], before: dict[str, Any],
                       after: dict[str, Any], event: dict[str, Any] | None, now: float) -> tuple[list[str], list[str]]:
    """``(entered, exited)`` segment ids after ``event`` turned ``before`` into ``after``;
    ``segments`` is a ``SegmentBook`` or segment definitions (``{"id", "kind", "rule"}``)."""
    book = segments if isinstance(segments, SegmentBook) else SegmentBook(segments)
    found = book.changes(before, after, event, now)
    return found.entered, found.exited
