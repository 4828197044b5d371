"""The web UI and the API agree on the journey JSON.

The UI's vitest suite (ui/src/graph/convert.test.ts, ui/src/editor/store.test.ts) checks
its side against fixtures in ui/src/graph/fixtures/; these tests check that the same
fixtures are what the API says:

- ``api-saved/<id>.json``: each library journey as the API stores it after a save (the
  editor must open these unchanged);
- ``editor-built.json``: the JSON the editor's store builds for a five-node journey (the
  API must accept it unchanged and find no problem);
- ``handles.json``: ``out_handles`` of many nodes (the editor draws exactly these).

After a deliberate change of the API's JSON, rewrite the fixtures with
``SWITCHBACK_UPDATE_UI_FIXTURES=1`` and run the vitest suite again.
"""

from __future__ import annotations

import json
import os

import pytest

from journeys.graph import out_handles
from journeys.library import library_journeys
from tests.support import ROOT

FIXTURES = ROOT / "ui" / "src" / "graph" / "fixtures"
UPDATE = os.environ.get("SWITCHBACK_UPDATE_UI_FIXTURES") == "1"

HANDLE_CASES = [
    ("entry", {"trigger": {"event": "cart.updated"}}),
    ("entry", {}),
    ("send", {"channel": "email", "template": "t"}),
    ("end", {}),
    ("end", {"label": "Done"}),
    ("wait", {"mode": "duration", "duration": "P1D"}),
    ("wait", {"mode": "until", "time": "09:00"}),
    ("wait", {"mode": "event", "event": "order.placed", "timeout": "PT4H"}),
    ("wait", {}),
    ("branch", {"mode": "condition", "cases": [{"handle": "vip", "rule": {"tag": "vip"}}], "default": "else"}),
    ("branch", {"mode": "condition", "cases": [{"handle": "a", "rule": {}}, {"handle": "b", "rule": {}}]}),
    ("branch", {"mode": "condition", "cases": [{"handle": "a"}], "default": "other"}),
    ("branch", {"mode": "condition", "cases": [{"handle": "a"}], "default": ""}),
    ("branch", {"mode": "condition", "cases": [{"rule": {"tag": "x"}}], "default": None}),
    ("branch", {"mode": "condition", "cases": "not a list"}),
    ("branch", {"cases": [{"handle": "x"}, "junk", {"handle": 3}]}),
    ("branch", {}),
    ("branch", {"mode": "split", "variants": [{"handle": "treatment", "weight": 90}, {"handle": "holdout", "weight": 10}]}),
    ("branch", {"mode": "split", "variants": [{"handle": "a", "weight": 1}, {"weight": 1}, 7]}),
    ("branch", {"mode": "split", "variants": {"a": 1}}),
    ("branch", {"mode": "split"}),
    ("branch", {"mode": "condition", "cases": [{"handle": True}], "default": []}),
    ("mystery", {"anything": 1}),
]


def check_fixture(name: str, expected) -> None:
    path = FIXTURES / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
    assert path.is_file(), f"{path} is missing; run with SWITCHBACK_UPDATE_UI_FIXTURES=1"
    assert json.loads(path.read_text(encoding="utf-8")) == expected, \
        f"{path} differs from what the API says; rerun with SWITCHBACK_UPDATE_UI_FIXTURES=1 and check the vitest suite"


def test_ui_handle_fixture_is_what_the_api_offers():
    check_fixture("handles.json", [{"type": t, "data": d, "handles": out_handles({"type": t, "data": d})}
                                   for t, d in HANDLE_CASES])


@pytest.mark.parametrize("journey", library_journeys(), ids=lambda j: j["id"])
def test_ui_opens_library_journeys_as_the_api_saves_them(app_client, journey):
    saved = app_client.put(f"/v1/journeys/{journey['id']}", json=journey)
    assert saved.status_code == 200, saved.text
    draft = app_client.get(f"/v1/journeys/{journey['id']}").json()["draft"]
    assert draft == saved.json()["journey"]
    check_fixture(f"api-saved/{journey['id']}.json", draft)


def test_ui_built_journey_is_accepted_unchanged(app_client):
    built = json.loads((FIXTURES / "editor-built.json").read_text(encoding="utf-8"))
    templates = {n["data"]["template"] for n in built["nodes"] if n["type"] == "send"}
    for template in templates:
        assert app_client.put(f"/v1/templates/{template}", json={"channel": "email", "subject": "Hi",
                                                                 "text": "Hello"}).status_code == 200
    saved = app_client.put(f"/v1/journeys/{built['id']}", json=built)
    assert saved.status_code == 200, saved.text
    assert saved.json()["problems"] == []
    draft = app_client.get(f"/v1/journeys/{built['id']}").json()["draft"]
    stored = {k: v for k, v in draft.items() if k not in ("status", "version", "settings")}
    assert stored == built
    assert draft["settings"] == {"reentry": "never"}  # the API's defaults, kept by the editor as they come
    published = app_client.post(f"/v1/journeys/{built['id']}/publish")
    assert published.status_code == 200, published.text
