"""Hostile names and values in rules (``projections.segment_sql``) are data, never SQL: they
select the right contacts (usually none), leave every table as it was, and never appear in
the statement text. Texts with a NUL character are refused with the rule path. Runs on
SQLite and on PostgreSQL (skipped without it)."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.rules import RuleError, evaluate
from projections import handlers, pg_dialect, schema, segment_sql

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
WS = "acme"
DROP = "a'); DROP TABLE contacts;--"
HOSTILE_TAG = "x'); drop table contact_tags;--"
HOSTILE_TYPE = "evil'); DROP TABLE events;--"
_ids = itertools.count(1)


def ev(kind: str, contact: str, **data: Any) -> dict[str, Any]:
    at = iso_from_epoch(NOW - 60)
    return {"id": f"inj-{next(_ids)}", "type": kind, "workspace": WS, "contact_id": contact, "occurred_at": at,
            "received_at": at, "source": "api", "data": data}


EVENTS = [
    ev("contact.created", "hostile", **{DROP: "x", '"': "Quote", "$": {"x": "dollar"}, "\\": "back", "%s": "?",
                                        "city": "O'Brien \\ \"quoted\"", "tags": [HOSTILE_TAG]}),
    ev("contact.created", "plain", city="Berlin", note="100%"),
    ev(HOSTILE_TYPE, "hostile"),
    ev("message.opened", "plain", message_id="m' OR '1'='1", journey_id='j"; --'),
    ev("segment.entered", "plain", segment_id="s'); DELETE FROM segment_membership;--"),
]

RULES = [
    {"attr": DROP, "value": "x"},
    {"attr": DROP, "op": "ne", "value": "x"},
    {"attr": '"', "value": "QUOTE"},
    {"attr": "$.x", "value": "dollar"},
    {"attr": "\\", "value": "back"},
    {"attr": "%s", "value": "?"},
    {"attr": "city", "value": "' OR '1'='1"},
    {"attr": "city", "value": "Berlin' --"},
    {"attr": "city", "value": "o'brien \\ \"QUOTED\""},
    {"attr": "city", "op": "contains", "value": "'brien \\"},
    {"attr": "city", "op": "contains", "value": "%"},
    {"attr": "note", "op": "contains", "value": "%"},
    {"attr": "city", "op": "contains", "value": "_"},
    {"attr": "city", "op": "gt", "value": "' OR 1=1 --"},
    {"attr": "city", "op": "in", "value": ["x') OR 1=1 --", "\\'", "$1", "%s", "?"]},
    {"attr": "x' OR '1'='1", "op": "exists"},
    {"attr": "x' OR '1'='1", "op": "ne", "value": "y"},
    {"tag": HOSTILE_TAG},
    {"tag": "vip' OR '1'='1"},
    {"event": HOSTILE_TYPE},
    {"event": "order.placed'; DROP TABLE events;--", "count": {"eq": 0}},
    {"segment": "s'); DELETE FROM segment_membership;--"},
    {"segment": "s' OR '1'='1"},
    {"engaged": "opened", "message": "m' OR '1'='1"},
    {"engaged": "opened", "message": "m1' OR '1'='1"},
    {"engaged": "opened", "journey": 'j"; --'},
    {"metric": "lifetime_value", "op": "gte", "value": "0"},
]
TABLES = ("contacts", "contact_tags", "events", "messages", "segment_membership")


@pytest.fixture(params=["sqlite", "postgres"])
def model(request):
    """``(connection, dialect)`` holding EVENTS in the read model."""
    if request.param == "sqlite":
        conn = sqlite3.connect(":memory:", isolation_level=None)
        schema.create(conn)
        for position, event in enumerate(EVENTS, 1):
            handlers.apply(conn, position, event)
        yield conn, "sqlite"
        conn.close()
        return
    from projections.postgres import PgReadModel
    from tests.support import PG

    pg_schema = request.getfixturevalue("pg_schema")
    read_model = PgReadModel(PG, pg_schema)
    with read_model.db.transaction():
        for position, event in enumerate(EVENTS, 1):
            handlers.apply(read_model.db, position, event)
    yield read_model.db, "postgres"
    read_model.close()


def folded() -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = {}
    for event in EVENTS:
        cid = event["contact_id"]
        states[cid] = apply_event(states.get(cid, new_contact(cid, WS)), event)
    return states


def table_sizes(conn) -> dict[str, int]:
    return {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in TABLES}


def test_hostile_names_and_values_select_what_the_evaluator_selects(model):
    conn, dialect = model
    before = table_sizes(conn)
    states = folded()
    answers = {}
    for rule in RULES:
        expected = sorted(cid for cid, state in states.items() if evaluate(rule, state, NOW))
        answers[str(rule)] = segment_sql.sample_members(conn, rule, WS, NOW, dialect)
        assert answers[str(rule)] == expected, rule
        assert segment_sql.count_members(conn, rule, WS, NOW, dialect) == len(expected)
    assert table_sizes(conn) == before
    # the hostile texts did find what they name
    assert answers[str({"attr": DROP, "value": "x"})] == ["hostile"]
    assert answers[str({"tag": HOSTILE_TAG})] == ["hostile"]
    assert answers[str({"event": HOSTILE_TYPE})] == ["hostile"]
    assert answers[str({"engaged": "opened", "message": "m' OR '1'='1"})] == ["plain"]
    assert answers[str({"attr": "city", "value": "' OR '1'='1"})] == []


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
@pytest.mark.parametrize("rule", RULES, ids=lambda r: str(r)[:40])
def test_names_and_values_are_parameters(rule, dialect):
    sql, params = segment_sql.compile_rule(rule, workspace=WS, now=NOW, dialect=dialect)
    for text in (DROP, HOSTILE_TAG, HOSTILE_TYPE, "OR '1'='1", "OR 1=1", "DELETE FROM", '"; --'):
        assert text not in sql
    marks = [text for kind, text in pg_dialect.tokenize(sql) if kind == "mark" and text == "?"]
    assert len(marks) == len(params)


@pytest.mark.parametrize(("rule", "path"), [
    ({"attr": "city", "value": "a\x00b"}, "rule.value"),
    ({"attr": "ci\x00ty", "value": "x"}, "rule.attr"),
    ({"attr": "city", "op": "in", "value": ["ok", "\x00"]}, "rule.value[1]"),
    ({"all": [{"tag": "vip\x00"}]}, "rule.all[0].tag"),
    ({"any": [{"event": "a\x00"}]}, "rule.any[0].event"),
    ({"segment": "\x00"}, "rule.segment"),
    ({"engaged": "opened", "message": "m\x00"}, "rule.message"),
    ({"attr": "n", "op": "gt", "value": float("nan")}, "rule.value"),
    ({"attr": "n", "op": "gt", "value": float("inf")}, "rule.value"),
])
def test_nul_characters_and_non_finite_numbers_are_refused_with_the_path(rule, path):
    with pytest.raises(RuleError) as info:
        segment_sql.compile_rule(rule, workspace=WS, now=NOW, dialect="postgres")
    assert info.value.path == path
