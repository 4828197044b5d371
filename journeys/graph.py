"""The journey graph, in the shape React Flow uses (nodes + edges), as pydantic models.

Models are lenient on purpose: a draft with half-filled nodes still parses, so the
editor never loses work; ``journeys.validation`` says what must change before
publishing. Extra React Flow fields (``measured``, ``selected``, ``style``, ...) are
kept and given back unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

NODE_TYPES = ("entry", "wait", "branch", "send", "end")
STATUSES = ("draft", "published", "paused", "archived")


class _Open(BaseModel):
    """Keeps unknown fields (React Flow adds its own) and round-trips them."""

    model_config = ConfigDict(extra="allow")


class Position(_Open):
    x: float = 0
    y: float = 0


class Node(_Open):
    id: str = Field(min_length=1, max_length=100)
    type: str = Field(min_length=1, max_length=40)
    position: Position = Field(default_factory=Position)
    data: dict[str, Any] = Field(default_factory=dict)


class Edge(_Open):
    id: str = Field(min_length=1, max_length=200)
    source: str
    target: str
    sourceHandle: str | None = None  # noqa: N815 (React Flow's name)
    targetHandle: str | None = None  # noqa: N815


class FrequencyCap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max: int = Field(ge=1)
    per: str = "P1D"


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Goal(BaseModel):
    model_config = ConfigDict(extra="forbid")
    event: str
    match: dict[str, Any] | None = None


class JourneySettings(_Open):
    reentry: Literal["never", "always", "after"] = "never"
    reentry_after: str | None = None
    goal: Goal | None = None
    exit: dict[str, Any] | None = None
    frequency_cap: FrequencyCap | None = None
    quiet_hours: QuietHours | None = None


class Journey(_Open):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(default="", max_length=200)
    version: int = 0
    status: Literal["draft", "published", "paused", "archived"] = "draft"
    settings: JourneySettings = Field(default_factory=JourneySettings)
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The graph as JSON, with the editor's extra fields and without unset defaults."""
        return self.model_dump(mode="json", exclude_none=True)


def out_handles(node: Node | dict[str, Any]) -> list[str]:
    """The out-handles a node offers (an edge with no ``sourceHandle`` means ``default``)."""
    kind = node.type if isinstance(node, Node) else node["type"]
    data = (node.data if isinstance(node, Node) else node.get("data")) or {}
    if kind in ("entry", "send"):
        return ["default"]
    if kind == "wait":
        return ["event", "timeout"] if data.get("mode") == "event" else ["default"]
    if kind == "branch":
        # drafts may hold anything here; only a list is a list of variants/cases
        if data.get("mode") == "split":
            variants = data.get("variants")
            return [str(v.get("handle")) for v in variants if isinstance(v, dict)] if isinstance(variants, list) else []
        listed = data.get("cases")
        cases = [str(c.get("handle")) for c in listed if isinstance(c, dict)] if isinstance(listed, list) else []
        return [*cases, str(data.get("default") or "else")]
    return []
