"""Golden journeys: a React Flow graph, an event script and the history it must produce.

Each journey in this folder is a trio of files:

* ``<name>.journey.json``: the graph, exactly as the editor saves it;
* ``<name>.events.jsonl``: the script, one JSON object per line: an optional first line
  ``{"start": "2026-11-20T10:00:00Z"}`` (the virtual clock's start), event envelopes
  (``type``, ``contact_id``, ``data``; they happen at the virtual clock's time),
  ``{"advance": "PT4H"}`` (move the clock, firing every timer that falls due on the way
  at its own wake time), ``{"pause": "<journey id>"}`` and ``{"resume": "<journey id>"}``;
* ``<name>.expected.json``: per contact, the ordered effects the interpreter emitted
  (one line each: time, then what happened) and the final state of its instance.

The script runs through ``engine.interpreter.step`` with contact states folded by
``journeys.contact.apply_event`` (see ``tests/engine/journey_sim.py``). A behaviour change
shows up as a diff against the expected file.

To accept a deliberate change, rewrite the expected files and review the diff by hand
before committing it::

    SWITCHBACK_UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from journey_sim import Sim, run_script, summarize

from engine.interpreter import message_id
from engine.plan import compile_plan
from journeys.events import iso_from_epoch, parse_time
from journeys.graph import Journey
from journeys.validation import errors, validate_journey

HERE = Path(__file__).resolve().parent
NAMES = sorted(p.name.removesuffix(".journey.json") for p in HERE.glob("*.journey.json"))
UPDATE = os.environ.get("SWITCHBACK_UPDATE_GOLDEN") == "1"


def replay(name: str) -> dict:
    journey = Journey.model_validate(json.loads((HERE / f"{name}.journey.json").read_text()))
    assert errors(validate_journey(journey)) == [], f"golden journey {name} must be valid"
    lines = [json.loads(line) for line in (HERE / f"{name}.events.jsonl").read_text().splitlines() if line.strip()]
    sim = Sim.of(compile_plan(journey))
    if lines and "start" in lines[0]:
        sim.now = parse_time(lines.pop(0)["start"])
    start = sim.now
    run_script(sim, lines)
    contacts = {}
    for contact_id in sorted({line["contact_id"] for line in lines if "contact_id" in line}):
        inst = sim.inst(contact_id, journey.id)
        contacts[contact_id] = {
            "history": [f"{iso_from_epoch(at)} {summarize(effect)}" for at, _, effect in sim.history.get(contact_id, [])],
            "final": None if inst is None else {
                "state": inst["state"], "node": inst["node"], "entries": inst["entries"], "visit": inst["visit"],
                "exit_reason": inst["exit_reason"],
                "wake_at": None if inst["wake_at"] is None else iso_from_epoch(inst["wake_at"]),
            },
        }
    return {"journey": journey.id, "version": journey.version, "start": iso_from_epoch(start),
            "end": iso_from_epoch(sim.now), "contacts": contacts}


def test_there_are_golden_journeys():
    assert len(NAMES) >= 3
    for name in NAMES:
        assert (HERE / f"{name}.events.jsonl").exists(), f"{name}.events.jsonl is missing"


@pytest.mark.parametrize("name", NAMES)
def test_golden(name):
    actual = replay(name)
    path = HERE / f"{name}.expected.json"
    if UPDATE:
        path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n")
        return
    assert path.exists(), f"{path.name} is missing; create it with SWITCHBACK_UPDATE_GOLDEN=1 and review it"
    expected = json.loads(path.read_text())
    assert actual["contacts"].keys() == expected["contacts"].keys()
    for contact_id, want in expected["contacts"].items():
        assert actual["contacts"][contact_id] == want, f"{name}: contact {contact_id} differs"
    assert actual == expected


@pytest.mark.parametrize("name", NAMES)
def test_golden_replays_are_identical(name):
    assert replay(name) == replay(name)


@pytest.mark.parametrize("name", NAMES)
def test_expected_message_ids_belong_to_the_node_visit_that_sent_them(name):
    """A cross-check of the expected file itself: each message id is the hash of the
    send node and the visit (the count of node entries so far) at which it was reached."""
    path = HERE / f"{name}.expected.json"
    if not path.exists():
        pytest.skip(f"{path.name} not written yet")
    expected = json.loads(path.read_text())
    for contact_id, record in expected["contacts"].items():
        visit, last_visit_of = 0, {}
        for line in record["history"]:
            words = line.split()
            if words[1] == "node":
                visit += 1
                last_visit_of[words[2]] = visit
            elif words[1] in ("send", "suppressed"):
                node_id = next(w for w in words if w.startswith("@"))[1:]
                mid = next(w for w in words if w.startswith("m_")).rstrip(":")
                assert mid == message_id("default", expected["journey"], expected["version"], contact_id, node_id,
                                         last_visit_of[node_id]), line
        assert record["final"] is None or record["final"]["visit"] == visit
