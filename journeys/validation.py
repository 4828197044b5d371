"""The journey validator: every problem names its node or edge, has a stable code and
says how to fix it (docs/errors.md lists the codes).

Run on save (problems are returned, the draft is kept) and on publish (any error
refuses the publish). Warnings (unreachable nodes) never block.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from journeys.durations import DurationError, parse_duration
from journeys.events import CHANNELS
from journeys.graph import NODE_TYPES, Journey, Node, out_handles
from journeys.rules import RuleError, parse_rule

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    node: str | None = None
    edge: str | None = None
    field: str | None = None
    severity: str = "error"

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        where = f"node '{self.node}'" if self.node else f"edge '{self.edge}'" if self.edge else "journey"
        return f"{self.code} {where}: {self.message}"


def validate_journey(journey: Journey, templates: Iterable[str] | None = None,
                     segments: Iterable[str] | None = None) -> list[Problem]:
    """All problems of ``journey``; ``templates``/``segments`` (ids) enable reference checks."""
    problems: list[Problem] = []
    add = problems.append
    nodes: dict[str, Node] = {}
    for node in journey.nodes:
        if node.id in nodes:
            add(Problem("SB-004", f"node id '{node.id}' is used twice; ids must be unique", node=node.id))
        nodes[node.id] = node
    entries = [n for n in journey.nodes if n.type == "entry"]
    if not entries:
        add(Problem("SB-001", "the journey has no entry node; add one entry node that says who starts"))
    for extra in entries[1:]:
        add(Problem("SB-002", "only one entry node is allowed; remove this one or merge triggers", node=extra.id))
    template_ids = set(templates) if templates is not None else None
    segment_ids = set(segments) if segments is not None else None
    for node in journey.nodes:
        if node.type not in NODE_TYPES:
            add(Problem("SB-003", f"unknown node type '{node.type}'; use one of {', '.join(NODE_TYPES)}", node=node.id))
            continue
        for problem in _check_node(node, template_ids, segment_ids):
            add(problem)
    _check_edges(journey, nodes, add)
    _check_cycles(journey, nodes, add)
    _check_reachable(journey, nodes, entries, add)
    _check_settings(journey, add)
    _check_experiments(journey, nodes, add)
    return problems


def errors(problems: Iterable[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity == "error"]


def _duration(node: Node, field: str, value: Any) -> Problem | None:
    try:
        parse_duration(value)
    except DurationError as exc:
        return Problem("SB-009", f"{field} {exc}", node=node.id, field=f"data.{field}")
    return None


def _rule(node_id: str | None, field: str, rule: Any, segment_ids: set[str] | None) -> Iterable[Problem]:
    try:
        parse_rule(rule, field)
    except RuleError as exc:
        yield Problem("SB-012", f"rule {exc}", node=node_id, field=exc.path)
        return
    if segment_ids is not None:
        for seg in _segments_in(rule):
            if seg not in segment_ids:
                yield Problem("SB-011", f"segment '{seg}' does not exist; create it or pick another", node=node_id, field=field)


def _segments_in(rule: Any) -> Iterable[str]:
    if isinstance(rule, dict):
        if isinstance(rule.get("segment"), str):
            yield rule["segment"]
        for value in rule.values():
            yield from _segments_in(value)
    elif isinstance(rule, list):
        for item in rule:
            yield from _segments_in(item)


def _check_node(node: Node, template_ids: set[str] | None, segment_ids: set[str] | None) -> Iterable[Problem]:
    data = node.data
    missing = lambda f, hint: Problem("SB-013", f"{f} is required: {hint}", node=node.id, field=f"data.{f}")  # noqa: E731
    if node.type == "entry":
        trigger = data.get("trigger")
        if not isinstance(trigger, dict) or not trigger.get("event") or not isinstance(trigger["event"], str):
            yield missing("trigger", "the event that starts the journey, e.g. {\"event\": \"cart.updated\"}")
        elif trigger["event"] == "segment.entered" and (not trigger.get("segment") or not isinstance(trigger["segment"], str)):
            yield missing("trigger.segment", "the segment whose new members start the journey")
        elif trigger["event"] == "segment.entered" and segment_ids is not None and trigger["segment"] not in segment_ids:
            yield Problem("SB-011", f"segment '{trigger['segment']}' does not exist", node=node.id, field="data.trigger.segment")
        if data.get("filter") is not None:
            yield from _rule(node.id, "data.filter", data["filter"], segment_ids)
    elif node.type == "wait":
        mode = data.get("mode")
        if mode == "duration":
            if "duration" not in data:
                yield missing("duration", "how long to wait, e.g. 'P2D'")
            elif p := _duration(node, "duration", data["duration"]):
                yield p
        elif mode == "until":
            if not isinstance(data.get("time"), str) or not _TIME.match(data["time"]):
                yield Problem("SB-013", "time must be a local time of day 'HH:MM', e.g. '09:00'", node=node.id, field="data.time")
            weekdays = data.get("weekdays") or []
            bad = [d for d in weekdays if d not in WEEKDAYS] if isinstance(weekdays, list) else weekdays
            if bad:
                yield Problem("SB-013", f"weekdays {bad} are not among {', '.join(WEEKDAYS)}", node=node.id, field="data.weekdays")
        elif mode == "event":
            if not data.get("event") or not isinstance(data["event"], str):
                yield missing("event", "the event type to wait for, e.g. 'order.placed'")
            if "timeout" not in data:
                yield missing("timeout", "how long to wait for the event, e.g. 'PT4H'")
            elif p := _duration(node, "timeout", data["timeout"]):
                yield p
            if data.get("match") is not None and not isinstance(data["match"], dict):
                yield Problem("SB-013", "match must map event paths to values", node=node.id, field="data.match")
        else:
            yield Problem("SB-013", "mode must be 'duration', 'until' or 'event'", node=node.id, field="data.mode")
    elif node.type == "branch":
        yield from _check_branch(node, segment_ids)
    elif node.type == "send":
        if data.get("channel") not in CHANNELS:
            yield Problem("SB-013", f"channel must be one of {', '.join(CHANNELS)}", node=node.id, field="data.channel")
        template = data.get("template")
        if not template:
            yield missing("template", "the template to send")
        elif template_ids is not None and isinstance(template, str) and template not in template_ids:
            yield Problem("SB-010", f"template '{template}' does not exist; create it or pick another", node=node.id, field="data.template")
        offer = data.get("offer")
        if isinstance(offer, dict) and "expires_in" in offer and (p := _duration(node, "offer.expires_in", offer["expires_in"])):
            yield p
        limit = data.get("rate_limit")
        if limit is not None:
            rate = limit.get("per_minute") if isinstance(limit, dict) else None
            if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1_000_000:
                yield Problem("SB-013", "rate_limit must be {\"per_minute\": n} with n > 0 (messages per minute)",
                              node=node.id, field="data.rate_limit.per_minute")


def _check_branch(node: Node, segment_ids: set[str] | None) -> Iterable[Problem]:
    data = node.data
    if data.get("mode") == "split":
        variants = data.get("variants")
        if not isinstance(variants, list) or len(variants) < 2:
            yield Problem("SB-013", "a split needs at least two variants with a handle and a weight", node=node.id, field="data.variants")
            return
        for i, v in enumerate(variants):
            if not isinstance(v, dict) or not v.get("handle") or not isinstance(v["handle"], str) \
                    or not isinstance(v.get("weight"), (int, float)) or v["weight"] < 0:
                yield Problem("SB-013", "each variant needs a handle and a weight >= 0", node=node.id, field=f"data.variants[{i}]")
        if sum(v.get("weight", 0) for v in variants if isinstance(v, dict) and isinstance(v.get("weight"), (int, float))) <= 0:
            yield Problem("SB-013", "split weights must add up to more than zero", node=node.id, field="data.variants")
    elif data.get("mode", "condition") == "condition":
        cases = data.get("cases")
        if not isinstance(cases, list) or not cases:
            yield Problem("SB-013", "a condition branch needs at least one case with a handle and a rule", node=node.id, field="data.cases")
            return
        for i, case in enumerate(cases):
            if not isinstance(case, dict) or not case.get("handle") or not isinstance(case["handle"], str):
                yield Problem("SB-013", "each case needs a handle", node=node.id, field=f"data.cases[{i}].handle")
                continue
            yield from _rule(node.id, f"data.cases[{i}].rule", case.get("rule"), segment_ids)
        if data.get("default") is not None and not isinstance(data["default"], str):
            yield Problem("SB-013", "default must be the name of a handle, e.g. 'else'", node=node.id, field="data.default")
    else:
        yield Problem("SB-013", "mode must be 'condition' or 'split'", node=node.id, field="data.mode")
    handles = out_handles(node)
    if len(set(handles)) != len(handles):
        yield Problem("SB-013", "branch handles must be unique", node=node.id)


def _check_edges(journey: Journey, nodes: dict[str, Node], add) -> None:
    used: dict[tuple[str, str], str] = {}
    seen_ids: set[str] = set()
    for edge in journey.edges:
        if edge.id in seen_ids:
            add(Problem("SB-014", f"edge id '{edge.id}' is used twice", edge=edge.id))
        seen_ids.add(edge.id)
        for end, node_id in (("source", edge.source), ("target", edge.target)):
            if node_id not in nodes:
                add(Problem("SB-005", f"{end} '{node_id}' is not a node of this journey", edge=edge.id))
        source = nodes.get(edge.source)
        if source is None or source.type not in NODE_TYPES:
            continue
        handle = edge.sourceHandle or "default"
        handles = out_handles(source)
        if handle not in handles:
            offer = ", ".join(handles) or "none (an end node has no way out)"
            add(Problem("SB-006", f"node '{source.id}' has no out-handle '{handle}'; it offers: {offer}", edge=edge.id, node=source.id))
            continue
        if (source.id, handle) in used:
            add(Problem("SB-014", f"out-handle '{handle}' of node '{source.id}' is connected twice (also edge '{used[source.id, handle]}')", edge=edge.id, node=source.id))
        used[(source.id, handle)] = edge.id
        if edge.target in nodes and nodes[edge.target].type == "entry":
            add(Problem("SB-005", "no edge may lead into the entry node", edge=edge.id))
    for node in journey.nodes:
        if node.type not in NODE_TYPES:
            continue
        for handle in out_handles(node):
            if (node.id, handle) not in used:
                label = "its way out" if handle == "default" else f"out-handle '{handle}'"
                add(Problem("SB-007", f"{label} is not connected; connect it to the next step (or to an end node)", node=node.id, field=f"handle.{handle}"))


def _check_cycles(journey: Journey, nodes: dict[str, Node], add) -> None:
    """A cycle made only of zero-time nodes would spin forever: each needs a wait on it."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for edge in journey.edges:
        if edge.source in nodes and edge.target in nodes and nodes[edge.source].type != "wait" and nodes[edge.target].type != "wait":
            succ[edge.source].append(edge.target)
    state: dict[str, int] = {}
    for start in succ:
        if state.get(start):
            continue
        stack = [(start, iter(succ[start]))]
        state[start] = 1
        while stack:
            node_id, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node_id] = 2
                stack.pop()
            elif state.get(child) == 1:
                add(Problem("SB-008", f"the path {node_id} -> {child} closes a loop with no wait on it; add a wait node to the loop", node=child))
                return
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(succ[child])))


