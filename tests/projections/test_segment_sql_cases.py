"""``projections.segment_sql`` on chosen cases (the random search is in
test_segment_sql_parity.py): the contract of the helpers, window and time boundaries to the
microsecond, erasure, the comparisons SQLite's own JSON functions get wrong, and the
comparison rules of ``journeys.rules`` that make SQL and memory agree. Both databases
(PostgreSQL skipped when unreachable)."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest

from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch, parse_time
from journeys.rules import RuleError, compare, evaluate, parse_rule
from projections import handlers, schema, segment_sql

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
WS = "acme"
_ids = itertools.count(1)


def ev(kind: str, contact: str, ago: float = 60.0, workspace: str = WS, **data: Any) -> dict[str, Any]:
    at = iso_from_epoch(NOW - ago)
    return {"id": f"case-{next(_ids)}", "type": kind, "workspace": workspace, "contact_id": contact,
            "occurred_at": at, "received_at": at, "source": "api", "data": data}


class Model:
    """A read model (SQLite or PostgreSQL) plus the same events folded in memory."""

    def __init__(self, conn, dialect: str, apply) -> None:
        self.conn, self.dialect, self._apply = conn, dialect, apply
        self.events: list[dict[str, Any]] = []

    def add(self, *events: dict[str, Any]) -> None:
        self.events += events
        self._apply(events)

    def members(self, rule: dict[str, Any], now: float = NOW) -> list[str]:
        return segment_sql.sample_members(self.conn, rule, WS, now, self.dialect, limit=1000)

    def evaluated(self, rule: dict[str, Any], now: float = NOW) -> list[str]:
        """What the in-memory evaluator says, for contacts with a profile that are not erased."""
        states: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if event["workspace"] == WS:
                cid = event["contact_id"]
                states[cid] = apply_event(states.get(cid, new_contact(cid, WS)), event)
        rows = {r[0] for r in self.conn.execute("SELECT contact_id FROM contacts WHERE workspace = ?", (WS,))}
        return sorted(cid for cid, s in states.items()
                      if cid in rows and not s.get("deleted") and evaluate(rule, s, now))


@pytest.fixture(params=["sqlite", "postgres"])
def model(request):
    position = itertools.count(1)
    if request.param == "sqlite":
        conn = sqlite3.connect(":memory:", isolation_level=None)
        schema.create(conn)

        def apply(events):
            for event in events:
                handlers.apply(conn, next(position), event)

        yield Model(conn, "sqlite", apply)
        conn.close()
        return
    from projections.postgres import PgReadModel
    from tests.support import PG

    read_model = PgReadModel(PG, request.getfixturevalue("pg_schema"))

    def apply_pg(events):
        with read_model.db.transaction():
            for event in events:
                handlers.apply(read_model.db, next(position), event)

    yield Model(read_model.db, "postgres", apply_pg)
    read_model.close()


# -- the contract ---------------------------------------------------------------------------
def test_property_rules_have_no_sql_form():
    with pytest.raises(RuleError) as info:
        segment_sql.compile_rule({"all": [{"tag": "vip"}, {"property": "data.total", "op": "gt", "value": 5}]},
                                 workspace=WS, now=NOW, dialect="sqlite")
    assert info.value.path == "rule.all[1].property"


def test_rules_are_checked_and_dialects_named():
    with pytest.raises(RuleError) as info:
        segment_sql.compile_rule({"any": [{"attr": "city", "op": "like", "value": "x"}]}, workspace=WS, now=NOW,
                                 dialect="postgres")
    assert info.value.path == "rule.any[0].op"
    with pytest.raises(ValueError, match="dialect"):
        segment_sql.compile_rule({"tag": "vip"}, workspace=WS, now=NOW, dialect="mysql")


def test_count_sample_and_select(model):
    model.add(*(ev("contact.created", f"c{i}", city="Berlin" if i % 2 else "Paris") for i in range(7)),
              ev("contact.created", "other", workspace="beta", city="Berlin"))
    rule = {"attr": "city", "value": "berlin"}
    assert model.members(rule) == ["c1", "c3", "c5"]
    assert segment_sql.sample_members(model.conn, rule, WS, NOW, model.dialect, limit=2) == ["c1", "c3"]
    assert segment_sql.count_members(model.conn, rule, WS, NOW, model.dialect) == 3
    sql, params = segment_sql.select_members_sql(rule, WS, NOW, model.dialect)
    assert sql.startswith("SELECT c.contact_id FROM contacts c WHERE")
    segment_sql.prepare(model.conn)
    assert sorted(row[0] for row in model.conn.execute(sql, params)) == ["c1", "c3", "c5"]


def test_select_members_sql_backfills_segment_membership(model):
    model.add(ev("contact.created", "a", age="42"), ev("contact.created", "b", age=17))
    sql, params = segment_sql.select_members_sql({"attr": "age", "op": "gte", "value": 18}, WS, NOW, model.dialect)
    segment_sql.prepare(model.conn)
    stamp = iso_from_epoch(NOW)
    model.conn.execute("INSERT INTO segment_membership(workspace, segment_id, contact_id, entered_at)"
                       f" SELECT ?, ?, m.contact_id, ? FROM ({sql}) m", [WS, "adults", stamp, *params])
    rows = model.conn.execute("SELECT contact_id FROM segment_membership WHERE segment_id = 'adults'").fetchall()
    assert rows == [("a",)]
    assert model.members({"segment": "adults"}) == ["a"]


def test_sqlite_attribute_comparisons_need_prepare():
    conn = sqlite3.connect(":memory:")
    schema.create(conn)
    sql, params = segment_sql.select_members_sql({"attr": "city", "value": "x"}, WS, NOW, "sqlite")
    with pytest.raises(sqlite3.OperationalError, match="switchback_attr"):
        conn.execute(sql, params).fetchall()
    segment_sql.prepare(conn)
    assert conn.execute(sql, params).fetchall() == []


# -- time --------------------------------------------------------------------------------------
@pytest.mark.parametrize("now", [NOW, NOW + 0.25, NOW + 1e-7, NOW - 4e-7])
def test_windows_are_exact_to_the_microsecond(model, now):
    ages = [DAY - 1e-6, DAY, DAY + 1e-6, DAY - 0.25, DAY + 0.25, DAY + 0.5, DAY - 0.75, 0.0]
    for i, age in enumerate(ages):
        model.add(ev("contact.created", f"c{i}", ago=1.0), ev("page.viewed", f"c{i}", ago=age),
                  ev("message.opened", f"c{i}", ago=age, message_id="m1"))
    for rule in ({"event": "page.viewed", "within": "P1D"}, {"engaged": "opened", "within": "P1D"},
                 {"not": {"event": "page.viewed", "within": "P1D"}}):
        assert model.members(rule, now) == model.evaluated(rule, now), rule
    assert model.members({"event": "page.viewed", "within": "P1D"}, NOW) == ["c0", "c1", "c3", "c6", "c7"]


FRACTIONS = [0.1, 0.3, 0.7, 0.123457, 2.000001, 3.999999]


def test_last_order_at_against_instants_durations_and_times(model):
    model.add(ev("order.placed", "a", ago=0.5, order_id="o1", amount="10.00"),
              ev("order.placed", "a", ago=1.0, order_id="o2", amount="5"),  # earlier, in the same second
              ev("order.placed", "b", ago=30 * DAY, order_id="o3"),
              *(ev("order.placed", f"f{i}", ago=age, order_id=f"f{i}") for i, age in enumerate(FRACTIONS)),
              ev("contact.created", "never", ago=5))
    # the epoch seconds of the orders as parse_time reads them (floats, not whole microseconds)
    instants = [parse_time(iso_from_epoch(NOW - age)) for age in FRACTIONS]
    for op in ("eq", "ne", "lt", "lte", "gt", "gte"):
        for value in (NOW - 0.5, NOW - 0.5 + 1e-7, NOW - 1.0, "P30D", "PT0.5S", iso_from_epoch(NOW - 0.5),
                      "2026-10-22T10:00:00+00:00", *instants):
            rule = {"metric": "last_order_at", "op": op, "value": value}
            assert model.members(rule) == model.evaluated(rule), rule
    assert model.members({"metric": "last_order_at", "op": "eq", "value": NOW - 0.5}) == ["a"]
    assert [model.members({"metric": "last_order_at", "op": "eq", "value": t}) for t in instants] == \
        [[f"f{i}"] for i in range(len(FRACTIONS))]
    assert model.members({"metric": "last_order_at", "op": "exists", "value": False}) == ["never"]
    assert model.members({"metric": "last_order_at", "op": "in", "value": [NOW - 30 * DAY]}) == ["b"]
    assert model.members({"metric": "lifetime_value", "op": "eq", "value": "15.00"}) == ["a"]


# -- erasure -------------------------------------------------------------------------------------
def test_erased_contacts_leave_and_come_back_without_their_past(model):
    model.add(ev("contact.created", "gone", city="Berlin", tags=["vip"]),
              ev("order.placed", "gone", order_id="o1"),
              ev("segment.entered", "gone", segment_id="s1"),
              ev("message.bounced", "gone", message_id="m1"),
              ev("contact.deleted", "gone"),
              ev("contact.created", "back", city="Berlin"),
              ev("order.placed", "back", order_id="o2"),
              ev("segment.entered", "back", segment_id="s1"),
              ev("contact.deleted", "back"),
              ev("contact.updated", "back", city="Paris"),
              ev("contact.created", "stays", city="Berlin"),
              ev("segment.entered", "stays", segment_id="s1"),
              ev("contact.deleted", "stays"),
              ev("contact.created", "stays"),
              ev("segment.entered", "stays", segment_id="s1"))
    for rule in ({"attr": "city", "op": "exists"}, {"event": "order.placed"}, {"segment": "s1"},
                 {"subscribed": "email"}, {"event": "contact.deleted", "count": {"eq": 0}}, {"all": []}):
        assert model.members(rule) == model.evaluated(rule), rule
    assert model.members({"all": []}) == ["back", "stays"]
    assert model.members({"event": "order.placed"}) == []
    assert model.members({"segment": "s1"}) == ["stays"]


# -- every operator on every kind of value ---------------------------------------------------------
VALUES = ["Berlin", "berlin", "BERLIN", "", " ", "42", "42.0", "0042", "-0", "9", "10", "59.90", "1e+16", "1E+16",
          "1" * 40, "1" * 41, "True", "true", "None", "É", "é", "abc", "a\x00b", "\x00", "\\u0000", 'a"b', "x\\y",
          "ab%_", "[1]",
          42, 42.0, 9, 10, 0, 1, -1, 1e16, 1e-05, 9.346692, -0.0, 0.30000000000000004, 2**53 + 1,
          True, False, ["Berlin", 42, True, None, ["x"]], [], {"x": "Berlin"}, {}]
EXPECTED = ["Berlin", "berlin", "", " ", "42", "042", "9", "10", "59.9", "1e+16", "1E+16", "1e16", "True", "true",
            "None", "é", "É", "a", "b", "ab%_", "%", "_", "[1]", "\\u0000", 'A"B', "x\\Y", "S", 42, 42.5, 9, 10, 0, 1,
            -1, 1e16, 1e-05, 0.00001, 9.346692, 0.3, 2**53, float("1" * 40), "1" * 41, True, False, None]


@pytest.fixture(params=["sqlite", "postgres"])
def grid(request):
    """A contact per value of VALUES (attribute ``v``; ``n.v`` nested), and one without ``v``."""
    position = itertools.count(1)
    events = [ev("contact.created", f"v{i:02d}", v=value, n={"v": value}) for i, value in enumerate(VALUES)]
    events.append(ev("contact.created", "none", other=1))
    if request.param == "sqlite":
        conn = sqlite3.connect(":memory:", isolation_level=None)
        schema.create(conn)
        for event in events:
            handlers.apply(conn, next(position), event)
        m = Model(conn, "sqlite", lambda _: None)
        m.events = events
        yield m
        conn.close()
        return
    from projections.postgres import PgReadModel
    from tests.support import PG

    read_model = PgReadModel(PG, request.getfixturevalue("pg_schema"))
    with read_model.db.transaction():
        for event in events:
            handlers.apply(read_model.db, next(position), event)
    m = Model(read_model.db, "postgres", lambda _: None)
    m.events = events
    yield m
    read_model.close()


def test_every_operator_on_every_kind_of_value(grid):
    wrong = []
    for path in ("v", "n.v"):
        rules = [{"attr": path, "op": op, "value": value} for op in ("eq", "ne", "lt", "lte", "gt", "gte", "contains")
                 for value in EXPECTED]
        rules += [{"attr": path, "op": "in", "value": [a, b]} for a, b in zip(EXPECTED, EXPECTED[1:] + [None])]
        rules += [{"attr": path, "op": "exists", **({} if v == "-" else {"value": v})}
                  for v in ("-", True, False, 0, "")]
        for rule in rules:
            if grid.members(rule) != grid.evaluated(rule):
                wrong.append((rule, grid.members(rule), grid.evaluated(rule)))
    assert wrong == []


# -- what SQLite's JSON functions get wrong, and the comparison rules -----------------------------
def test_decimals_and_nul_characters_compare_as_in_memory(model):
    model.add(ev("contact.created", "a", score=9.346692, tiny="0.00000491", text="a\x00b", note="x"),
              ev("contact.created", "b", score="9.346692", tiny=4.91e-06, text="a", note="\x00"))
    for rule in ({"attr": "score", "value": 9.346692}, {"attr": "score", "op": "gte", "value": "9.346692"},
                 {"attr": "tiny", "value": 4.91e-06}, {"attr": "text", "value": "a"},
                 {"attr": "text", "op": "contains", "value": "a"}, {"attr": "text", "op": "exists"},
                 {"attr": "note", "op": "ne", "value": "x"}, {"attr": "text", "op": "lt", "value": "b"}):
        assert model.members(rule) == model.evaluated(rule), rule
    assert model.members({"attr": "score", "value": 9.346692}) == ["a", "b"]
    assert model.members({"attr": "text", "value": "a"}) == ["b"]


@pytest.mark.parametrize(("actual", "op", "expected", "holds"), [
    ("59.90", "eq", 59.9, True),
    (" 59.90", "eq", 59.9, False),  # a number is a plain decimal: no spaces, exponents, 007, 1_000
    ("1e2", "eq", 100, False),
    ("007", "eq", 7, False),
    ("1_000", "eq", 1000, False),
    ("nan", "eq", "NaN", True),  # ... so these compare as texts
    ("١٢", "eq", 12, False),
    ("ÉCOLE", "eq", "école", False),  # case is ignored for A-Z only
    ("ECOLE", "eq", "ecole", True),
    ("Straße", "contains", "SS", False),
    (["a", {"b": 1}], "eq", "['a', {'b': 1}]", False),  # lists and objects never compare
    ({"b": 1}, "contains", "b", False),
    (["a", ["b"]], "contains", "b", False),
    ("a\x00b", "eq", "a\x00b", False),  # nor do texts with a NUL character
    ("a\x00b", "exists", None, True),
    ("None", "eq", None, False),  # a null rule value matches nothing
    ("x", "ne", None, True),
    (1e16, "eq", "1e+16", True),  # a number against a text: written as JSON writes it
    (1e-05, "contains", "0.00001", True),
    (True, "eq", 1, True),  # booleans equal booleans (and 1 and 0, as in Python)
    (True, "eq", "1", False),
    (True, "gt", "S", True),  # ... and order as True/False
    ("Berlin", "gt", 5, True),
])
def test_comparison_rules(actual, op, expected, holds):
    assert compare(actual, op, expected) is holds


@pytest.mark.parametrize(("rule", "path"), [
    ({"metric": "lifetime_value", "op": "contains", "value": 5}, "rule.op"),
    ({"metric": "order_count", "op": "gt", "value": "many"}, "rule.value"),
    ({"metric": "order_count", "op": "eq", "value": True}, "rule.value"),
    ({"metric": "last_order_at", "op": "gt", "value": "yesterday"}, "rule.value"),
    ({"metric": "last_order_at", "op": "gt", "value": "p30d"}, "rule.value"),
    ({"metric": "lifetime_value", "op": "in", "value": [1, "x"]}, "rule.value[1]"),
    ({"engaged": "opened", "message": 5}, "rule.message"),
    ({"engaged": "clicked", "journey": ""}, "rule.journey"),
    ({"event": "order.placed", "count": {"gte": True}}, "rule.count"),
    ({"attr": "n", "value": 10**400}, "rule.value"),
])
def test_rules_that_sql_could_not_answer_alike_are_refused(rule, path):
    with pytest.raises(RuleError) as info:
        parse_rule(rule)
    assert info.value.path == path
