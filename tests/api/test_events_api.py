"""POST /v1/events (one envelope or a batch), /v1/identify and /v1/track.

Every refused request must leave the log exactly as it was; in a mixed batch the
valid events are stored (and processed by the runtime and the projector)."""

from __future__ import annotations

from tests.api.conftest import contact_ids, error_locs, log_ids, publish_cart
from tests.support import settle


def created(contact_id: str, event_id: str | None = None, **data) -> dict:
    event = {"type": "contact.created", "contact_id": contact_id, "data": data}
    if event_id:
        event["id"] = event_id
    return event


def test_one_envelope_is_accepted_with_its_id_and_stored(app_client):
    response = app_client.post("/v1/events", json={
        "id": "ev-1", "type": "contact.created", "contact_id": "c1", "occurred_at": "2026-01-05T10:00:00Z",
        "data": {"email": "Ann@Example.com", "first_name": "Ann"}})
    assert response.status_code == 202
    assert response.json() == {"accepted": ["ev-1"], "duplicates": []}
    settle(app_client)
    contact = app_client.get("/v1/contacts/c1").json()
    assert contact["first_name"] == "Ann"
    [event] = contact["recent_events"]
    assert event["id"] == "ev-1" and event["type"] == "contact.created"
    assert event["occurred_at"].startswith("2026-01-05T10:00:00") and event["source"] == "api"


def test_server_fills_the_id_when_absent(app_client):
    response = app_client.post("/v1/events", json=created("c1"))
    assert response.status_code == 202
    [event_id] = response.json()["accepted"]
    assert event_id and log_ids(app_client) == [event_id]


def test_duplicates_by_id_are_accepted_and_ignored(app_client):
    first = app_client.post("/v1/events", json={"batch": [created("c1", "e1", first_name="Ann"),
                                                          created("c2", "e2", first_name="Bob")]})
    assert first.status_code == 202 and first.json() == {"accepted": ["e1", "e2"], "duplicates": []}
    # the same ids again (one with other data) plus a new one: only the new one is stored
    again = app_client.post("/v1/events", json={"batch": [created("c1", "e1", first_name="Mallory"),
                                                          created("c2", "e2", first_name="Bob"),
                                                          created("c3", "e3", first_name="Cy")]})
    assert again.status_code == 202
    assert again.json() == {"accepted": ["e3"], "duplicates": ["e1", "e2"]}
    single = app_client.post("/v1/events", json=created("c1", "e1", first_name="Eve"))
    assert single.status_code == 202 and single.json() == {"accepted": [], "duplicates": ["e1"]}
    assert log_ids(app_client) == ["e1", "e2", "e3"]
    assert contact_ids(app_client) == ["c1", "c2", "c3"]
    assert app_client.get("/v1/contacts/c1").json()["first_name"] == "Ann"


def test_mixed_batch_reports_index_and_field_path_and_keeps_the_valid_events(app_client):
    publish_cart(app_client)
    batch = [
        created("a", "ok-0", email="a@example.com"),                                          # 0 ok
        {"type": "order.placed", "contact_id": "a", "data": {"amount": "9.90"}},                # 1 no order_id
        "not an object",                                                                       # 2
        {"type": "cart.updated", "contact_id": "a", "colour": "red"},                          # 3 unknown field
        {"type": "order.placed", "contact_id": "a", "data": {"order_id": "o1", "amount": "lots"}},  # 4 bad amount
        {"type": "cart.updated", "contact_id": "a", "occurred_at": "yesterday"},               # 5 wrong type
        {"type": "cart.updated", "data": {"cart_id": "k"}},                                    # 6 no contact_id
        {"type": 42, "contact_id": "a", "data": []},                                           # 7 wrong types
        created("b", "ok-8", email="b@example.com"),                                          # 8 ok
        {"id": "ok-9", "type": "cart.updated", "contact_id": "a", "data": {"cart_id": "k1"}},   # 9 ok
    ]
    response = app_client.post("/v1/events", json={"batch": batch})
    assert response.status_code == 422
    body = response.json()
    assert body["error"]["code"] == "validation_error"
    assert body["accepted"] == ["ok-0", "ok-8", "ok-9"] and body["duplicates"] == []
    problems = {(d["index"], d["loc"]) for d in body["error"]["details"]}
    assert problems == {
        (1, "batch[1].data.order_id"),
        (2, "batch[2]"),
        (3, "batch[3].colour"),
        (4, "batch[4].data.amount"),
        (5, "batch[5].occurred_at"),
        (6, "batch[6].contact_id"),
        (7, "batch[7].type"),
        (7, "batch[7].data"),
    }
    messages = {d["loc"]: d["message"] for d in body["error"]["details"]}
    assert "unknown field" in messages["batch[3].colour"]
    assert "order_id" in messages["batch[1].data.order_id"]
    assert not any(m.startswith("Value error") for m in messages.values())
    # only the valid events are in the log, and they were processed
    assert log_ids(app_client) == ["ok-0", "ok-8", "ok-9"]
    assert contact_ids(app_client) == ["a", "b"]
    contact = app_client.get("/v1/contacts/a").json()
    assert [e["id"] for e in contact["recent_events"] if e["source"] == "api"] == ["ok-9", "ok-0"]
    assert contact["order_count"] == 0
    [position] = contact["journeys"]
    assert position["journey_id"] == "abandoned-cart" and position["node_id"] == "wait_order"
    assert position["state"] == "active"


