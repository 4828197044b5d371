"""Experiments end to end (in-process app, real SQLite files, virtual clock): a published
50/50 split with a goal, contacts fed through the API, the numbers and verdict from
``GET /v1/journeys/{id}/experiments``; the auto-winner publishes exactly one new version
with the split re-weighted when a variant wins, and none when not; roles and errors."""

from __future__ import annotations

import time
from typing import Any

import pytest

from api.experiments import AutoWinnerChecker, check_all
from engine.interpreter import split_bucket
from journeys.events import iso_from_epoch
from journeys.experiments import VariantCounts, analyze
from tests.support import settle

JID = "promo"


def split_journey(auto_winner: dict[str, Any] | None = None, holdout: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"mode": "split", "variants": [{"handle": "a", "weight": 50}, {"handle": "b", "weight": 50}]}
    if auto_winner is not None:
        data["auto_winner"] = auto_winner
    graph = {
        "id": JID, "name": "Promo", "settings": {"goal": {"event": "order.placed"}},
        "nodes": [{"id": "start", "type": "entry", "data": {"trigger": {"event": "contact.created"}}},
                  {"id": "split", "type": "branch", "data": data},
                  {"id": "wait_a", "type": "wait", "data": {"mode": "duration", "duration": "P7D"}},
                  {"id": "wait_b", "type": "wait", "data": {"mode": "duration", "duration": "P7D"}},
                  {"id": "end", "type": "end"}],
        "edges": [{"id": "e1", "source": "start", "target": "split"},
                  {"id": "e2", "source": "split", "sourceHandle": "a", "target": "wait_a"},
                  {"id": "e3", "source": "split", "sourceHandle": "b", "target": "end" if holdout else "wait_b"},
                  {"id": "e4", "source": "wait_a", "target": "end"},
                  {"id": "e5", "source": "wait_b", "target": "end"}],
    }
    if holdout:  # b goes straight to the end: no wait_b
        graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "wait_b"]
        graph["edges"] = [e for e in graph["edges"] if e["id"] != "e5"]
    return graph


def publish(client, graph: dict[str, Any]) -> None:
    saved = client.put(f"/v1/journeys/{JID}", json=graph)
    assert saved.status_code == 200 and saved.json()["problems"] == [], saved.text
    assert client.post(f"/v1/journeys/{JID}/publish").status_code == 200


def variant_of(contact_id: str) -> str:
    """Where the 50/50 split sends a contact (the interpreter's stable bucket)."""
    return "a" if split_bucket(contact_id, JID, "split") < 0.5 else "b"


def join(client, ids: list[str]) -> None:
    response = client.post("/v1/events", json={"batch": [
        {"type": "contact.created", "contact_id": c, "data": {"email": f"{c}@example.com"}} for c in ids]})
    assert response.status_code == 202, response.text


def buy(client, ids: list[str], order: str = "o") -> None:
    """Orders, dated by the app's (virtual) clock, as the engine dates its own events."""
    at = iso_from_epoch(client.services.clock.now())
    if ids:
        response = client.post("/v1/events", json={"batch": [
            {"type": "order.placed", "contact_id": c, "occurred_at": at,
             "data": {"order_id": f"{order}-{c}", "amount": "10.00"}} for c in ids]})
        assert response.status_code == 202, response.text


def run(client, contacts: int, buyers: dict[str, int], prefix: str = "c") -> dict[str, list[str]]:
    """``contacts`` contacts enter; the first ``buyers[v]`` of variant v place an order."""
    ids = [f"{prefix}{i:03d}" for i in range(contacts)]
    join(client, ids)
    settle(client)
    groups = {"a": [c for c in ids if variant_of(c) == "a"], "b": [c for c in ids if variant_of(c) == "b"]}
    buy(client, [c for v, members in groups.items() for c in members[:buyers.get(v, 0)]])
    settle(client)
    return groups


def experiments(client, **params) -> list[dict[str, Any]]:
    response = client.get(f"/v1/journeys/{JID}/experiments", params=params)
    assert response.status_code == 200, response.text
    return response.json()["experiments"]


