"""Segment definitions in the definitions store: the segment half of ``Definitions``.

``SegmentStore`` is mixed into ``engine.definitions.Definitions`` (it uses that class's
eventsourcing plumbing: ``_find``, ``_get``, ``_save``, ``_lock``, ``_index_for_write``).
A segment is a ``SegmentDefinition`` aggregate (``engine.definition_models``); the
workspace's segment ids are kept by ``WorkspaceSegments``. Rules are checked with
``journeys.segments.check_segment_rule``; problems name the field (``rule.all[1].op``),
references must name defined segments and may not form a cycle.
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from engine.definition_models import (NAME_PATTERN, DefinitionError, SegmentDefinition, WorkspaceSegments, Workspaces,
                                      iso)
from journeys.rules import RuleError
from journeys.segments import KINDS, check_segment_rule, find_cycle, segment_references

FIELDS = ("id", "name", "description", "kind", "rule")
READ_ONLY = ("version", "created_at", "updated_at", "members")  # what GET adds; ignored when sent back


def _name(kind: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise DefinitionError("invalid", f"{kind} {value!r} is not a valid id: use 1-100 letters, digits, '_' or '-'",
                              problems=[{"field": "id" if kind == "segment" else kind,
                                         "message": "use 1-100 letters, digits, '_' or '-'"}])
    return value


def rule_problems(segment_id: str | None, rule: Any, others: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems of a segment's rule (``others``: the workspace's other segments by id)."""
    if rule is None:
        return [{"field": "rule", "message": "a dynamic segment needs a rule, e.g. {\"tag\": \"vip\"}"}]
    try:
        check_segment_rule(rule)
    except RuleError as exc:
        return [{"field": exc.path, "message": exc.message}]
    problems = []
    refs = {sid: [ref for _, ref in segment_references(d["rule"])] for sid, d in others.items() if d.get("rule")}
    for path, ref in segment_references(rule):
        if ref == segment_id:
            problems.append({"field": path, "message": "a segment cannot contain itself"})
        elif ref not in others:
            problems.append({"field": path, "message": f"segment '{ref}' does not exist; create it first"})
        elif segment_id is not None:
            cycle = find_cycle(segment_id, {**refs, segment_id: [ref]})
            if cycle:
                problems.append({"field": path, "message": "segments cannot contain each other: "
                                 + " -> ".join(f"'{s}'" for s in cycle)})
    return problems


