"""Validation of the A/B settings on split nodes: ``auto_winner`` values and the control
flag (SB-013, SB-009), and the holdout rule (a holdout measured by the journey goal)."""

from __future__ import annotations

from typing import Any

import pytest

from journeys.graph import Journey
from journeys.validation import validate_journey


def journey(auto_winner: Any = None, holdout: bool = False, goal: bool = True, mode: str = "split",
            variants: list[dict[str, Any]] | None = None) -> Journey:
    data: dict[str, Any] = {"mode": mode}
    if mode == "split":
        data["variants"] = variants or [{"handle": "a", "weight": 50}, {"handle": "b", "weight": 50}]
    else:
        data["cases"] = [{"handle": "a", "rule": {"tag": "vip"}}]
        data["default"] = "b"
    if auto_winner is not None:
        data["auto_winner"] = auto_winner
    return Journey.model_validate({
        "id": "promo", "settings": {"goal": {"event": "order.placed"}} if goal else {},
        "nodes": [{"id": "start", "type": "entry", "data": {"trigger": {"event": "signup"}}},
                  {"id": "split", "type": "branch", "data": data},
                  {"id": "wait", "type": "wait", "data": {"mode": "duration", "duration": "P7D"}},
                  {"id": "wait2", "type": "wait", "data": {"mode": "duration", "duration": "P7D"}},
                  {"id": "end", "type": "end"}],
        "edges": [{"id": "e1", "source": "start", "target": "split"},
                  {"id": "e2", "source": "split", "sourceHandle": "a", "target": "wait"},
                  {"id": "e3", "source": "split", "sourceHandle": "b", "target": "end" if holdout else "wait2"},
                  {"id": "e4", "source": "wait", "target": "end"}, {"id": "e5", "source": "wait2", "target": "end"}],
    })


def problems(graph: Journey) -> list[tuple[str, str | None]]:
    return [(p.code, p.field) for p in validate_journey(graph) if p.severity == "error"]


def test_good_settings_pass():
    assert problems(journey({"confidence": 0.95, "min_per_variant": 100})) == []
    assert problems(journey({})) == []
    assert problems(journey({"confidence": 0.99, "min_per_variant": 10, "event": "order.placed", "window": "P14D"})) == []
    assert problems(journey({"event": "order.placed"}, holdout=True)) == []
    applied = {"handle": "b", "at": "2026-01-01T00:00:00Z", "p_value": 0.01}
    assert problems(journey({"confidence": 0.95, "applied": applied})) == []
    assert problems(journey(variants=[{"handle": "a", "weight": 50}, {"handle": "b", "weight": 50, "control": True}])) == []


@pytest.mark.parametrize("settings, field", [
    ({"confidence": 1.0}, "data.auto_winner.confidence"),
    ({"confidence": 0.5}, "data.auto_winner.confidence"),
    ({"confidence": "high"}, "data.auto_winner.confidence"),
    ({"confidence": True}, "data.auto_winner.confidence"),
    ({"min_per_variant": 0}, "data.auto_winner.min_per_variant"),
    ({"min_per_variant": 5}, "data.auto_winner.min_per_variant"),
    ({"min_per_variant": 100.5}, "data.auto_winner.min_per_variant"),
    ({"min_per_variant": "100"}, "data.auto_winner.min_per_variant"),
    ({"confidance": 0.95}, "data.auto_winner.confidance"),
    ({"event": "not an event"}, "data.auto_winner.event"),
    ({"applied": "yes"}, "data.auto_winner.applied"),
    ([0.95], "data.auto_winner"),
])
def test_bad_auto_winner_values_are_sb013(settings, field):
    assert problems(journey(settings)) == [("SB-013", field)]


def test_bad_window_is_a_duration_problem():
    assert problems(journey({"window": "two weeks"})) == [("SB-009", "data.auto_winner.window")]


def test_auto_winner_needs_a_split_and_a_conversion():
    assert problems(journey({"confidence": 0.95}, mode="condition")) == [("SB-013", "data.auto_winner")]
    assert problems(journey({"confidence": 0.95}, goal=False)) == [("SB-013", "data.auto_winner")]
    assert problems(journey({"confidence": 0.95, "event": "order.placed"}, goal=False)) == []


def test_a_holdout_cannot_be_judged_by_the_goal():
    found = [p for p in validate_journey(journey({"confidence": 0.95}, holdout=True)) if p.severity == "error"]
    assert [(p.code, p.node, p.field) for p in found] == [("SB-013", "split", "data.auto_winner.event")]
    assert "b leave the journey at once" in found[0].message
    assert problems(journey(holdout=True)) == []  # without auto_winner the report only warns


def test_control_flags():
    two = [{"handle": "a", "weight": 50, "control": True}, {"handle": "b", "weight": 50, "control": True}]
    assert problems(journey(variants=two)) == [("SB-013", "data.variants")]
    odd = [{"handle": "a", "weight": 50, "control": "yes"}, {"handle": "b", "weight": 50}]
    assert problems(journey(variants=odd)) == [("SB-013", "data.variants[0].control")]
