"""Segment rules (journeys/rules.py): the grammar checker and the in-memory evaluator."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.rules import RuleError, compare, evaluate, lookup, parse_rule

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def contact_from(*events: tuple[str, dict, float]) -> dict:
    """Fold ``(type, data, seconds_before_now)`` events into a fresh contact."""
    state = new_contact("c_1")
    for i, (kind, data, ago) in enumerate(events):
        state = apply_event(state, {"id": f"e{i}", "type": kind, "occurred_at": iso_from_epoch(NOW - ago),
                                    "data": data})
    return state


@pytest.fixture
def anna() -> dict:
    return contact_from(
        ("contact.created", {"email": "anna@example.com", "city": "Berlin", "age": "42", "score": 7.5,
                             "interests": ["Shoes", "bags"], "tags": ["VIP"], "newsletter": True}, 100 * DAY),
        ("order.placed", {"order_id": "o1", "amount": "59.90"}, 120 * DAY),
        ("order.placed", {"order_id": "o2", "amount": "40.10"}, 30 * DAY),
        ("contact.unsubscribed", {"channel": "sms"}, 5 * DAY),
        ("segment.entered", {"segment_id": "seg_big"}, 2 * DAY),
        ("message.opened", {"message_id": "m_1", "journey_id": "welcome"}, 3 * DAY),
        ("message.clicked", {"message_id": "m_2", "journey_id": "cart"}, 40 * DAY),
    )


def ev(rule, contact, event=None):
    return evaluate(parse_rule(rule), contact, NOW, event)


# -- attribute operators ----------------------------------------------------------

@pytest.mark.parametrize(("rule", "expected"), [
    ({"attr": "city", "op": "eq", "value": "Berlin"}, True),
    ({"attr": "city", "op": "eq", "value": "berlin"}, True),  # strings compare case-insensitively
    ({"attr": "city", "value": "BERLIN"}, True),  # eq is the default operator
    ({"attr": "city", "op": "eq", "value": "Munich"}, False),
    ({"attr": "city", "op": "ne", "value": "Munich"}, True),
    ({"attr": "city", "op": "ne", "value": "berlin"}, False),
    ({"attr": "age", "op": "eq", "value": 42}, True),  # "42" == 42 after numeric coercion
    ({"attr": "age", "op": "gt", "value": 41}, True),
    ({"attr": "age", "op": "gt", "value": 42}, False),
    ({"attr": "age", "op": "gte", "value": "42"}, True),
    ({"attr": "age", "op": "lt", "value": 100}, True),  # numerically, though "42" > "100" as strings
    ({"attr": "age", "op": "lte", "value": 41.9}, False),
    ({"attr": "score", "op": "lt", "value": "10"}, True),
    ({"attr": "city", "op": "in", "value": ["Hamburg", "berlin"]}, True),
    ({"attr": "city", "op": "in", "value": ["Hamburg"]}, False),
    ({"attr": "age", "op": "in", "value": [41, 42]}, True),
    ({"attr": "city", "op": "contains", "value": "ERL"}, True),  # substring, case-insensitive
    ({"attr": "city", "op": "contains", "value": "x"}, False),
    ({"attr": "interests", "op": "contains", "value": "shoes"}, True),  # list membership
    ({"attr": "interests", "op": "contains", "value": "sho"}, False),  # not a substring of a member
    ({"attr": "city", "op": "exists"}, True),
    ({"attr": "phone", "op": "exists"}, False),
    ({"attr": "phone", "op": "exists", "value": False}, True),
    ({"attr": "city", "op": "exists", "value": False}, False),
    ({"attr": "newsletter", "op": "eq", "value": True}, True),
    ({"attr": "newsletter", "op": "eq", "value": "true"}, False),  # booleans are not strings
    ({"attr": "phone", "op": "eq", "value": "1"}, False),  # absent attribute
    ({"attr": "phone", "op": "ne", "value": "1"}, True),
    ({"attr": "phone", "op": "gt", "value": 1}, False),
    ({"attr": "city", "op": "gt", "value": 5}, True),  # no number on one side: compared as text
])
def test_attribute_operators(anna, rule, expected):
    assert ev(rule, anna) is expected


def test_numeric_coercion_of_decimal_strings():
    assert compare("59.90", "gt", 50) is True
    assert compare("59.90", "lt", "100") is True
    assert compare(59.9, "eq", "59.90") is True
    assert compare("abc", "gt", 50) is True  # text comparison: "abc" > "50"
    assert compare("2", "lt", "10") is True  # both numeric: not "2" > "10" as text


def test_empty_string_does_not_exist():
    assert compare("", "exists", None) is False


def test_lookup_follows_dotted_paths():
    assert lookup({"data": {"cart": {"id": "k1"}}}, "data.cart.id") == "k1"
    assert lookup({"data": {"cart": "k1"}}, "data.cart.id") is None
    assert lookup({}, "data.cart") is None


# -- contact facts ------------------------------------------------------------------

def test_tag_is_case_insensitive(anna):
    assert ev({"tag": "vip"}, anna)
    assert ev({"tag": "VIP"}, anna)
    assert not ev({"tag": "b2b"}, anna)


def test_subscribed(anna):
    assert ev({"subscribed": "email"}, anna)
    assert not ev({"subscribed": "sms"}, anna)
    bounced = apply_event(anna, {"type": "message.bounced", "data": {"bounce_type": "hard"}})
    assert not ev({"subscribed": "email"}, bounced)


def test_segment_membership(anna):
    assert ev({"segment": "seg_big"}, anna)
    assert not ev({"segment": "seg_small"}, anna)
    left = apply_event(anna, {"type": "segment.exited", "data": {"segment_id": "seg_big"}})
    assert not ev({"segment": "seg_big"}, left)


@pytest.mark.parametrize(("rule", "expected"), [
    ({"event": "order.placed"}, True),  # count >= 1 by default, all time
    ({"event": "order.placed", "count": {"gte": 2}}, True),
    ({"event": "order.placed", "count": {"gte": 3}}, False),
    ({"event": "order.placed", "count": {"eq": 1}, "within": "P90D"}, True),  # the 120-day-old one is out
    ({"event": "order.placed", "count": {"gte": 2}, "within": "P90D"}, False),
    ({"event": "order.placed", "count": {"gte": 2}, "within": "P121D"}, True),
    ({"event": "order.placed", "count": {"eq": 0}, "within": "P7D"}, True),
    ({"event": "cart.updated"}, False),
    ({"event": "cart.updated", "count": {"eq": 0}}, True),
])
def test_event_count_within_a_window(anna, rule, expected):
    assert ev(rule, anna) is expected


@pytest.mark.parametrize(("rule", "expected"), [
    ({"metric": "order_count", "op": "eq", "value": 2}, True),
    ({"metric": "order_count", "op": "gt", "value": "1"}, True),
    ({"metric": "lifetime_value", "op": "eq", "value": "100.00"}, True),
    ({"metric": "lifetime_value", "op": "gte", "value": 100}, True),
    ({"metric": "lifetime_value", "op": "gt", "value": 100}, False),
    ({"metric": "last_order_at", "op": "gte", "value": "P90D"}, True),  # ordered within 90 days
    ({"metric": "last_order_at", "op": "gte", "value": "P29D"}, False),
    ({"metric": "last_order_at", "op": "lt", "value": "P29D"}, True),  # last order older than 29 days
    ({"metric": "last_order_at", "op": "gt", "value": "2026-10-01T00:00:00Z"}, True),
    ({"metric": "last_order_at", "op": "gt", "value": "2026-11-01T00:00:00Z"}, False),
    ({"metric": "last_order_at", "op": "exists"}, True),
])
def test_metrics(anna, rule, expected):
    assert ev(rule, anna) is expected


def test_last_order_at_of_a_contact_who_never_ordered():
    nobody = new_contact("c_2")
    assert not ev({"metric": "last_order_at", "op": "gte", "value": "P90D"}, nobody)
    assert not ev({"metric": "last_order_at", "op": "lt", "value": "P90D"}, nobody)
    assert not ev({"metric": "last_order_at", "op": "exists"}, nobody)
    assert ev({"metric": "order_count", "op": "eq", "value": 0}, nobody)


@pytest.mark.parametrize(("rule", "expected"), [
    ({"engaged": "opened"}, True),
    ({"engaged": "opened", "within": "P7D"}, True),
    ({"engaged": "opened", "within": "P2D"}, False),
    ({"engaged": "clicked", "within": "P30D"}, False),
    ({"engaged": "clicked", "within": "P60D"}, True),
    ({"engaged": "opened", "message": "m_1"}, True),
    ({"engaged": "opened", "message": "m_2"}, False),
    ({"engaged": "clicked", "journey": "cart"}, True),
    ({"engaged": "clicked", "journey": "welcome"}, False),
])
def test_engaged(anna, rule, expected):
    assert ev(rule, anna) is expected


def test_property_reads_the_triggering_event(anna):
    order = {"type": "order.placed", "data": {"amount": "59.90", "currency": "EUR"}}
    assert ev({"property": "data.amount", "op": "gt", "value": 50}, anna, order)
    assert not ev({"property": "data.amount", "op": "gt", "value": 60}, anna, order)
    assert ev({"property": "data.currency", "value": "eur"}, anna, order)
    assert ev({"property": "type", "value": "order.placed"}, anna, order)
    assert not ev({"property": "data.amount", "op": "exists"}, anna, None)  # no event: false


# -- composition ----------------------------------------------------------------------

def test_nested_all_any_not(anna):
    rule = {"all": [
        {"tag": "vip"},
        {"any": [{"attr": "city", "value": "Munich"}, {"metric": "order_count", "op": "gte", "value": 2}]},
        {"not": {"segment": "seg_banned"}},
    ]}
    assert ev(rule, anna)
    assert not ev({"not": rule}, anna)
    assert not ev({"all": [rule, {"not": {"tag": "vip"}}]}, anna)
    assert ev({"any": [{"not": rule}, {"tag": "vip"}]}, anna)


def test_empty_all_and_any(anna):
    assert ev({"all": []}, anna) is True
    assert ev({"any": []}, anna) is False


# -- parse_rule -----------------------------------------------------------------------

def test_parse_rule_returns_a_good_rule_unchanged():
    rule = {"all": [{"tag": "vip"}, {"event": "order.placed", "count": {"gte": 2}, "within": "P90D"}]}
    assert parse_rule(rule) is rule


@pytest.mark.parametrize(("rule", "path"), [
    ("vip", "rule"),
    ({}, "rule"),
    ({"tag": "vip", "segment": "s"}, "rule"),  # two kinds in one rule
    ({"all": {"tag": "vip"}}, "rule.all"),
    ({"all": [{"tag": "vip"}, {"attr": "city", "op": "like", "value": "x"}]}, "rule.all[1].op"),
    ({"any": [{"tag": "a"}, {"not": {"tag": ""}}]}, "rule.any[1].not.tag"),
    ({"attr": "city", "op": "eq"}, "rule.value"),
    ({"attr": "", "value": 1}, "rule.attr"),
    ({"attr": "city", "op": "in", "value": "Berlin"}, "rule.value"),
    ({"metric": "clv", "op": "gt", "value": 1}, "rule.metric"),
    ({"property": "data.amount", "op": "bigger", "value": 1}, "rule.op"),
    ({"tag": 5}, "rule.tag"),
    ({"segment": ""}, "rule.segment"),
    ({"subscribed": "fax"}, "rule.subscribed"),
    ({"engaged": "replied"}, "rule.engaged"),
    ({"event": "order.placed", "count": 2}, "rule.count"),
    ({"event": "order.placed", "count": {"gte": 1, "lte": 3}}, "rule.count"),
    ({"event": "order.placed", "count": {"in": [1]}}, "rule.count"),
    ({"event": "order.placed", "count": {"gte": "2"}}, "rule.count"),
    ({"event": "order.placed", "within": "P3M"}, "rule.within"),
    ({"engaged": "opened", "within": "soon"}, "rule.within"),
    ({"engaged": "opened", "within": ["P1D"]}, "rule.within"),
    ({"not": {"all": [{"tag": "a"}, {"event": "x", "within": "P0D"}]}}, "rule.not.all[1].within"),
])
def test_parse_rule_names_the_path_of_the_problem(rule, path):
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    assert info.value.path == path
    assert str(info.value).startswith(f"{path}: ")


def test_parse_rule_uses_the_given_root_path():
    with pytest.raises(RuleError) as info:
        parse_rule({"all": [{"tag": ""}]}, "data.cases[0].rule")
    assert info.value.path == "data.cases[0].rule.all[0].tag"


def test_rule_error_is_a_value_error():
    assert issubclass(RuleError, ValueError)
