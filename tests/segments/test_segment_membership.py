"""Segment membership in memory (journeys/segments.py): what rules read, which segments
an event makes us look at again, dependency order, erasure, and re-check times."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.rules import RuleError
from journeys.segments import (EPSILON, SegmentBook, check_segment_rule, find_cycle, is_eligible, is_time_relative,
                               membership_changes, reads, segment_references, touched)

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def event(kind: str, data: dict | None = None, at: float = NOW) -> dict:
    return {"id": f"{kind}-{at}", "type": kind, "workspace": "w", "contact_id": "c", "source": "api",
            "occurred_at": iso_from_epoch(at), "data": data or {}}


def fold(*events: dict, state: dict | None = None) -> dict:
    state = state or new_contact("c", "w")
    for e in events:
        state = apply_event(state, e)
    return state


def seg(sid: str, rule: dict | None = None) -> dict:
    return {"id": sid, "kind": "dynamic" if rule is not None else "static", "rule": rule}


def run(book: SegmentBook, state: dict, e: dict, now: float = NOW) -> tuple[dict, list[tuple[str, str]]]:
    """Apply ``e`` and the membership changes it causes, as the engine does."""
    after = apply_event(state, e)
    found = book.changes(state, after, e, now)
    for kind, sid in found.changes:
        after = apply_event(after, event(kind, {"segment_id": sid}, now))
    return after, found.changes


def test_reads_lists_the_inputs_of_every_leaf():
    rule = {"all": [{"attr": "address.city", "value": "Rome"}, {"tag": "VIP"},
                    {"not": {"subscribed": "sms"}},
                    {"any": [{"event": "order.placed", "within": "P30D"}, {"metric": "order_count", "op": "gte", "value": 2},
                             {"engaged": "clicked"}, {"segment": "big"}]}]}
    assert reads(rule) == {("attr", "address"), ("tag", "vip"), ("subscribed", "sms"), ("event", "order.placed"),
                           ("metric", "order_count"), ("engaged", "*"), ("segment", "big")}


@pytest.mark.parametrize(("rule", "timed"), [
    ({"event": "order.placed", "within": "P30D"}, True),
    ({"not": {"engaged": "opened", "within": "P7D"}}, True),
    ({"metric": "last_order_at", "op": "lt", "value": "P90D"}, True),
    ({"metric": "last_order_at", "op": "lt", "value": "2026-01-01T00:00:00Z"}, False),
    ({"event": "order.placed", "count": {"gte": 2}}, False),
    ({"tag": "vip"}, False),
])
def test_time_relative_rules(rule, timed):
    assert is_time_relative(rule) is timed


def test_a_segment_rule_names_the_path_of_its_problem():
    with pytest.raises(RuleError) as bad:
        check_segment_rule({"all": [{"tag": "a"}, {"attr": "x", "op": "like", "value": 1}]})
    assert bad.value.path == "rule.all[1].op"
    with pytest.raises(RuleError) as prop:
        check_segment_rule({"any": [{"property": "data.total", "op": "gt", "value": 5}]})
    assert prop.value.path == "rule.any[0].property"
    with pytest.raises(RuleError) as loop:
        check_segment_rule({"not": {"event": "segment.entered", "count": {"gte": 2}}})
    assert loop.value.path == "rule.not.event"
    assert segment_references({"all": [{"tag": "a"}, {"not": {"segment": "b"}}]}) == [("rule.all[1].not.segment", "b")]


def test_find_cycle_follows_references():
    assert find_cycle("a", {"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle("a", {"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle("a", {"a": ["a"]}) == ["a", "a"]


def test_touched_names_only_what_changed():
    before = fold(event("contact.created", {"city": "Rome", "tags": ["a"]}))
    after = apply_event(before, event("contact.updated", {"city": "Rome", "plan": "pro"}))
    assert touched(before, after, event("contact.updated")) == {("event", "contact.updated"), ("attr", "plan")}
    tagged = apply_event(before, event("contact.tagged", {"tags": ["b"]}))
    assert touched(before, tagged, event("contact.tagged")) == {("event", "contact.tagged"), ("tag", "b")}
    order = event("order.placed", {"order_id": "o", "amount": "5"})
    assert touched(before, apply_event(before, order), order) == {
        ("event", "order.placed"), ("metric", "order_count"), ("metric", "lifetime_value"), ("metric", "last_order_at")}


def test_only_segments_reading_a_changed_input_are_evaluated_and_dependents_follow_in_order():
    book = SegmentBook([seg("vip-candidates", {"all": [{"segment": "big"}, {"tag": "newsletter"}]}),
                        seg("big", {"metric": "lifetime_value", "op": "gte", "value": 100}),
                        seg("romans", {"attr": "city", "value": "Rome"})])
    state = fold(event("contact.created", {"city": "Milan", "tags": ["newsletter"]}))
    state = apply_event(state, event("segment.entered", {"segment_id": "romans"}))  # a stale claim...
    # ...is not looked at again by an order: only segments reading what the order changed are
    state, changes = run(book, state, event("order.placed", {"order_id": "o1", "amount": "150"}))
    assert changes == [("segment.entered", "big"), ("segment.entered", "vip-candidates")]
    assert state["segments"] == ["big", "romans", "vip-candidates"]
    state, changes = run(book, state, event("contact.untagged", {"tag": "newsletter"}))
    assert changes == [("segment.exited", "vip-candidates")]


def test_a_new_contact_is_checked_against_every_segment_and_erasure_leaves_all():
    book = SegmentBook([seg("not-vip", {"not": {"tag": "vip"}}), seg("static-list")])
    assert not is_eligible(new_contact("c", "w"))
    # engine events alone make nobody a member (no contact row in the read model)
    state, changes = run(book, new_contact("c", "w"), event("message.opened", {"message_id": "m"}))
    assert changes == []
    state, changes = run(book, state, event("cart.updated", {"cart_id": "k"}))
    assert changes == [("segment.entered", "not-vip")]
    state = apply_event(state, event("segment.entered", {"segment_id": "static-list"}))
    state, changes = run(book, state, event("contact.deleted"))
    assert sorted(changes) == [("segment.exited", "not-vip"), ("segment.exited", "static-list")]
    assert state["segments"] == []
    state, changes = run(book, state, event("contact.created", {"email": "x@y.io"}))
    assert changes == [("segment.entered", "not-vip")]


def test_an_outside_claim_about_a_dynamic_segment_is_checked():
    book = SegmentBook([seg("vip", {"tag": "vip"})])
    state = fold(event("contact.created", {"email": "x@y.io"}))
    state, changes = run(book, state, event("segment.entered", {"segment_id": "vip"}))
    assert changes == [("segment.exited", "vip")] and state["segments"] == []


def test_membership_changes_takes_plain_definitions():
    before = fold(event("contact.created", {"email": "x@y.io"}))
    after = apply_event(before, event("contact.tagged", {"tag": "vip"}))
    assert membership_changes([seg("vip", {"tag": "vip"}), seg("list")], before, after,
                              event("contact.tagged"), NOW) == (["vip"], [])


def test_due_at_is_when_the_oldest_counted_stamp_leaves_the_window():
    book = SegmentBook([seg("recent", {"event": "order.placed", "within": "P30D"}),
                        seg("lapsed", {"metric": "last_order_at", "op": "lt", "value": "P90D"}),
                        seg("tagged", {"tag": "x"})])
    assert book.timed == ("lapsed", "recent")
    state = fold(event("contact.created", {"email": "x@y.io"}),
                 event("order.placed", {"order_id": "o1"}, NOW - 40 * DAY),
                 event("order.placed", {"order_id": "o2"}, NOW - 10 * DAY))
    assert book.due_at(state, NOW) == pytest.approx(NOW + 20 * DAY + EPSILON)
    assert book.due_at(state, NOW + 20 * DAY + 1) == pytest.approx(NOW + 80 * DAY + EPSILON)  # lapsed: 90 days after o2
    assert book.due_at(state, NOW + 81 * DAY) is None
    assert book.due_at(new_contact("c", "w"), NOW) is None
    # the re-check (event None) evaluates the time-relative segments at the given instant
    state = apply_event(state, event("segment.entered", {"segment_id": "recent"}))
    found = book.changes(state, state, None, NOW + 20 * DAY + 2 * EPSILON)
    assert found.changes == [("segment.exited", "recent")] and found.timed


def test_a_claim_from_a_newer_definition_is_a_fact_until_the_runtime_reloads():
    book = SegmentBook([{"id": "vip", "kind": "dynamic", "rule": {"tag": "vip"}, "version": 2}])
    state = fold(event("contact.created", {"email": "x@y.io"}))
    for version, expected in ((None, []), (2, []), (3, ["vip"])):
        data = {"segment_id": "vip"} | ({"version": version} if version else {})
        after, changes = run(book, state, event("segment.entered", data))
        assert after["segments"] == expected, version