def segment_content(segment: dict[str, Any], others: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The stored definition (name, description, kind, rule), or ``DefinitionError``
    whose problems name the fields."""
    segment_id = segment["id"]
    problems: list[dict[str, Any]] = [
        {"field": key, "message": f"unknown field; a segment has {', '.join(FIELDS)}"}
        for key in segment if key not in FIELDS and key not in READ_ONLY]
    name = segment.get("name") or segment_id
    if not isinstance(name, str) or len(name) > 200:
        problems.append({"field": "name", "message": "must be text of at most 200 characters"})
    description = segment.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > 2000):
        problems.append({"field": "description", "message": "must be text of at most 2000 characters"})
    kind = segment.get("kind", "dynamic")
    if kind not in KINDS:
        problems.append({"field": "kind", "message": f"must be one of {', '.join(KINDS)}"})
    content: dict[str, Any] = {"name": name, "kind": kind}
    if description:
        content["description"] = description
    rule = segment.get("rule")
    if kind == "static" and rule is not None:
        problems.append({"field": "rule", "message": "a static segment has no rule; import its members instead"})
    elif kind == "dynamic":
        problems.extend(rule_problems(segment_id, rule, others))
        content["rule"] = rule
    if problems:
        first = problems[0]
        raise DefinitionError("invalid", f"segment '{segment_id}': {first['field']}: {first['message']}",
                              problems=problems)
    return content


class SegmentStore:
    """Segment commands and queries of ``Definitions``."""

    def _segment_list(self, workspace: str) -> list[SegmentDefinition]:
        listed = self._find(WorkspaceSegments, WorkspaceSegments.create_id(workspace))
        found = (self._find(SegmentDefinition, SegmentDefinition.create_id(workspace, s)) for s in listed.segments) \
            if listed else ()
        return [s for s in found if s is not None and not s.deleted]

    @staticmethod
    def _segment_info(segment: SegmentDefinition) -> dict[str, Any]:
        return {"id": segment.segment_id, **deepcopy(segment.definition), "version": segment.version,
                "created_at": iso(segment.created_on), "updated_at": iso(segment.modified_on)}

    def _segment(self, workspace: str, segment_id: str) -> SegmentDefinition:
        _name("workspace", workspace)
        label = f"'{segment_id}' (workspace '{workspace}')"
        segment = self._get(SegmentDefinition, SegmentDefinition.create_id(workspace, str(segment_id)), label)
        if segment.deleted:
            raise DefinitionError("not_found", f"segment {label} not found (it was deleted)")
        return segment

    def _others(self, workspace: str) -> dict[str, dict[str, Any]]:
        return {s.segment_id: s.definition for s in self._segment_list(workspace)}

    def check_segment_rule(self, workspace: str, rule: Any) -> dict[str, Any]:
        """Check a rule as a segment would use it (preview before saving)."""
        problems = rule_problems(None, rule, self._others(workspace))
        if problems:
            first = problems[0]
            raise DefinitionError("invalid", f"{first['field']}: {first['message']}", problems=problems)
        return rule

    def save_segment(self, workspace: str, segment: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a segment; returns it with ``changed`` (False when nothing
        changed) and ``previous`` (the definition before, or None)."""
        _name("workspace", workspace)
        if not isinstance(segment, dict):
            raise DefinitionError("invalid", "a segment is an object with id, name, kind and rule",
                                  problems=[{"field": "body", "message": "must be an object"}])
        segment_id = _name("segment", segment.get("id"))
        with self._lock:
            others = self._others(workspace)
            previous = others.pop(segment_id, None)
            content = segment_content(segment, others)
            index, registry = self._index_for_write(workspace)
            listed = self._find(WorkspaceSegments, WorkspaceSegments.create_id(workspace)) or WorkspaceSegments(workspace)
            aggregate = self._find(SegmentDefinition, SegmentDefinition.create_id(workspace, segment_id))
            if aggregate is None:
                aggregate, changed = SegmentDefinition(workspace, segment_id, deepcopy(content)), True
            else:
                changed = aggregate.edit(deepcopy(content))
            listed.add(segment_id)
            self._save(aggregate, listed, index if registry else None, registry)
        return self._segment_info(aggregate) | {"changed": changed, "previous": deepcopy(previous)}

    def get_segment(self, workspace: str, segment_id: str) -> dict[str, Any]:
        return self._segment_info(self._segment(workspace, segment_id))

    def list_segments(self, workspace: str) -> list[dict[str, Any]]:
        _name("workspace", workspace)
        return [self._segment_info(s) for s in self._segment_list(workspace)]

    def segment_ids(self, workspace: str) -> list[str]:
        return [s.segment_id for s in self._segment_list(workspace)]

    def delete_segment(self, workspace: str, segment_id: str) -> dict[str, Any]:
        """Delete a segment no other segment reads; returns what it was (``version``: the deletion's)."""
        with self._lock:
            segment = self._segment(workspace, segment_id)
            users = [s.segment_id for s in self._segment_list(workspace) if s.definition.get("rule")
                     and segment.segment_id in {ref for _, ref in segment_references(s.definition["rule"])}]
            if users:
                raise DefinitionError("conflict", f"segment '{segment_id}' is used by segment(s) "
                                      f"{', '.join(repr(u) for u in users)}; change those first")
            listed = self._find(WorkspaceSegments, WorkspaceSegments.create_id(workspace))
            segment.delete()
            if listed is not None:
                listed.remove(segment.segment_id)
            self._save(segment, listed)
        return self._segment_info(segment)

    def segments(self) -> list[tuple[str, dict[str, Any]]]:
        """(workspace, {"id", "kind", "rule", "version"}) of every segment (the runtimes' catalogue)."""
        registry = self._find(Workspaces, Workspaces.ID)
        found = []
        for workspace in registry.names if registry else []:
            for segment in self._segment_list(workspace):
                found.append((workspace, {"id": segment.segment_id, "kind": segment.definition["kind"],
                                          "rule": deepcopy(segment.definition.get("rule")), "version": segment.version}))
        return found