def test_single_invalid_envelope_is_422_with_field_path_and_not_stored(app_client):
    response = app_client.post("/v1/events", json={"type": "contact.tagged", "contact_id": "c1", "data": {"tags": "vip"}})
    assert response.status_code == 422
    assert response.json()["accepted"] == []
    assert error_locs(response) == ["data.tag"]
    response = app_client.post("/v1/events", json={"type": "contact.unsubscribed", "contact_id": "c1",
                                                    "data": {"channel": "pigeon"}})
    assert response.status_code == 422 and error_locs(response) == ["data.channel"]
    assert log_ids(app_client) == []


def test_malformed_json_is_400_and_nothing_is_stored(app_client):
    app_client.post("/v1/events", json=created("c1", "e1"))
    for raw in (b'{"type": "contact.created", "contact_id": ', b"", b"\xff\xfe", b"{'single': 'quotes'}",
                b'{"batch": [{"type": "x", "contact_id": "c"},]}'):
        response = app_client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, raw
        assert response.json()["error"]["code"] == "malformed_json"
        assert "not valid JSON" in response.json()["error"]["message"]
    assert log_ids(app_client) == ["e1"]


def test_a_body_that_is_not_an_object_is_422(app_client):
    for raw in (b'[{"type": "contact.created", "contact_id": "c1"}]', b'"event"', b"17", b"null"):
        response = app_client.post("/v1/events", content=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 422, raw
        assert response.json()["error"]["details"][0]["message"] == "each event must be a JSON object"
    assert log_ids(app_client) == []


def test_batch_shape_errors_store_nothing(app_client):
    cases = [
        ({"batch": []}, "batch"),
        ({"batch": {"type": "x"}}, "batch"),
        ({"batch": "x"}, "batch"),
        ({"batch": [created("c1")], "events": []}, "events"),
    ]
    for payload, loc in cases:
        response = app_client.post("/v1/events", json=payload)
        assert response.status_code == 422, payload
        assert error_locs(response) == [loc]
    assert log_ids(app_client) == []


def test_oversize_batch_is_413_and_nothing_is_stored(app_client):
    app_client.post("/v1/events", json=created("c0", "e0"))
    batch = [created(f"c{i}", f"big-{i}") for i in range(1001)]
    response = app_client.post("/v1/events", json={"batch": batch})
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "batch_too_large" and "1000" in error["message"] and "1001" in error["message"]
    assert log_ids(app_client) == ["e0"]
    # exactly at the limit is fine
    response = app_client.post("/v1/events", json={"batch": batch[:1000]})
    assert response.status_code == 202 and len(response.json()["accepted"]) == 1000
    assert len(log_ids(app_client)) == 1001


def test_body_over_the_byte_limit_is_413_and_nothing_is_stored(app_client, monkeypatch):
    monkeypatch.setattr(app_client.services.settings, "max_body_bytes", 2000)
    small = app_client.post("/v1/events", json=created("c1", "e1"))
    assert small.status_code == 202
    response = app_client.post("/v1/events", json=created("c2", "e2", note="x" * 3000))
    assert response.status_code == 413 and response.json()["error"]["code"] == "too_large"
    assert log_ids(app_client) == ["e1"]


def test_other_workspace_and_reserved_sources_are_refused(app_client):
    batch = [
        {"type": "cart.updated", "contact_id": "c1", "workspace": "acme"},
        {"type": "message.delivered", "contact_id": "c1", "source": "ses"},
        {"type": "journey.exited", "contact_id": "c1", "source": "engine"},
        {"type": "cart.updated", "contact_id": "c1", "source": "carrier-pigeon"},
        {"id": "ok", "type": "cart.updated", "contact_id": "c1", "workspace": "default", "source": "import"},
    ]
    response = app_client.post("/v1/events", json={"batch": batch})
    assert response.status_code == 422
    assert error_locs(response) == ["batch[0].workspace", "batch[1].source", "batch[2].source", "batch[3].source"]
    assert "workspace 'default'" in response.json()["error"]["details"][0]["message"]
    assert response.json()["accepted"] == ["ok"]
    assert log_ids(app_client) == ["ok"]


def test_identify_creates_the_contact_then_updates_it(app_client):
    response = app_client.post("/v1/identify", json={
        "userId": "u1", "messageId": "id-1", "timestamp": "2026-03-01T09:30:00Z",
        "traits": {"email": "ann@example.com", "first_name": "Ann", "plan": "pro"},
        "context": {"ip": "1.2.3.4"}, "integrations": {}})
    assert response.status_code == 202 and response.json() == {"accepted": ["id-1"], "duplicates": []}
    settle(app_client)
    contact = app_client.get("/v1/contacts/u1").json()
    assert contact["email"] == "ann@example.com" and contact["attributes"]["plan"] == "pro"
    assert contact["recent_events"][0]["type"] == "contact.created"
    assert contact["recent_events"][0]["occurred_at"].startswith("2026-03-01T09:30:00")

    response = app_client.post("/v1/identify", json={"userId": "u1", "messageId": "id-2", "traits": {"plan": "team"}})
    assert response.status_code == 202
    settle(app_client)
    contact = app_client.get("/v1/contacts/u1").json()
    assert [e["type"] for e in contact["recent_events"]] == ["contact.updated", "contact.created"]
    assert contact["attributes"]["plan"] == "team" and contact["first_name"] == "Ann"


def test_track_order_completed_becomes_order_placed(app_client):
    app_client.post("/v1/events", json=created("u1", email="u1@example.com"))
    message = {"userId": "u1", "event": "Order Completed", "messageId": "m-1", "timestamp": "2026-03-02T12:00:00Z",
               "properties": {"order_id": "o-77", "total": 59.9, "currency": "EUR"}}
    response = app_client.post("/v1/track", json=message)
    assert response.status_code == 202 and response.json() == {"accepted": ["m-1"], "duplicates": []}
    # Segment retries: the same messageId is a duplicate
    again = app_client.post("/v1/track", json=message)
    assert again.status_code == 202 and again.json() == {"accepted": [], "duplicates": ["m-1"]}
    settle(app_client)
    contact = app_client.get("/v1/contacts/u1").json()
    [order] = [e for e in contact["recent_events"] if e["id"] == "m-1"]
    assert order["type"] == "order.placed"
    assert order["data"]["order_id"] == "o-77" and order["data"]["amount"] == "59.9"
    assert order["occurred_at"].startswith("2026-03-02T12:00:00")
    assert contact["order_count"] == 1 and float(contact["lifetime_value"]) == 59.9


def test_track_maps_event_names(app_client):
    for name, kind in (("Cart Updated", "cart.updated"), ("Checkout Started", "cart.updated"),
                       ("Product Viewed", "product_viewed"), ("wishlist.added", "wishlist.added")):
        response = app_client.post("/v1/track", json={"anonymousId": "anon-1", "event": name, "messageId": name})
        assert response.status_code == 202, response.text
        row = app_client.services.log.connection().execute("SELECT type, contact_id FROM log WHERE id = ?", (name,)).fetchone()
        assert row == (kind, "anon-1")


def test_identify_and_track_refuse_bad_input_and_store_nothing(app_client):
    bad = [
        ("/v1/identify", {"traits": {"email": "x@example.com"}}, "userId"),
        ("/v1/identify", {"userId": "u1", "traits": ["email"]}, "traits"),
        ("/v1/identify", {"userId": "", "traits": {}}, "userId"),
        ("/v1/identify", {"userId": "u1", "timestamp": "soon"}, "timestamp"),
        ("/v1/track", {"userId": "u1"}, "event"),
        ("/v1/track", {"userId": "u1", "event": "Order Completed", "properties": {"total": 5}}, "data.order_id"),
        ("/v1/track", {"userId": "u1", "event": "Order Completed", "properties": {"order_id": "o", "total": "abc"}},
         "data.amount"),
        ("/v1/track", {"event": "Product Viewed"}, "userId"),
        ("/v1/track", {"userId": "u1", "event": "X", "properties": "big"}, "properties"),
    ]
    for path, payload, loc in bad:
        response = app_client.post(path, json=payload)
        assert response.status_code == 422, (path, payload, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert loc in error_locs(response), (payload, error_locs(response))
    for path in ("/v1/identify", "/v1/track"):
        response = app_client.post(path, content=b"{oops", headers={"Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
    assert log_ids(app_client) == []
    assert contact_ids(app_client) == []
