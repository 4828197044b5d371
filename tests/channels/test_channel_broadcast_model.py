"""Broadcasts, the pure part: the model's checks (with field paths), the one-node journey
it becomes (which the validator accepts and the interpreter runs), audience matching over
contact states, the targeting events and the status."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from engine.interpreter import Send, step
from engine.plan import compile_plan
from journeys.broadcasts import (
    Audience,
    Broadcast,
    BroadcastError,
    broadcast_journey,
    check,
    count,
    problems,
    select,
    status,
    targeted_event_id,
    targeted_events,
)
from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.graph import Journey
from journeys.validation import validate_journey

NOW = 1_900_000_000.0
BID = "01jtest0broadcast0000000000"


def broadcast(**changes) -> Broadcast:
    body = {"name": "Winter sale", "channel": "email", "template": "promo", "audience": {"tags": ["vip"]}}
    return Broadcast.model_validate(body | changes)


def contact(contact_id: str, *events: dict) -> dict:
    state = new_contact(contact_id)
    for event in events:
        state = apply_event(state, {"occurred_at": NOW - 60, "data": {}, **event})
    return state


def created(**data) -> dict:
    return {"type": "contact.created", "data": data}


def locs(exc: ValidationError) -> list[tuple]:
    return [e["loc"] for e in exc.errors()]


# -- the model ----------------------------------------------------------------------------
def test_defaults_rate_limits_per_channel_and_normalizes_tags_and_schedule():
    assert broadcast().rate_limit == 100
    assert broadcast(channel="sms").rate_limit == 10 and broadcast(channel="whatsapp").rate_limit == 10
    assert broadcast(channel="sms", rate_limit_per_minute=3).rate_limit == 3
    assert broadcast(audience={"tags": ["VIP", " vip", "Gold"]}).audience.tags == ["gold", "vip"]
    assert broadcast().schedule == "now" and broadcast().send_at() is None
    later = broadcast(schedule="2030-03-01T10:00:00+01:00")
    assert later.schedule == "2030-03-01T09:00:00Z"
    assert later.send_at() == datetime(2030, 3, 1, 9, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("changes", "loc"), [
    ({"channel": "fax"}, ("channel",)),
    ({"template": "no spaces"}, ("template",)),
    ({"name": ""}, ("name",)),
    ({"audience": {}}, ("audience",)),
    ({"audience": {"all": True, "tags": ["vip"]}}, ("audience",)),
    ({"audience": {"all": False}}, ("audience", "all")),
    ({"audience": {"tags": []}}, ("audience", "tags")),
    ({"audience": {"tags": ["vip"], "colour": 1}}, ("audience", "colour")),
    ({"schedule": "tomorrow"}, ("schedule",)),
    ({"schedule": "2030-03-01T10:00:00"}, ("schedule",)),  # no time zone: ambiguous
    ({"rate_limit_per_minute": 0}, ("rate_limit_per_minute",)),
    ({"offer": {"kind": "qr", "expires_in": "14 days"}}, ("offer", "expires_in")),
    ({"offer": {"kind": "coupon"}}, ("offer", "kind")),
    ({"surprise": 1}, ("surprise",)),
])
def test_malformed_broadcasts_name_the_field(changes, loc):
    with pytest.raises(ValidationError) as caught:
        broadcast(**changes)
    assert loc in locs(caught.value)


def test_checks_name_the_rule_path_the_template_and_the_schedule():
    bad = broadcast(audience={"rule": {"all": [{"tag": "vip"}, {"attr": "city", "op": "near", "value": "x"}]}},
                    schedule=iso_from_epoch(NOW - 1))
    found = problems(bad, NOW, "sms")
    assert [p["loc"] for p in found] == ["audience.rule.all[1].op", "template", "schedule"]
    assert "for sms" in found[1]["message"] and "in the past" in found[2]["message"]
    assert [p["loc"] for p in problems(broadcast(), NOW, None)] == ["template"]
    with pytest.raises(BroadcastError) as caught:
        check(broadcast(), NOW, None)
    assert caught.value.details[0]["loc"] == "template"
    good = broadcast(schedule=iso_from_epoch(NOW + 60))
    assert check(good, NOW, "email") is good


# -- the journey --------------------------------------------------------------------------
def test_a_broadcast_sent_now_is_a_valid_entry_send_end_journey():
    graph = broadcast_journey(broadcast(channel="sms", offer={"expires_in": "P7D", "value": "10%"}), BID, NOW)
    journey = Journey.model_validate(graph)
    assert validate_journey(journey, templates=["promo"]) == []
    assert graph["id"] == f"broadcast-{BID}" and graph["settings"]["reentry"] == "never"
    assert [n["type"] for n in graph["nodes"]] == ["entry", "send", "end"]
    entry, send, _ = graph["nodes"]
    assert entry["data"]["trigger"] == {"event": "broadcast.targeted"}
    assert send["data"]["channel"] == "sms" and send["data"]["template"] == "promo"
    assert send["data"]["rate_limit"] == {"per_minute": 10}
    assert send["data"]["offer"] == {"kind": "qr", "expires_in": "P7D", "max_uses": 1, "value": "10%"}
    assert graph["broadcast"]["id"] == BID and graph["broadcast"]["status"] == "targeting"
    # the editor's model keeps the broadcast's record
    assert journey.to_json()["broadcast"] == graph["broadcast"]


def test_a_scheduled_broadcast_waits_until_its_time_before_the_send():
    graph = broadcast_journey(broadcast(schedule=iso_from_epoch(NOW + 7200.4)), BID, NOW)
    assert validate_journey(Journey.model_validate(graph), templates=["promo"]) == []
    assert [n["type"] for n in graph["nodes"]] == ["entry", "wait", "send", "end"]
    wait = graph["nodes"][1]["data"]
    assert wait["mode"] == "duration" and wait["duration"] == "PT7201S"  # never early
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {("start", "wait"), ("wait", "send"), ("send", "end")}


def test_the_journey_admits_only_its_own_targeting_events():
    plan = compile_plan(Journey.model_validate(broadcast_journey(broadcast(), BID, NOW)))
    ann = contact("ann", created(email="ann@example.com"))
    [mine] = targeted_events(BID, "default", ["ann"], NOW)
    inst, effects = step(None, mine, plan, NOW, ann)
    assert inst["state"] == "done" and [type(e) for e in effects].count(Send) == 1
    other = {**mine, "data": {"broadcast_id": "someone-else"}}
    assert step(None, other, plan, NOW, ann) == (None, [])
    spoofed = {**mine, "source": "api"}  # a client cannot add recipients
    assert step(None, spoofed, plan, NOW, ann) == (None, [])
    # a contact targeted twice still gets one message (reentry: never)
    again, effects = step(inst, mine, plan, NOW + 1, ann)
    assert again is inst and effects == []


# -- the audience -------------------------------------------------------------------------
def population() -> list[dict]:
    return [
        contact("vip", created(email="v@example.com", tags=["VIP"])),
        contact("gold", created(email="g@example.com", city="Berlin"), {"type": "contact.tagged", "data": {"tag": "gold"}}),
        contact("plain", created(email="p@example.com", city="Berlin")),
        contact("member", created(phone="+4915100000"), {"type": "segment.entered", "data": {"segment_id": "lapsed"}}),
        contact("erased", created(email="e@example.com", tags=["vip"]), {"type": "contact.deleted"}),
        contact("quiet", created(email="q@example.com", tags=["vip"]),
                {"type": "contact.unsubscribed", "data": {"channel": "email"}}),
    ]


@pytest.mark.parametrize(("audience", "expected"), [
    ({"all": True}, ["vip", "gold", "plain", "member", "quiet"]),
    ({"tags": ["vip", "gold"]}, ["vip", "gold", "quiet"]),
    ({"tags": ["nobody"]}, []),
    ({"rule": {"attr": "city", "op": "eq", "value": "berlin"}}, ["gold", "plain"]),
    ({"rule": {"all": [{"tag": "vip"}, {"subscribed": "email"}]}}, ["vip"]),
    ({"segment": "lapsed"}, ["member"]),
])
def test_audience_forms_select_contacts_and_never_erased_ones(audience, expected):
    chosen = Audience.model_validate(audience)
    assert list(select(chosen, population(), NOW)) == expected
    assert count(chosen, population(), NOW) == {"count": len(expected)}


def test_count_with_a_channel_tells_how_many_can_be_reached():
    everyone = Audience.model_validate({"all": True})
    # quiet unsubscribed from email, member has no email address
    assert count(everyone, population(), NOW, "email") == {"count": 5, "reachable": 3}
    assert count(everyone, population(), NOW, "sms") == {"count": 5, "reachable": 1}


# -- targeting events and status ------------------------------------------------------------
def test_targeting_events_have_one_deterministic_id_per_recipient():
    events = list(targeted_events(BID, "acme", ["ann", "bob"], NOW))
    assert [e["id"] for e in events] == [f"broadcast:{BID}:ann", f"broadcast:{BID}:bob"]
    assert all(e["type"] == "broadcast.targeted" and e["workspace"] == "acme" and e["source"] == "engine"
               and e["data"] == {"broadcast_id": BID} and e["occurred_at"] == iso_from_epoch(NOW) for e in events)
    assert [e["contact_id"] for e in events] == ["ann", "bob"]
    long_id = "x" * 128
    hashed = targeted_event_id(BID, long_id)
    assert len(hashed) <= 128 and hashed == targeted_event_id(BID, long_id) != targeted_event_id(BID, "y" * 128)


@pytest.mark.parametrize(("args", "expected"), [
    (("sending", "paused", None, NOW, 10, 3), "cancelled"),
    (("cancelled", "published", None, NOW, 10, 3), "cancelled"),
    (("targeting", "published", None, NOW, 10, 0), "targeting"),
    (("scheduled", "published", NOW + 60, NOW, 10, 0), "scheduled"),
    (("scheduled", "published", NOW - 60, NOW, 10, 4), "sending"),
    (("sending", "published", None, NOW, 10, 10), "completed"),
    (("sending", "published", None, NOW, 10, 10, 2), "sending"),  # two messages wait for the sender
    (("sending", "published", None, NOW, 0, 0), "completed"),
])
def test_status_follows_schedule_progress_and_cancel(args, expected):
    assert status(*args) == expected
