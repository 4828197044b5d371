"""Journeys over HTTP: drafts are kept even when invalid (with their problems), publishing
refuses an invalid graph and never touches the published versions, pause/resume, list,
versions and live stats while the abandoned-cart journey runs on the virtual clock."""

from __future__ import annotations

import re

import copy
import time

from journeys.library import library_journey
from tests.api.conftest import error_locs, load_templates, publish_cart
from tests.support import settle

JID = "abandoned-cart"


def cart(client, contact_id: str, cart_id: str) -> None:
    response = client.post("/v1/events", json={"batch": [
        {"type": "contact.created", "contact_id": contact_id, "data": {"email": f"{contact_id}@example.com",
                                                                       "first_name": contact_id.upper()}},
        {"type": "cart.updated", "contact_id": contact_id, "data": {"cart_id": cart_id}},
    ]})
    assert response.status_code == 202, response.text


def position(client, contact_id: str) -> dict | None:
    journeys = client.get(f"/v1/contacts/{contact_id}").json()["journeys"]
    return journeys[0] if journeys else None


def broken_graph() -> dict:
    """The library graph with the reminder's out-edge removed and an edge to a missing node."""
    graph = library_journey(JID)
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e4"]
    graph["edges"].append({"id": "e99", "source": "offer", "target": "nowhere"})
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e9"]
    return graph


def test_journey_lifecycle_runs_and_reports_stats(app_client):
    load_templates(app_client)
    saved = app_client.put(f"/v1/journeys/{JID}", json=library_journey(JID))
    assert saved.status_code == 200
    assert saved.json()["problems"] == [] and saved.json()["journey"]["status"] == "draft"
    assert app_client.post(f"/v1/journeys/{JID}/validate").json() == {"valid": True, "problems": []}
    published = app_client.post(f"/v1/journeys/{JID}/publish")
    assert published.status_code == 200
    assert published.json()["version"] == 1 and published.json()["status"] == "published"

    listing = app_client.get("/v1/journeys").json()["items"]
    assert [(j["id"], j["status"], j["current_version"]) for j in listing] == [(JID, "published", 1)]
    one = app_client.get(f"/v1/journeys/{JID}").json()
    assert one["name"] == "Abandoned cart" and [v["version"] for v in one["versions"]] == [1]
    assert {n["id"] for n in one["draft"]["nodes"]} == {n["id"] for n in library_journey(JID)["nodes"]}
    v1 = app_client.get(f"/v1/journeys/{JID}/versions/1").json()
    assert v1["version"] == 1 and v1["nodes"] == published.json()["nodes"]

    cart(app_client, "buyer", "k-buyer")
    cart(app_client, "ann", "k-ann")
    app_client.post("/v1/events", json={"type": "order.placed", "contact_id": "buyer",
                                        "data": {"order_id": "o1", "cart_id": "k-buyer", "amount": "20.00"}})
    settle(app_client)
    stats = app_client.get(f"/v1/journeys/{JID}/stats").json()
    assert stats["nodes"]["start"]["entered"] == 2
    assert stats["nodes"]["wait_order"]["current"] == 1
    assert stats["nodes"]["bought"]["exited"] == 1
    assert stats["totals"]["entered"] == 2 and stats["totals"]["active"] == 1
    assert stats["by_version"]["1"]["wait_order"]["current"] == 1
    assert position(app_client, "ann")["node_id"] == "wait_order"
    assert app_client.get("/v1/outbox").json()["items"] == []

    # four hours later the reminder goes out; ann waits a day for the next step
    app_client.post("/v1/testing/clock/advance", json={"duration": "PT4H1M"})
    settle(app_client)
    [message] = app_client.get("/v1/outbox").json()["items"]
    assert message["contact_id"] == "ann" and message["to_address"] == "ann@example.com"
    assert message["subject"] == "You left something in your cart" and "Hi ANN" in message["html"]
    # the cart link (with the cart id) is tracked: its click token leads to it
    [link] = [u for u in re.findall(r'href="([^"]+)"', message["html"]) if "/c/" in u]
    clicked = app_client.get(link.replace("http://127.0.0.1:8000", ""), follow_redirects=False)
    assert clicked.status_code == 302 and "k-ann" in clicked.headers["location"]
    assert message["journey_id"] == JID and message["node_id"] == "remind"
    assert app_client.get("/v1/outbox", params={"contact_id": "buyer"}).json()["items"] == []
    assert position(app_client, "ann")["node_id"] == "wait_day"
    stats = app_client.get(f"/v1/journeys/{JID}/stats").json()
    assert stats["nodes"]["remind"]["entered"] == 1 and stats["nodes"]["wait_day"]["current"] == 1


