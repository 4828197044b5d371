"""A published journey version compiled for the interpreter: lookups instead of lists.

``compile_plan`` runs once per version; the interpreter then finds a node's next step
with one dict lookup. Plans are immutable, like the published versions they come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from journeys.durations import seconds
from journeys.graph import Journey


@dataclass(frozen=True)
class Plan:
    journey_id: str
    version: int
    name: str
    entry_id: str
    trigger_event: str
    trigger_segment: str | None
    entry_filter: dict[str, Any] | None
    nodes: dict[str, dict[str, Any]]
    next: dict[tuple[str, str], str]
    goal: dict[str, Any] | None = None
    exit_rule: dict[str, Any] | None = None
    reentry: str = "never"
    reentry_after: float = 0.0
    cap_max: int = 0
    cap_per: float = 0.0
    quiet: tuple[int, int] | None = None
    graph: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def compile_plan(journey: Journey) -> Plan:
    """Compile a valid journey (run ``validate_journey`` first; this trusts the graph)."""
    nodes: dict[str, dict[str, Any]] = {}
    entry_id = ""
    for node in journey.nodes:
        data = dict(node.data)
        if node.type == "wait":
            if data.get("mode") == "duration":
                data["seconds"] = seconds(data["duration"])
            elif data.get("mode") == "event":
                data["timeout_seconds"] = seconds(data["timeout"])
        elif node.type == "branch" and data.get("mode") == "split":
            data["total_weight"] = float(sum(v["weight"] for v in data["variants"]))
        elif node.type == "entry":
            entry_id = node.id
        nodes[node.id] = {"id": node.id, "type": node.type, "data": data}
    nxt = {(e.source, e.sourceHandle or "default"): e.target for e in journey.edges}
    trigger = nodes[entry_id]["data"].get("trigger") or {} if entry_id else {}
    settings = journey.settings
    return Plan(
        journey_id=journey.id,
        version=journey.version,
        name=journey.name,
        entry_id=entry_id,
        trigger_event=trigger.get("event", ""),
        trigger_segment=trigger.get("segment"),
        entry_filter=nodes[entry_id]["data"].get("filter") if entry_id else None,
        nodes=nodes,
        next=nxt,
        goal=settings.goal.model_dump(exclude_none=True) if settings.goal else None,
        exit_rule=settings.exit,
        reentry=settings.reentry,
        reentry_after=seconds(settings.reentry_after) if settings.reentry == "after" and settings.reentry_after else 0.0,
        cap_max=settings.frequency_cap.max if settings.frequency_cap else 0,
        cap_per=seconds(settings.frequency_cap.per) if settings.frequency_cap else 0.0,
        quiet=(_minutes(settings.quiet_hours.start), _minutes(settings.quiet_hours.end)) if settings.quiet_hours else None,
        graph=journey.to_json(),
    )