def versions(client) -> list[int]:
    return [v["version"] for v in client.get(f"/v1/journeys/{JID}").json()["versions"]]


def split_data(client, version: int) -> dict[str, Any]:
    graph = client.get(f"/v1/journeys/{JID}/versions/{version}").json()
    return next(n for n in graph["nodes"] if n["id"] == "split")["data"]


# -- the numbers --------------------------------------------------------------------------------
def test_a_50_50_split_reports_its_numbers(app_client):
    publish(app_client, split_journey())
    groups = run(app_client, 80, {"a": 4, "b": 12})
    [item] = experiments(app_client)
    entered = {"a": len(groups["a"]), "b": len(groups["b"])}
    assert entered["a"] + entered["b"] == 80 and min(entered.values()) >= 12
    expected = analyze([VariantCounts("a", entered["a"], 4), VariantCounts("b", entered["b"], 12)]).as_dict()
    assert item["version"] == 1 and item["node_id"] == "split" and item["weights"] == {"a": 50, "b": 50}
    assert item["conversion"] == {"kind": "goal", "event": None, "window_seconds": None} and item["warnings"] == []
    assert item["control"] == "a"
    rows = {v["handle"]: v for v in item["variants"]}
    assert (rows["a"]["entered"], rows["a"]["converted"]) == (entered["a"], 4)
    assert (rows["b"]["entered"], rows["b"]["converted"]) == (entered["b"], 12)
    assert rows["b"]["rate"] == pytest.approx(12 / entered["b"])
    assert rows["b"]["lift"] == pytest.approx((12 / entered["b"] - 4 / entered["a"]) / (4 / entered["a"]))
    for key in ("p_value", "probability_best", "difference", "ci"):
        assert rows["b"][key] == pytest.approx(expected["variants"][1][key])
    assert rows["a"]["p_value"] is None and rows["a"]["control"] is True
    # under 100 contacts per variant (the default minimum): not yet
    smallest = min(entered.values())
    assert item["verdict"] == f"not yet significant ({100 - smallest} more per variant needed to reach the minimum of 100)"
    assert item["outcome"] == "not_significant" and item["more_per_variant_needed"] == 100 - smallest


def test_an_event_with_a_window_can_be_the_conversion(app_client):
    publish(app_client, split_journey())
    groups = run(app_client, 40, {"a": 3, "b": 1})
    app_client.post("/v1/testing/clock/advance", json={"duration": "P3D"})
    settle(app_client)
    buy(app_client, groups["b"][1:3], order="late")  # two more of b order, three days after the split
    settle(app_client)

    def converted(**params) -> tuple[int, int]:
        rows = {v["handle"]: v for v in experiments(app_client, **params)[0]["variants"]}
        return rows["a"]["converted"], rows["b"]["converted"]

    assert converted(event="order.placed") == (3, 3)  # any order after the split
    assert converted(event="order.placed", window="P1D") == (3, 1)  # the late orders fall outside
    assert converted() == (3, 3)  # the goal: they were still waiting in the journey
    assert converted(window="P1D") == (3, 1)
    windowed = experiments(app_client, event="order.placed", window="P1D")[0]
    assert windowed["conversion"] == {"kind": "event", "event": "order.placed", "window_seconds": 86400.0}