def test_invalid_draft_is_saved_with_problems_but_never_published(app_client):
    v1 = publish_cart(app_client)
    cart(app_client, "early", "k1")
    settle(app_client)

    saved = app_client.put(f"/v1/journeys/{JID}", json=broken_graph())
    assert saved.status_code == 200
    problems = saved.json()["problems"]
    by_code = {(p["code"], p.get("node"), p.get("edge")) for p in problems}
    assert ("SB-007", "remind", None) in by_code            # the reminder's out-handle is not connected
    assert ("SB-005", None, "e99") in by_code               # an edge to a node that does not exist
    assert all(p["message"] for p in problems)
    # the draft is kept as sent, the published journey is not touched
    journey = app_client.get(f"/v1/journeys/{JID}").json()
    assert {e["id"] for e in journey["draft"]["edges"]} == {e["id"] for e in broken_graph()["edges"]}
    assert journey["status"] == "published" and journey["current_version"] == 1

    validated = app_client.post(f"/v1/journeys/{JID}/validate").json()
    assert validated["valid"] is False
    assert {(p["code"], p.get("node"), p.get("edge")) for p in validated["problems"]} == by_code

    refused = app_client.post(f"/v1/journeys/{JID}/publish")
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"]["code"] == "invalid" and "cannot be published" in body["error"]["message"]
    assert {(p["code"], p.get("node"), p.get("edge")) for p in body["problems"]} == by_code

    journey = app_client.get(f"/v1/journeys/{JID}").json()
    assert journey["current_version"] == 1 and [v["version"] for v in journey["versions"]] == [1]
    assert app_client.get(f"/v1/journeys/{JID}/versions/1").json() == v1
    assert app_client.get(f"/v1/journeys/{JID}/versions/2").status_code == 404
    # the runtime still runs version 1 for new entries
    cart(app_client, "late", "k2")
    settle(app_client)
    assert position(app_client, "late")["version"] == 1 and position(app_client, "late")["node_id"] == "wait_order"