def _check_reachable(journey: Journey, nodes: dict[str, Node], entries: list[Node], add) -> None:
    if not entries:
        return
    succ: dict[str, list[str]] = {}
    for edge in journey.edges:
        succ.setdefault(edge.source, []).append(edge.target)
    seen, todo = {entries[0].id}, [entries[0].id]
    while todo:
        for nxt in succ.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    for node_id in nodes:
        if node_id not in seen and nodes[node_id].type != "entry":
            add(Problem("SB-016", "no path from the entry reaches this node", node=node_id, severity="warning"))


def _check_settings(journey: Journey, add) -> None:
    settings = journey.settings
    if settings.reentry == "after":
        if not settings.reentry_after:
            add(Problem("SB-015", "reentry 'after' needs reentry_after, e.g. 'P30D'", field="settings.reentry_after"))
        else:
            try:
                parse_duration(settings.reentry_after)
            except DurationError as exc:
                add(Problem("SB-009", f"reentry_after {exc}", field="settings.reentry_after"))
    if settings.frequency_cap:
        try:
            parse_duration(settings.frequency_cap.per)
        except DurationError as exc:
            add(Problem("SB-009", f"frequency_cap.per {exc}", field="settings.frequency_cap.per"))
    if settings.exit is not None:
        for p in _rule(None, "settings.exit", settings.exit, None):
            add(p)