# -- auto-winner --------------------------------------------------------------------------------
def test_auto_winner_publishes_exactly_one_new_version(app_client):
    publish(app_client, split_journey({"confidence": 0.95, "min_per_variant": 20}))
    groups = run(app_client, 60, {"a": 1, "b": 20})
    assert check_all(app_client.services) == 1
    assert versions(app_client) == [1, 2]
    data = split_data(app_client, 2)
    assert data["variants"] == [{"handle": "a", "weight": 0}, {"handle": "b", "weight": 100}]
    note = data["auto_winner"]["applied"]
    assert note["handle"] == "b" and note["from_version"] == 1 and note["p_value"] < 0.05
    assert note["entered"] == {"a": len(groups["a"]), "b": len(groups["b"])} and note["at"].endswith("Z")
    assert data["auto_winner"]["confidence"] == 0.95
    assert split_data(app_client, 1)["variants"][0]["weight"] == 50  # published versions never change
    # never twice: the checker, the route, the checker again
    assert check_all(app_client.services) == 0
    again = app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner").json()
    assert again["applied"] == [] and again["experiments"][0]["outcome"] == "applied"
    assert check_all(app_client.services) == 0 and versions(app_client) == [1, 2]
    # the report: version 2 is the applied winner, version 1 keeps its verdict
    items = experiments(app_client)
    assert [(i["version"], i["verdict"]) for i in items] == [(2, "winner: b (applied from version 1)"), (1, "winner: b")]
    # new contacts all take b now
    join(app_client, [f"n{i}" for i in range(10)])
    settle(app_client)
    rows = {v["handle"]: v for v in experiments(app_client, version=2)[0]["variants"]}
    assert (rows["a"]["entered"], rows["b"]["entered"]) == (0, 10)


def test_no_winner_no_new_version(app_client):
    publish(app_client, split_journey({"confidence": 0.95, "min_per_variant": 20}))
    run(app_client, 60, {"a": 5, "b": 6})
    assert check_all(app_client.services) == 0
    response = app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner")
    assert response.status_code == 200 and response.json()["applied"] == []
    assert response.json()["experiments"][0]["outcome"] == "not_significant"
    assert versions(app_client) == [1]


def test_not_enough_contacts_no_new_version(app_client):
    publish(app_client, split_journey({"confidence": 0.95, "min_per_variant": 50}))
    run(app_client, 60, {"a": 0, "b": 20})  # overwhelming, but under 50 per variant
    assert check_all(app_client.services) == 0 and versions(app_client) == [1]


def test_the_checker_thread_applies_the_winner(app_client):
    publish(app_client, split_journey({"confidence": 0.95, "min_per_variant": 20}))
    run(app_client, 60, {"a": 0, "b": 20})
    checker = AutoWinnerChecker(app_client.services, interval=0.05)
    checker.start()
    try:
        deadline = time.monotonic() + 15
        while versions(app_client) != [1, 2]:
            assert time.monotonic() < deadline, "the checker did not publish version 2"
            time.sleep(0.05)
        checker.run_once()
        assert checker.last_error is None
    finally:
        checker.stop()
    assert versions(app_client) == [1, 2]


def test_on_demand_without_auto_winner_settings(app_client):
    publish(app_client, split_journey())  # no auto_winner: the checker leaves it alone
    run(app_client, 240, {"a": 5, "b": 60})
    assert check_all(app_client.services) == 0 and versions(app_client) == [1]
    response = app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner", params={"node_id": "split"})
    assert response.status_code == 200, response.text
    [applied] = response.json()["applied"]
    assert applied["node_id"] == "split" and applied["handle"] == "b" and applied["version"] == 2
    assert split_data(app_client, 2)["variants"] == [{"handle": "a", "weight": 0}, {"handle": "b", "weight": 100}]


def test_unpublished_draft_edits_are_kept(app_client):
    publish(app_client, split_journey({"confidence": 0.95, "min_per_variant": 20}))
    edited = split_journey({"confidence": 0.95, "min_per_variant": 20}) | {"name": "Promo, new copy"}
    assert app_client.put(f"/v1/journeys/{JID}", json=edited).status_code == 200
    run(app_client, 60, {"a": 0, "b": 20})
    assert check_all(app_client.services) == 1
    assert app_client.get(f"/v1/journeys/{JID}/versions/2").json()["name"] == "Promo"  # the published graph
    draft = app_client.get(f"/v1/journeys/{JID}").json()["draft"]
    assert draft["name"] == "Promo, new copy"
    data = next(n for n in draft["nodes"] if n["id"] == "split")["data"]
    assert data["variants"] == [{"handle": "a", "weight": 0}, {"handle": "b", "weight": 100}]
    assert data["auto_winner"]["applied"]["handle"] == "b"


