"""Broadcasts over HTTP, end to end in the embedded app (virtual clock, outbox provider):
tagged contacts get exactly one message and others none, the audience count agrees,
progress counts what was sent and suppressed, a scheduled broadcast waits for its time
and a cancelled one sends nothing, re-POSTing makes a second broadcast but no broadcast
targets a contact twice, and bad requests are refused with the field path."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from journeys.broadcasts import targeted_events
from journeys.events import iso_from_epoch
from tests.support import settle

PROMO = {"channel": "email", "subject": "Hello {{ contact.first_name }}", "text": "Our winter sale starts now."}


def add_contacts(client, **tags_by_contact: list[str]) -> None:
    batch = [{"type": "contact.created", "contact_id": cid,
              "data": {"email": f"{cid}@example.com", "first_name": cid.title(), "tags": tags}}
             for cid, tags in tags_by_contact.items()]
    response = client.post("/v1/events", json={"batch": batch})
    assert response.status_code == 202, response.text


def store_template(client, template_id: str = "promo", body: dict | None = None) -> None:
    response = client.put(f"/v1/templates/{template_id}", json=body or PROMO)
    assert response.status_code == 200, response.text


def ready(client, **tags_by_contact: list[str]) -> None:
    """A template and contacts the engine has seen."""
    store_template(client)
    add_contacts(client, **tags_by_contact)
    settle(client)


def send(client, **changes) -> dict:
    """POST a broadcast (to the tag vip, fast enough that the rate limit never holds a test up)."""
    body = {"name": "Winter sale", "channel": "email", "template": "promo", "audience": {"tags": ["vip"]},
            "rate_limit_per_minute": 60_000} | changes
    response = client.post("/v1/broadcasts", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def outbox(client) -> list[dict]:
    return client.get("/v1/outbox", params={"limit": 500}).json()["items"]


def recipients(client, journey_id: str | None = None) -> Counter:
    return Counter(m["contact_id"] for m in outbox(client) if journey_id is None or m["journey_id"] == journey_id)


def later(client, seconds: float) -> str:
    return iso_from_epoch(client.services.clock.now() + seconds)


def error_locs(response) -> list[str]:
    return [d["loc"] for d in response.json()["error"].get("details", [])]


def test_a_broadcast_to_a_tag_reaches_every_tagged_contact_exactly_once(app_client):
    ready(app_client, ann=["vip"], bob=["VIP", "gold"], cy=["vip"], dan=["gold"], eve=[])
    count = app_client.post("/v1/broadcasts/audience", json={"audience": {"tags": ["vip"]}, "channel": "email"})
    assert count.status_code == 200 and count.json() == {"count": 3, "reachable": 3}

    created = send(app_client)
    assert created["targeted"] == 3 and created["status"] == "sending"
    assert created["journey_id"] == f"broadcast-{created['id']}"
    settle(app_client)

    assert recipients(app_client) == Counter({"ann": 1, "bob": 1, "cy": 1})
    message = next(m for m in outbox(app_client) if m["contact_id"] == "bob")
    assert message["subject"] == "Hello Bob" and message["journey_id"] == created["journey_id"]

    shown = app_client.get(f"/v1/broadcasts/{created['id']}").json()
    assert shown["status"] == "completed" and shown["name"] == "Winter sale"
    progress = shown["progress"]
    assert progress["targeted"] == 3 and progress["queued"] == 3 and progress["sent"] == 3
    assert progress["failed"] == 0 and progress["suppressed"] == 0 and progress["pending"] == 0
    # it is a journey like any other in analytics
    stats = app_client.get(f"/v1/journeys/{created['journey_id']}/stats").json()
    assert stats["nodes"]["send"]["entered"] == 3 and stats["totals"]["exited"] == 3
    [listed] = app_client.get("/v1/broadcasts").json()["items"]
    assert listed["id"] == created["id"] and listed["progress"]["sent"] == 3


def test_the_rate_limit_spreads_the_messages_and_progress_shows_them_pending(app_client):
    ready(app_client, ann=["vip"], bob=["vip"], cy=["vip"])
    created = send(app_client, rate_limit_per_minute=1)
    settle(app_client)
    assert sum(recipients(app_client).values()) == 1  # one a minute
    shown = app_client.get(f"/v1/broadcasts/{created['id']}").json()
    assert shown["status"] == "sending"
    assert (shown["progress"]["queued"], shown["progress"]["sent"], shown["progress"]["pending"]) == (3, 1, 2)
    app_client.post("/v1/testing/clock/advance", json={"duration": "PT3M"})
    # the sender releases held messages on its own schedule: wait for them, at most 15 s
    deadline = time.monotonic() + 15
    while sum(recipients(app_client).values()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert recipients(app_client) == Counter({"ann": 1, "bob": 1, "cy": 1})


def test_cancel_also_stops_messages_waiting_for_the_rate_limit(app_client):
    ready(app_client, ann=["vip"], bob=["vip"], cy=["vip"])
    created = send(app_client, rate_limit_per_minute=1)
    settle(app_client)
    assert sum(recipients(app_client).values()) == 1
    assert app_client.post(f"/v1/broadcasts/{created['id']}/cancel").json()["status"] == "cancelled"
    app_client.post("/v1/testing/clock/advance", json={"duration": "PT5M"})
    # wait until the sender has settled the two waiting messages one way or another (at most 10 s)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        progress = app_client.get(f"/v1/broadcasts/{created['id']}").json()["progress"]
        if progress["pending"] == 0:
            break
        time.sleep(0.05)
    assert sum(recipients(app_client).values()) == 1
    assert app_client.get(f"/v1/broadcasts/{created['id']}").json()["progress"]["sent"] == 1


def test_unsubscribed_contacts_show_up_as_suppressed(app_client):
    ready(app_client, ann=["vip"], bob=["vip"], cy=[])
    app_client.post("/v1/events", json={"type": "contact.unsubscribed", "contact_id": "bob", "data": {"channel": "email"}})
    settle(app_client)
    count = app_client.post("/v1/broadcasts/audience", json={"audience": {"all": True}, "channel": "email"}).json()
    assert count == {"count": 3, "reachable": 2}

    created = send(app_client, audience={"all": True})
    settle(app_client)
    assert recipients(app_client) == Counter({"ann": 1, "cy": 1})
    progress = app_client.get(f"/v1/broadcasts/{created['id']}").json()["progress"]
    assert (progress["targeted"], progress["sent"], progress["suppressed"]) == (3, 2, 1)


def test_a_scheduled_broadcast_waits_and_a_cancelled_one_never_sends(app_client):
    ready(app_client, ann=["vip"], bob=["vip"])
    kept = send(app_client, name="Kept", schedule=later(app_client, 7200))
    dropped = send(app_client, name="Dropped", schedule=later(app_client, 7200))
    assert kept["status"] == dropped["status"] == "scheduled" and kept["send_at"] == kept["schedule"]
    settle(app_client)
    assert outbox(app_client) == []
    assert app_client.get(f"/v1/broadcasts/{kept['id']}").json()["status"] == "scheduled"

    cancelled = app_client.post(f"/v1/broadcasts/{dropped['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert app_client.post(f"/v1/broadcasts/{dropped['id']}/cancel").json()["status"] == "cancelled"  # idempotent
    # nobody resumes or republishes a cancelled broadcast through the journeys API by accident
    assert app_client.post(f"/v1/journeys/{dropped['journey_id']}/resume").status_code == 409
    assert app_client.post(f"/v1/journeys/{dropped['journey_id']}/publish").status_code == 409

    app_client.post("/v1/testing/clock/advance", json={"duration": "PT3H"})
    settle(app_client)
    assert recipients(app_client, kept["journey_id"]) == Counter({"ann": 1, "bob": 1})
    assert recipients(app_client, dropped["journey_id"]) == Counter()
    shown = app_client.get(f"/v1/broadcasts/{dropped['id']}").json()
    assert shown["status"] == "cancelled" and shown["progress"]["sent"] == 0 and shown["progress"]["queued"] == 0
    assert app_client.get(f"/v1/broadcasts/{kept['id']}").json()["status"] == "completed"


def test_reposting_makes_a_second_broadcast_but_none_targets_a_contact_twice(app_client):
    ready(app_client, ann=["vip"], bob=["vip"])
    first, second = send(app_client), send(app_client)
    assert first["id"] != second["id"] and first["targeted"] == second["targeted"] == 2
    settle(app_client)
    # a retried targeting (same ids) is dropped as a duplicate and sends nothing more
    services = app_client.services
    again = list(targeted_events(first["id"], "default", ["ann", "bob"], services.clock.now()))
    assert services.append(again) == [None, None]
    settle(app_client)
    for broadcast in (first, second):
        assert recipients(app_client, broadcast["journey_id"]) == Counter({"ann": 1, "bob": 1})
    assert {b["id"] for b in app_client.get("/v1/broadcasts").json()["items"]} == {first["id"], second["id"]}


def test_a_client_cannot_add_recipients_with_a_look_alike_event(app_client):
    ready(app_client, ann=["vip"], zed=[])
    created = send(app_client)
    fake = {"type": "broadcast.targeted", "contact_id": "zed", "data": {"broadcast_id": created["id"]}}
    assert app_client.post("/v1/events", json=fake).status_code == 202
    assert app_client.post("/v1/events", json=fake | {"source": "engine"}).status_code == 422
    settle(app_client)
    assert recipients(app_client) == Counter({"ann": 1})


def test_audience_by_rule_segment_and_everyone_skips_erased_contacts(app_client):
    ready(app_client, ann=["vip"], bob=[], cy=[])
    app_client.post("/v1/events", json={"batch": [
        {"type": "contact.updated", "contact_id": "ann", "data": {"city": "Berlin"}},
        {"type": "contact.updated", "contact_id": "bob", "data": {"city": "Berlin"}},
        {"type": "segment.entered", "contact_id": "cy", "data": {"segment_id": "lapsed"}},
        {"type": "contact.deleted", "contact_id": "bob"},
    ]})
    settle(app_client)

    def counted(audience: dict) -> int:
        response = app_client.post("/v1/broadcasts/audience", json={"audience": audience})
        assert response.status_code == 200, response.text
        return response.json()["count"]

    assert counted({"all": True}) == 2
    assert counted({"rule": {"attr": "city", "op": "eq", "value": "berlin"}}) == 1
    assert counted({"segment": "lapsed"}) == 1
    created = send(app_client, audience={"segment": "lapsed"})
    assert created["targeted"] == 1
    settle(app_client)
    assert recipients(app_client) == Counter({"cy": 1})


def test_sms_broadcast_with_an_offer_carries_rate_limit_and_offer_in_its_journey(app_client):
    store_template(app_client, "sms-promo", {"channel": "sms", "text": "Sale! Reply STOP to opt out"})
    created = send(app_client, channel="sms", template="sms-promo", audience={"all": True}, rate_limit_per_minute=None,
                   offer={"kind": "qr", "expires_in": "P14D", "max_uses": 1, "description": "10% off"})
    assert created["rate_limit_per_minute"] == 10 and created["targeted"] == 0
    journey = app_client.get(f"/v1/journeys/{created['journey_id']}").json()
    assert journey["status"] == "published"
    send_node = next(n for n in journey["draft"]["nodes"] if n["type"] == "send")
    assert send_node["data"]["rate_limit"] == {"per_minute": 10}
    assert send_node["data"]["offer"]["description"] == "10% off"


def test_bad_requests_are_refused_with_the_field_path(app_client):
    store_template(app_client)
    store_template(app_client, "sms-promo", {"channel": "sms", "text": "Sale!"})
    base = {"name": "Sale", "channel": "email", "template": "promo", "audience": {"tags": ["vip"]}}
    cases = [
        ({"template": "missing"}, "template"),
        ({"template": "sms-promo"}, "template"),
        ({"channel": "fax"}, "channel"),
        ({"audience": {"rule": {"any": [{"tag": "vip"}, {"attr": "city", "op": "near", "value": 1}]}}},
         "audience.rule.any[1].op"),
        ({"audience": {"rule": "vip"}}, "audience.rule"),
        ({"audience": {"tags": ["vip"], "all": True}}, "audience"),
        ({"schedule": later(app_client, -60)}, "schedule"),
        ({"schedule": "next week"}, "schedule"),
        ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
        ({"offer": {"expires_in": "two weeks"}}, "offer.expires_in"),
    ]
    for changes, loc in cases:
        response = app_client.post("/v1/broadcasts", json=base | changes)
        assert response.status_code == 422, (changes, response.text)
        assert loc in error_locs(response), (changes, response.json())
    bad_count = app_client.post("/v1/broadcasts/audience", json={"audience": {"rule": {"tag": ""}}})
    assert bad_count.status_code == 422 and error_locs(bad_count) == ["audience.rule.tag"]
    assert app_client.post("/v1/broadcasts", content=b"[1, 2]").status_code == 422
    assert app_client.get("/v1/broadcasts").json()["items"] == []  # nothing was created
    assert app_client.get("/v1/broadcasts/nope").status_code == 404
    assert app_client.get("/v1/broadcasts/bad id!").status_code == 404
    assert app_client.post("/v1/broadcasts/nope/cancel").status_code == 404


def test_marketers_send_analysts_only_read(app_client):
    ready(app_client, ann=["vip"])

    def key(role: str) -> dict[str, str]:
        response = app_client.post("/v1/keys", json={"role": role})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['secret']}"}

    marketer, analyst, ingest = key("marketer"), key("analyst"), key("ingest")
    body = {"name": "Sale", "channel": "email", "template": "promo", "audience": {"all": True}}
    created = app_client.post("/v1/broadcasts", json=body, headers=marketer)
    assert created.status_code == 201
    assert app_client.post("/v1/broadcasts", json=body, headers=analyst).status_code == 403
    assert app_client.post("/v1/broadcasts/audience", json=body, headers=analyst).status_code == 403
    assert app_client.post(f"/v1/broadcasts/{created.json()['id']}/cancel", headers=analyst).status_code == 403
    assert app_client.get(f"/v1/broadcasts/{created.json()['id']}", headers=analyst).status_code == 200
    assert app_client.get("/v1/broadcasts", headers=ingest).status_code == 403