def test_unreadable_graphs_are_refused_and_the_draft_is_kept(app_client):
    publish_cart(app_client)
    before = app_client.get(f"/v1/journeys/{JID}").json()
    graph = library_journey(JID)
    cases = [
        ({**graph, "nodes": "start,end"}, "nodes"),
        ({**graph, "edges": [{"source": "start", "target": "wait_order"}]}, "edges[0].id"),
        ({**graph, "nodes": [{"id": "start"}]}, "nodes[0].type"),
        ({**graph, "settings": {"reentry": "sometimes"}}, "settings.reentry"),
        ({**graph, "settings": {"frequency_cap": {"max": "lots", "per": "P1D"}}}, "settings.frequency_cap.max"),
        ({**graph, "settings": {"quiet_hours": {"start": "25:00", "end": "08:00"}}}, "settings.quiet_hours.start"),
        ({**graph, "settings": {"goal": {"event": "order.placed", "extra": 1}}}, "settings.goal.extra"),
        ({**graph, "name": 7}, "name"),
        ({**graph, "status": "live"}, "status"),
        ({**graph, "id": "other-id"}, "id"),
        ([graph], "body"),
    ]
    for payload, loc in cases:
        response = app_client.put(f"/v1/journeys/{JID}", json=payload)
        assert response.status_code == 422, (loc, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert loc in error_locs(response), (loc, error_locs(response))
    malformed = app_client.put(f"/v1/journeys/{JID}", content=b'{"id": "abandoned-cart", "nodes": [',
                               headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    bad_id = app_client.put("/v1/journeys/bad%20id", json={"nodes": []})
    assert bad_id.status_code == 422
    after = app_client.get(f"/v1/journeys/{JID}").json()
    assert after["draft"] == before["draft"] and after["versions"] == before["versions"]
    assert [j["id"] for j in app_client.get("/v1/journeys").json()["items"]] == [JID]


def test_publish_refuses_missing_templates_until_they_exist(app_client):
    saved = app_client.put(f"/v1/journeys/{JID}", json=library_journey(JID))
    assert saved.status_code == 200
    missing = {(p["code"], p["node"]) for p in saved.json()["problems"]}
    assert missing == {("SB-010", "remind"), ("SB-010", "offer"), ("SB-010", "last_call")}
    refused = app_client.post(f"/v1/journeys/{JID}/publish")
    assert refused.status_code == 422 and len(refused.json()["problems"]) == 3
    journey = app_client.get(f"/v1/journeys/{JID}").json()
    assert journey["status"] == "draft" and journey["current_version"] in (None, 0) and journey["versions"] == []
    assert app_client.post(f"/v1/journeys/{JID}/pause").status_code == 409
    load_templates(app_client)
    assert app_client.post(f"/v1/journeys/{JID}/validate").json()["valid"] is True
    assert app_client.post(f"/v1/journeys/{JID}/publish").json()["version"] == 1


def test_pause_holds_new_entries_and_resume_continues(app_client):
    publish_cart(app_client)
    paused = app_client.post(f"/v1/journeys/{JID}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    again = app_client.post(f"/v1/journeys/{JID}/pause")
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert app_client.get("/v1/journeys").json()["items"][0]["status"] == "paused"
    cart(app_client, "while-paused", "k1")
    settle(app_client)
    assert position(app_client, "while-paused") is None

    resumed = app_client.post(f"/v1/journeys/{JID}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "published"
    assert app_client.post(f"/v1/journeys/{JID}/resume").status_code == 409
    cart(app_client, "after", "k2")
    settle(app_client)
    assert position(app_client, "after")["node_id"] == "wait_order"


def test_pause_holds_waiting_contacts_before_their_next_message(app_client):
    publish_cart(app_client)
    cart(app_client, "ann", "k1")
    settle(app_client)
    assert app_client.post(f"/v1/journeys/{JID}/pause").status_code == 200
    app_client.post("/v1/testing/clock/advance", json={"duration": "PT4H1M"})
    settle(app_client)
    assert app_client.get("/v1/outbox").json()["items"] == []
    assert app_client.post(f"/v1/journeys/{JID}/resume").status_code == 200
    # the runtime notices the resume on its next round (it polls definitions at most every 0.5 s)
    deadline = time.monotonic() + 5
    while not app_client.get("/v1/outbox").json()["items"] and time.monotonic() < deadline:
        time.sleep(0.05)
    settle(app_client)
    [message] = app_client.get("/v1/outbox").json()["items"]
    assert message["contact_id"] == "ann" and message["node_id"] == "remind"
    assert position(app_client, "ann")["node_id"] == "wait_day"


def test_draft_without_an_id_takes_the_id_from_the_url(app_client):
    graph = library_journey(JID)
    del graph["id"]
    saved = app_client.put("/v1/journeys/cart-copy", json=graph)
    assert saved.status_code == 200 and saved.json()["journey"]["id"] == "cart-copy"
    assert {p["code"] for p in saved.json()["problems"]} == {"SB-010"}  # templates not loaded here
    assert app_client.get("/v1/journeys/cart-copy").json()["draft"]["id"] == "cart-copy"
    assert [(j["id"], j["status"]) for j in app_client.get("/v1/journeys").json()["items"]] == [("cart-copy", "draft")]


def test_new_version_affects_new_entries_only(app_client):
    v1 = publish_cart(app_client)
    cart(app_client, "old", "k1")
    settle(app_client)
    graph = library_journey(JID)
    wait = next(n for n in graph["nodes"] if n["id"] == "wait_order")
    wait["data"]["timeout"] = "PT1H"
    assert app_client.put(f"/v1/journeys/{JID}", json=graph).json()["problems"] == []
    v2 = app_client.post(f"/v1/journeys/{JID}/publish").json()
    assert v2["version"] == 2
    journey = app_client.get(f"/v1/journeys/{JID}").json()
    assert journey["current_version"] == 2 and [v["version"] for v in journey["versions"]] == [1, 2]
    stored_v1 = app_client.get(f"/v1/journeys/{JID}/versions/1").json()
    assert stored_v1 == v1
    assert next(n for n in stored_v1["nodes"] if n["id"] == "wait_order")["data"]["timeout"] == "PT4H"
    cart(app_client, "new", "k2")
    settle(app_client)
    assert position(app_client, "old")["version"] == 1 and position(app_client, "new")["version"] == 2
    # after 1 h only the v2 contact got its reminder
    app_client.post("/v1/testing/clock/advance", json={"duration": "PT1H5M"})
    settle(app_client)
    assert [m["contact_id"] for m in app_client.get("/v1/outbox").json()["items"]] == ["new"]


def test_unknown_journeys_and_versions(app_client):
    for method, path in (("GET", "/v1/journeys/ghost"), ("POST", "/v1/journeys/ghost/validate"),
                         ("POST", "/v1/journeys/ghost/publish"), ("POST", "/v1/journeys/ghost/pause"),
                         ("POST", "/v1/journeys/ghost/resume"), ("GET", "/v1/journeys/ghost/stats"),
                         ("GET", "/v1/journeys/ghost/versions/1")):
        response = app_client.request(method, path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"
    publish_cart(app_client)
    missing = app_client.get(f"/v1/journeys/{JID}/versions/9")
    assert missing.status_code == 404 and "published versions: 1" in missing.json()["error"]["message"]
    assert app_client.get(f"/v1/journeys/{JID}/versions/one").status_code == 422
    assert app_client.get("/v1/journeys").json()["items"][0]["id"] == JID


def test_saving_a_draft_does_not_change_the_running_version(app_client):
    publish_cart(app_client)
    graph = copy.deepcopy(library_journey(JID))
    graph["name"] = "Abandoned cart (edited)"
    graph["nodes"].append({"id": "orphan", "type": "end"})
    saved = app_client.put(f"/v1/journeys/{JID}", json=graph)
    assert saved.status_code == 200
    assert [p["code"] for p in saved.json()["problems"]] == ["SB-016"]     # a warning only
    assert saved.json()["problems"][0]["severity"] == "warning"
    assert app_client.post(f"/v1/journeys/{JID}/validate").json()["valid"] is True
    journey = app_client.get(f"/v1/journeys/{JID}").json()
    assert journey["draft"]["name"] == "Abandoned cart (edited)" and journey["current_version"] == 1
    assert app_client.get(f"/v1/journeys/{JID}/versions/1").json()["name"] == "Abandoned cart"