def test_a_holdout_judged_by_the_goal_is_only_reported(app_client):
    publish(app_client, split_journey(holdout=True))
    run(app_client, 240, {"a": 40, "b": 40})
    [item] = experiments(app_client)
    assert "b lead(s) straight to an end node" in item["warnings"][0]
    rows = {v["handle"]: v for v in item["variants"]}
    assert (rows["a"]["converted"], rows["b"]["converted"]) == (40, 0)  # b left before ordering: the goal misses them
    assert item["verdict"] == "winner: a"  # what the biased measure says...
    assert app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner").json()["applied"] == []  # ...is not applied
    assert versions(app_client) == [1]
    # measured by the order event instead, the holdout's orders count: no winner
    [fair] = experiments(app_client, event="order.placed")
    rows = {v["handle"]: v for v in fair["variants"]}
    assert (rows["a"]["converted"], rows["b"]["converted"]) == (40, 40)
    assert fair["warnings"] == [] and fair["outcome"] != "winner"


def test_holdout_auto_winner_measured_by_an_event(app_client):
    publish(app_client, split_journey({"min_per_variant": 20, "event": "order.placed", "window": "P7D"}, holdout=True))
    run(app_client, 60, {"a": 20, "b": 0})
    assert check_all(app_client.services) == 1
    assert split_data(app_client, 2)["variants"] == [{"handle": "a", "weight": 100}, {"handle": "b", "weight": 0}]


def test_without_a_goal_the_variants_are_still_counted(app_client):
    graph = split_journey()
    graph["settings"] = {}
    publish(app_client, graph)
    groups = run(app_client, 30, {"a": 2})
    [item] = experiments(app_client)
    assert item["verdict"] == "no conversion defined" and item["conversion"] is None
    assert "no goal" in item["warnings"][0]
    assert [(v["handle"], v["entered"], v["converted"]) for v in item["variants"]] == [
        ("a", len(groups["a"]), None), ("b", len(groups["b"]), None)]
    rows = {v["handle"]: v for v in experiments(app_client, event="order.placed")[0]["variants"]}
    assert (rows["a"]["converted"], rows["b"]["converted"]) == (2, 0)


# -- errors and roles ---------------------------------------------------------------------------
def test_errors(app_client):
    assert app_client.get("/v1/journeys/nope/experiments").status_code == 404
    publish(app_client, split_journey())
    missing = app_client.get(f"/v1/journeys/{JID}/experiments", params={"version": 7})
    assert missing.status_code == 404 and "published versions: 1" in missing.json()["error"]["message"]
    bad = app_client.get(f"/v1/journeys/{JID}/experiments", params={"window": "a week"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == "window"
    bad = app_client.get(f"/v1/journeys/{JID}/experiments", params={"event": "no spaces"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == "event"
    assert app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner",
                           params={"node_id": "other"}).status_code == 404
    assert app_client.post(f"/v1/journeys/{JID}/pause").status_code == 200
    paused = app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner")
    assert paused.status_code == 409 and paused.json()["error"]["code"] == "state"
    assert versions(app_client) == [1]


def test_draft_only_journey_has_no_experiments_to_apply(app_client):
    assert app_client.put(f"/v1/journeys/{JID}", json=split_journey()).status_code == 200
    assert experiments(app_client) == []
    assert app_client.post(f"/v1/journeys/{JID}/experiments/apply-winner").status_code == 409


def test_roles(app_client):
    publish(app_client, split_journey())
    keys = {}
    for role in ("analyst", "ingest", "marketer"):
        created = app_client.post("/v1/keys", json={"role": role, "name": role})
        assert created.status_code == 201, created.text
        keys[role] = {"Authorization": f"Bearer {created.json()['secret']}"}
    url = f"/v1/journeys/{JID}/experiments"
    assert app_client.get(url, headers=keys["analyst"]).status_code == 200
    assert app_client.get(url, headers=keys["ingest"]).status_code == 403
    assert app_client.post(url + "/apply-winner", headers=keys["analyst"]).status_code == 403
    assert app_client.post(url + "/apply-winner", headers=keys["marketer"]).status_code == 200
    assert app_client.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
