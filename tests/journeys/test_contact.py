"""The contact fold (journeys/contact.py): a contact's state from its events."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest

from journeys.contact import ENGAGEMENTS, HISTORY, address, apply_event, new_contact
from journeys.events import iso_from_epoch

T = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()


def fold(*events, state=None):
    state = state or new_contact("c_1", "acme")
    for i, item in enumerate(events):
        kind, data, *rest = item
        at = T + (rest[0] if rest else i)
        state = apply_event(state, {"id": f"e{i}", "type": kind, "occurred_at": iso_from_epoch(at), "data": data})
    return state


def test_a_new_contact_is_empty():
    state = new_contact("c_1", "acme")
    assert state["id"] == "c_1" and state["workspace"] == "acme"
    assert state["exists"] is False
    assert state["attributes"] == {} and state["tags"] == [] and state["segments"] == []
    assert state["order_count"] == 0 and state["lifetime_value"] == 0.0 and state["last_order_at"] is None


def test_apply_event_does_not_modify_its_input():
    state = fold(("contact.created", {"email": "a@x.io", "tags": ["a"]}))
    before = copy.deepcopy(state)
    for kind, data in [("contact.updated", {"email": None, "city": "Rome"}), ("contact.tagged", {"tag": "b"}),
                       ("order.placed", {"order_id": "o", "amount": "5"}), ("message.opened", {}),
                       ("contact.unsubscribed", {}), ("segment.entered", {"segment_id": "s"}),
                       ("message.bounced", {}), ("contact.deleted", {})]:
        apply_event(state, {"type": kind, "occurred_at": iso_from_epoch(T), "data": data})
    assert state == before


def test_created_and_updated_set_attributes_and_null_removes():
    state = fold(("contact.created", {"email": "anna@example.com", "first_name": "Anna", "city": "Berlin"}),
                 ("contact.updated", {"city": "Rome", "first_name": None, "plan": "pro"}))
    assert state["exists"] is True
    assert state["attributes"] == {"email": "anna@example.com", "city": "Rome", "plan": "pro"}


def test_update_of_an_unknown_contact_creates_it():
    assert fold(("contact.updated", {"city": "Rome"}))["exists"] is True


def test_tags_in_created_are_lower_cased_merged_and_not_attributes():
    state = fold(("contact.created", {"email": "a@x.io", "tags": ["VIP", "b2b"]}),
                 ("contact.updated", {"tags": ["Newsletter", "vip"]}))
    assert state["tags"] == ["b2b", "newsletter", "vip"]
    assert "tags" not in state["attributes"]


def test_tagged_and_untagged_with_one_tag_or_many():
    state = fold(("contact.tagged", {"tag": "VIP"}), ("contact.tagged", {"tags": ["B2B", "trial"]}),
                 ("contact.untagged", {"tag": "Trial"}))
    assert state["tags"] == ["b2b", "vip"]
    assert fold(("contact.untagged", {"tags": ["b2b", "vip"]}), state=state)["tags"] == []


def test_unsubscribe_one_channel_and_all_channels():
    one = fold(("contact.unsubscribed", {"channel": "sms"}))
    assert one["unsubscribed"] == ["sms"]
    everything = fold(("contact.unsubscribed", {}))
    assert everything["unsubscribed"] == ["email", "sms", "whatsapp"]
    explicit_all = fold(("contact.unsubscribed", {"channel": "all"}))
    assert explicit_all["unsubscribed"] == ["email", "sms", "whatsapp"]
    back = fold(("contact.subscribed", {"channel": "email"}), state=everything)
    assert back["unsubscribed"] == ["sms", "whatsapp"]
    assert fold(("contact.subscribed", {"channel": "all"}), state=everything)["unsubscribed"] == []


def test_order_metrics():
    state = fold(("order.placed", {"order_id": "o1", "amount": "59.90"}, 100),
                 ("order.placed", {"order_id": "o2", "amount": 40.1}, 50),  # out of order: earlier
                 ("order.placed", {"order_id": "o3"}, 10))  # no amount counts as an order of 0
    assert state["order_count"] == 3
    assert state["lifetime_value"] == 100.0
    assert state["last_order_at"] == T + 100  # the latest order, not the last one applied


def test_a_bad_amount_counts_as_zero_in_the_fold():
    state = fold(("order.placed", {"order_id": "o1", "amount": "lots"}))
    assert state["order_count"] == 1 and state["lifetime_value"] == 0.0


@pytest.mark.parametrize(("kind", "data", "suppressed"), [
    ("message.bounced", {"bounce_type": "hard"}, ["email"]),
    ("message.bounced", {}, ["email"]),  # hard unless told otherwise
    ("message.bounced", {"bounce_type": "hard", "channel": "sms"}, ["sms"]),
    ("message.bounced", {"bounce_type": "soft"}, []),
    ("message.complained", {}, ["email"]),
    ("message.complained", {"bounce_type": "soft"}, ["email"]),
])
def test_hard_bounce_and_complaint_suppress_soft_bounce_does_not(kind, data, suppressed):
    assert fold((kind, data))["suppressed"] == suppressed


def test_segments_enter_and_exit():
    state = fold(("segment.entered", {"segment_id": "b"}), ("segment.entered", {"segment_id": "a"}),
                 ("segment.entered", {"segment_id": "a"}), ("segment.exited", {"segment_id": "b"}))
    assert state["segments"] == ["a"]


def test_engagement_is_recorded_with_message_and_journey():
    state = fold(("message.opened", {"message_id": "m1", "journey_id": "j1"}, 5),
                 ("message.clicked", {"message_id": "m1", "journey_id": "j1", "url": "https://x.io"}, 6),
                 ("message.delivered", {"message_id": "m1"}, 7))
    assert state["engaged"] == [
        {"kind": "opened", "message_id": "m1", "journey_id": "j1", "broadcast_id": None, "at": T + 5},
        {"kind": "clicked", "message_id": "m1", "journey_id": "j1", "broadcast_id": None, "at": T + 6},
    ]


def test_engagement_list_is_capped():
    state = new_contact("c_1")
    for i in range(ENGAGEMENTS + 10):
        state = apply_event(state, {"type": "message.opened", "occurred_at": T + i, "data": {"message_id": f"m{i}"}})
    assert len(state["engaged"]) == ENGAGEMENTS
    assert state["engaged"][0]["message_id"] == "m10"


def test_event_history_keeps_sorted_stamps_and_totals():
    state = fold(("cart.updated", {}, 30), ("cart.updated", {}, 10), ("order.placed", {"order_id": "o"}, 20))
    assert state["events"]["cart.updated"] == [T + 10, T + 30]
    assert state["totals"] == {"cart.updated": 2, "order.placed": 1}


def test_node_entered_bookkeeping_is_not_recorded():
    state = fold(("journey.node_entered", {"journey_id": "j", "node_id": "n"}))
    assert state["events"] == {} and state["totals"] == {}


def test_history_is_capped_but_the_total_is_exact():
    state = new_contact("c_1")
    for i in range(HISTORY + 50):
        state = apply_event(state, {"type": "page.viewed", "occurred_at": T + i, "data": {}})
    stamps = state["events"]["page.viewed"]
    assert len(stamps) == HISTORY
    assert stamps[0] == T + 50 and stamps[-1] == T + HISTORY + 49  # the latest are kept
    assert state["totals"]["page.viewed"] == HISTORY + 50


def test_deleted_resets_everything():
    state = fold(("contact.created", {"email": "a@x.io", "tags": ["vip"]}),
                 ("order.placed", {"order_id": "o", "amount": "10"}),
                 ("segment.entered", {"segment_id": "s"}), ("contact.unsubscribed", {}),
                 ("message.opened", {}), ("message.bounced", {}))
    gone = fold(("contact.deleted", {}), state=state)
    assert gone == {**new_contact("c_1", "acme"), "deleted": True}


def test_address_per_channel():
    state = fold(("contact.created", {"email": "a@x.io", "phone": "+4915100000"}))
    assert address(state, "email") == "a@x.io"
    assert address(state, "sms") == "+4915100000"
    assert address(state, "whatsapp") == "+4915100000"  # falls back to the phone
    whatsapp = fold(("contact.updated", {"whatsapp": "+4915199999"}), state=state)
    assert address(whatsapp, "whatsapp") == "+4915199999"
    empty = fold(("contact.created", {"email": ""}))
    assert address(empty, "email") is None and address(empty, "sms") is None