_AUTO_WINNER_KEYS = ("confidence", "min_per_variant", "event", "window", "applied")
_EVENT_TYPE = re.compile(r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$")


def _check_experiments(journey: Journey, nodes: dict[str, Node], add) -> None:
    """A/B settings of branch nodes (docs/experiments.md): ``variants[i].control`` and
    ``auto_winner`` {confidence, min_per_variant, event, window; applied: set by Switchback}."""
    targets = {(e.source, e.sourceHandle or "default"): e.target for e in journey.edges}
    for node in journey.nodes:
        if node.type != "branch":
            continue
        data, split = node.data, node.data.get("mode") == "split"
        variants = data.get("variants") if split and isinstance(data.get("variants"), list) else []
        flags = [i for i, v in enumerate(variants) if isinstance(v, dict) and "control" in v]
        for i in flags:
            if not isinstance(variants[i]["control"], bool):
                add(Problem("SB-013", "control must be true or false", node=node.id,
                            field=f"data.variants[{i}].control"))
        if sum(1 for i in flags if variants[i]["control"] is True) > 1:
            add(Problem("SB-013", "only one variant can be the control", node=node.id, field="data.variants"))
        if "auto_winner" not in data:
            continue

        def bad(key: str, message: str, node_id: str = node.id) -> None:
            add(Problem("SB-013", message, node=node_id, field=f"data.auto_winner{key}"))

        settings = data["auto_winner"]
        if not split:
            bad("", "auto_winner applies to split branches only (mode 'split')")
            continue
        if not isinstance(settings, dict):
            bad("", 'auto_winner must be an object, e.g. {"confidence": 0.95, "min_per_variant": 100}')
            continue
        for key in settings:
            if key not in _AUTO_WINNER_KEYS:
                bad(f".{key}", f"unknown auto_winner setting '{key}'; use {', '.join(_AUTO_WINNER_KEYS[:4])}")
        confidence = settings.get("confidence", 0.95)
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.8 <= confidence <= 0.999:
            bad(".confidence", "confidence must be a number from 0.8 to 0.999, e.g. 0.95")
        minimum = settings.get("min_per_variant", 100)
        if isinstance(minimum, bool) or not isinstance(minimum, int) or not 10 <= minimum <= 10_000_000:
            bad(".min_per_variant", "min_per_variant must be a whole number of contacts from 10 to 10000000, e.g. 100")
        event = settings.get("event")
        if event is not None and (not isinstance(event, str) or not _EVENT_TYPE.match(event)):
            bad(".event", "event must be an event type, e.g. 'order.placed'")
        if settings.get("window") is not None:
            try:
                parse_duration(settings["window"])
            except DurationError as exc:
                add(Problem("SB-009", f"auto_winner.window {exc}", node=node.id, field="data.auto_winner.window"))
        applied = settings.get("applied")
        if applied is not None and (not isinstance(applied, dict) or not isinstance(applied.get("handle"), str)):
            bad(".applied", "applied is set by Switchback when a winner is applied; remove it to run a new test")
        if event is None and journey.settings.goal is None:
            bad("", "auto_winner needs a conversion: set the journey's settings.goal, or auto_winner.event")
        elif event is None:
            holdouts = [v["handle"] for v in variants if isinstance(v, dict) and isinstance(v.get("handle"), str)
                        and getattr(nodes.get(targets.get((node.id, v["handle"]), "")), "type", None) == "end"]
            if holdouts:
                bad(".event", f"auto_winner.event is required: contacts on {', '.join(holdouts)} leave the journey at"
                              " once and can never reach its goal, so measure an event, e.g. 'order.placed'")
