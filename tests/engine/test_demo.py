"""The seeded demo generator: deterministic, valid envelopes, the whole mix."""

from __future__ import annotations

import ast
import itertools
from collections import Counter
from pathlib import Path

import engine.demo as demo_module
from engine.demo import (
    DEMO_START,
    LAPSED_SEGMENT,
    STREAM_TYPES,
    demo_contacts,
    demo_stream,
)
from journeys.events import Event, iso_from_epoch, parse_time


def _take(n, **kwargs):
    ids = kwargs.pop("ids", None) or [c["contact_id"] for c in demo_contacts(50)]
    return list(itertools.islice(demo_stream(ids, **kwargs), n))


def test_contacts_are_deterministic_by_seed():
    assert demo_contacts(30, seed=3) == demo_contacts(30, seed=3)
    assert demo_contacts(30, seed=3) != demo_contacts(30, seed=4)


def test_contacts_are_valid_envelopes_with_stable_ids():
    contacts = demo_contacts(200, seed=7, workspace="acme", start=DEMO_START)
    assert len(contacts) == 200
    assert len({c["id"] for c in contacts}) == 200
    assert len({c["contact_id"] for c in contacts}) == 200
    assert contacts[0]["contact_id"] == "demo-7-0"
    for c in contacts:
        Event.model_validate(c)
        assert c["type"] == "contact.created" and c["source"] == "import" and c["workspace"] == "acme"
        assert c["occurred_at"].endswith("Z")
        data = c["data"]
        assert data["email"].endswith("@example.com") and data["email"].isascii()
        assert data["phone"].startswith("+4915") and data["phone"][1:].isdigit()
        assert data["first_name"] and data["last_name"] and data["city"]
        assert "/" in data["timezone"]
        assert data["tags"] in ([], ["vip"])
    assert len({c["data"]["email"] for c in contacts}) == 200
    assert 5 < sum(c["data"]["tags"] == ["vip"] for c in contacts) < 80
    assert len({c["data"]["timezone"] for c in contacts}) >= 3
    assert parse_time(contacts[0]["occurred_at"]) == DEMO_START


def test_stream_is_deterministic_by_seed():
    assert _take(500, seed=11) == _take(500, seed=11)
    assert _take(500, seed=11) != _take(500, seed=12)


def test_every_stream_event_is_a_valid_envelope_once_stamped():
    clock = DEMO_START
    for n, (delay, event) in enumerate(_take(3000, workspace="acme")):
        assert delay > 0
        assert "id" not in event and "occurred_at" not in event
        assert event["workspace"] == "acme"
        clock += delay
        Event.model_validate({**event, "occurred_at": iso_from_epoch(clock), "id": f"e{n}"})


def test_stream_mixes_every_type():
    events = [e for _, e in _take(3000)]
    counts = Counter(e["type"] for e in events)
    assert set(counts) == set(STREAM_TYPES)
    assert "message.opened" not in counts  # the engine generates engagement
    assert counts["cart.updated"] > counts["segment.entered"]
    entered = [e for e in events if e["type"] == "segment.entered"]
    assert {e["data"]["segment_id"] for e in entered} == {LAPSED_SEGMENT}


def test_orders_sometimes_close_a_cart_and_sometimes_not():
    events = [e for _, e in _take(3000)]
    carts = {}
    matched = unmatched = 0
    for e in events:
        data = e["data"]
        if e["type"] == "cart.updated":
            carts[data["cart_id"]] = e["contact_id"]
            assert data["items"] and data["total"] == _total(data["items"])
        elif e["type"] == "order.placed":
            assert data["currency"] == "EUR"
            assert data["amount"].count(".") == 1 and len(data["amount"].split(".")[1]) == 2
            if "cart_id" in data:
                assert carts[data["cart_id"]] == e["contact_id"]  # the buyer's own, earlier cart
                matched += 1
            else:
                unmatched += 1
    assert matched > 50 and unmatched > 20
    # some carts are never bought: they are what the abandoned-cart journey is for
    bought = {e["data"].get("cart_id") for e in events if e["type"] == "order.placed"}
    assert len(set(carts) - bought) > 20


def _total(items):
    cents = sum(round(float(i["price"]) * 100) * i["qty"] for i in items)
    return f"{cents // 100}.{cents % 100:02d}"


def test_rate_is_between_5_and_20_events_per_second():
    delays = [d for d, _ in _take(5000)]
    rate = len(delays) / sum(delays)
    assert 5 <= rate <= 20


def test_stream_works_with_a_single_contact():
    events = _take(200, ids=["only"])
    assert {e["contact_id"] for _, e in events} == {"only"}


def test_demo_is_pure():
    """No wall clock, no I/O, no global randomness."""
    tree = ast.parse(Path(demo_module.__file__).read_text())
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert not names & {"now", "utcnow", "time", "open", "urandom", "uuid4", "ULID"}
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert not {c for c in calls if c.startswith("random.") and c != "random.Random"}
