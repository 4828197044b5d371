"""The SQL form of a rule (``projections.segment_sql``) selects exactly the contacts that the
in-memory evaluator selects (``journeys.rules.evaluate`` on the ``journeys.contact`` fold).

Hypothesis draws a few contacts with a random event script (attributes of every JSON type,
numeric texts, odd texts, tags, orders, consent, bounces, opens and clicks, segment
membership, erasure, custom events, at times around the rule windows) and a random rule
nesting every kind. The same events are folded in memory and projected with the real
handlers into the SQLite read model and into the PostgreSQL one (skipped without
PostgreSQL); the members must be the same. Each example uses its own workspace, and some
events go to a neighbouring workspace that must not leak in.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import event as tally
from hypothesis import strategies as st

from journeys.contact import apply_event, new_contact
from journeys.events import CHANNELS, iso_from_epoch, parse_time
from journeys.rules import OPS, RuleError, evaluate, parse_rule
from projections import handlers, schema, segment_sql

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
CONTACTS = ("c0", "c1", "c2", "c3")
_NO_CONTACT_ROW = ("message.", "journey.", "segment.", "offer.", "workspace.")
# SEGMENT_SQL_EXAMPLES=5000 for a longer search (still deterministic); SEGMENT_SQL_NO_SHRINK=1
# reports the first failing example as found (shrinking these examples can take minutes).
_PHASES = [Phase.explicit, Phase.generate] + ([] if os.environ.get("SEGMENT_SQL_NO_SHRINK") else [Phase.shrink])
SETTINGS = settings(max_examples=int(os.environ.get("SEGMENT_SQL_EXAMPLES", "150")), phases=_PHASES,
                    deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
RULES_PER_SCRIPT = 6
_serial = itertools.count(1)

# -- values ---------------------------------------------------------------------------------
# Rules and contacts draw mostly from the same small pools, so that comparisons meet: equal
# up to case, numbers spelled as texts, booleans against 1 and 0, near-equal decimals.
POOL = ["Berlin", "berlin", "BERLIN", "Berlin ", "Paris", "", "42", "42.0", "0042", "-3", "-0", "59.90", "59.9",
        "1e+16", "1E+16", "1e5", "abc", "ABC", "True", "true", "None", "null", "é", "É", "ünal", "ÜNAL", "x\x00y",
        'a"b', 'A"B', "back\\slash", "\\u0000", "5", "10", "9", " 7", "nan", "1_000", "١٢", "[1]", "b%_",
        "0.30000000000000004", "9.346692", 42, 42.0, 59.9, 1e16, 1e-05, 10, 9, 5, 0, 1, -3, -0.0, True, False,
        0.30000000000000004, 0.3, 9.346692, 2**53 + 1, 2**53, -(2**63), 1.7976931348623157e308, 5e-324]
pooled = st.sampled_from(POOL)
rule_pooled = st.sampled_from([v for v in POOL if not (isinstance(v, str) and "\x00" in v)])
texts = st.text(max_size=4)
numbers = st.one_of(st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False))
nul_texts = st.sampled_from(["x\x00y", "\x00", "\\\x00", "\\u0000", "\\\\u0000\x00"])  # PostgreSQL cannot hold NUL
scalars = st.one_of(pooled, pooled, pooled, texts, numbers, st.booleans(), nul_texts)
rule_scalars = st.one_of(rule_pooled, rule_pooled, rule_pooled, st.none(), numbers,
                         st.text(st.characters(blacklist_characters="\x00"), max_size=4))
attribute_values = st.one_of(
    scalars, scalars, scalars, st.none(),
    st.lists(st.one_of(scalars, st.none(), st.lists(scalars, max_size=1)), max_size=3),
    st.dictionaries(st.sampled_from(["city", "x", "y"]),
                    st.one_of(scalars, st.dictionaries(st.sampled_from(["y", "z"]), scalars, max_size=2)),
                    max_size=2),
)
MAIN_KEYS = ["city", "age", "interests", "profile"]
ODD_KEYS = ["Plan", "note", 'we"ird', "a'b", "$", "$.x", "a'); DROP TABLE contacts;--", "x", "k\x00"]
keys = st.one_of(st.sampled_from(MAIN_KEYS), st.sampled_from(MAIN_KEYS), st.sampled_from(ODD_KEYS))
rule_keys = st.one_of(st.sampled_from([*MAIN_KEYS, "profile.city", "profile.x.y"]), st.sampled_from(MAIN_KEYS),
                      st.sampled_from([*ODD_KEYS, "profile.x", "$.x.y", "city.x"]))
TAGS = ["vip", "VIP", "Vip", "new", "Émile", "ÉMILE", "straße", "ǅ"]
SEGMENTS = ["s1", "s2"]
MESSAGES = ["m1", "m2"]
JOURNEYS = ["j1", "j2"]
EVENT_TYPES = ["order.placed", "page.viewed", "message.opened", "contact.deleted", "journey.node_entered",
               "message.bounced", "segment.entered", "contact.updated"]
WINDOWS = ["PT1H", "P1D", "P7D", "P30D", "P90D"]
# seconds before NOW: on, just inside and just outside the windows, and in the future
AGES = [0, 1e-6, 0.5, 1, 3600, 3600 + 1e-6, 3600 - 1e-6, DAY - 1e-6, DAY, DAY + 1e-6, 7 * DAY, 7 * DAY + 0.25,
        30 * DAY, 89 * DAY, 90 * DAY, 90 * DAY + 1, 400 * DAY, -60, -DAY]
ages = st.one_of(st.sampled_from(AGES), st.sampled_from(AGES), st.floats(-2 * DAY, 120 * DAY, allow_nan=False))
amounts = st.one_of(st.none(), st.integers(0, 99999).map(lambda c: f"{c // 100}.{c % 100:02d}"),
                    st.integers(0, 500), st.just("abc"))


# -- event scripts ----------------------------------------------------------------------------
@st.composite
def event_data(draw, kind: str) -> dict[str, Any]:
    if kind in ("contact.created", "contact.updated"):
        data = draw(st.dictionaries(keys, attribute_values, max_size=3))
        if draw(st.booleans()):
            data["tags"] = draw(st.lists(st.sampled_from(TAGS), max_size=2))
        return data
    if kind in ("contact.tagged", "contact.untagged"):
        return draw(st.one_of(st.fixed_dictionaries({"tag": st.sampled_from(TAGS)}),
                              st.fixed_dictionaries({"tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=3)})))
    if kind in ("contact.subscribed", "contact.unsubscribed"):
        return draw(st.one_of(st.just({}), st.fixed_dictionaries({"channel": st.sampled_from([*CHANNELS, "all"])})))
    if kind == "order.placed":
        return {"order_id": f"o{next(_serial)}", "amount": draw(amounts)}
    if kind in ("message.opened", "message.clicked"):
        data = {"message_id": draw(st.sampled_from([*MESSAGES, 5]))}
        if draw(st.booleans()):
            data["journey_id"] = draw(st.sampled_from(JOURNEYS))
        if draw(st.integers(0, 3)) == 0:
            data["user_agent"] = draw(nul_texts)
        return data
    if kind in ("message.bounced", "message.complained"):
        data = {"message_id": draw(st.sampled_from(MESSAGES))}
        if draw(st.booleans()):
            data["channel"] = draw(st.sampled_from(CHANNELS))
        if kind == "message.bounced" and draw(st.booleans()):
            data["bounce_type"] = draw(st.sampled_from(["hard", "soft"]))
        return data
    if kind in ("segment.entered", "segment.exited"):
        return {"segment_id": draw(st.sampled_from(SEGMENTS))}
    if kind == "journey.node_entered":
        return {"journey_id": "j1", "node_id": "n1"}
    return {}


KINDS = ["contact.created", "contact.updated", "contact.updated", "contact.updated", "contact.tagged",
         "contact.untagged", "contact.subscribed", "contact.unsubscribed", "order.placed", "order.placed",
         "message.opened", "message.clicked", "message.bounced", "message.complained", "segment.entered",
         "segment.entered", "segment.exited", "contact.deleted", "contact.deleted", "page.viewed",
         "journey.node_entered"]


@st.composite
def scripts(draw) -> list[tuple[str, str, float, dict[str, Any], bool]]:
    """``(contact, type, seconds before NOW, data, in the neighbouring workspace)`` in log order."""
    steps = []
    for _ in range(draw(st.integers(1, 30))):
        kind = draw(st.sampled_from(KINDS))
        steps.append((draw(st.sampled_from(CONTACTS)), kind, draw(ages), draw(event_data(kind)),
                      draw(st.integers(0, 9)) == 0))
        if kind == "contact.deleted" and draw(st.booleans()):  # erased, then back with a new profile
            kind = draw(st.sampled_from(["contact.created", "contact.updated", "order.placed", "contact.tagged"]))
            steps.append((steps[-1][0], kind, draw(ages), draw(event_data(kind)), False))
    return steps


# -- rules ------------------------------------------------------------------------------------
def _variants(value: Any) -> list[Any]:
    """``value`` and spellings that may compare equal to it: other case, number <-> text."""
    if isinstance(value, str):
        found = [value, value.upper(), value.lower(), value.swapcase()]
        try:
            number = float(value)
            found += [number, int(number)] if number.is_integer() and abs(number) < 2**63 else [number]
        except (ValueError, OverflowError):
            pass
        return found
    if isinstance(value, bool):
        return [value, int(value), str(value).lower()]
    if isinstance(value, (int, float)):
        return [value, str(value), repr(float(value)), -value]
    return []


def _seen(script) -> tuple[list[str], list[Any], list[float]]:
    """Attribute paths, attribute values (and their variants) and order times of a script."""
    paths: set[str] = set()
    values: list[Any] = []
    times: list[float] = []

    def walk(prefix: str, value: Any) -> None:
        paths.add(prefix)
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}", item)
        elif isinstance(value, list):
            for item in value:
                values.extend(_variants(item))
        else:
            values.extend(_variants(value))

    for _, kind, age, data, _ in script:
        if kind in ("contact.created", "contact.updated"):
            for key, value in data.items():
                if key != "tags":
                    walk(key, value)
        elif kind == "order.placed":
            times.append(parse_time(iso_from_epoch(NOW - age)))  # the order's epoch seconds
    good = [v for v in values if not (isinstance(v, str) and "\x00" in v)]
    return sorted(p for p in paths if "\x00" not in p), good, times


def _within(rule: dict[str, Any], window: str | None) -> dict[str, Any]:
    return rule if window is None else {**rule, "within": window}


@st.composite
def rules_for(draw, script) -> dict[str, Any]:
    """A rule nesting every kind, whose names and values come mostly from ``script``."""
    paths, seen_values, order_times = _seen(script)
    types = sorted({kind for _, kind, _, _, _ in script})
    event_types = st.one_of(st.sampled_from(types), st.sampled_from(EVENT_TYPES))
    seen_paths = st.sampled_from(paths) if paths else rule_keys
    values = st.one_of(st.sampled_from(seen_values), rule_scalars) if seen_values else rule_scalars
    instants = st.one_of(ages.map(lambda a: NOW - a), *(
        [st.sampled_from(order_times).flatmap(lambda t: st.sampled_from([t, t - 1e-6, t + 1e-6, t + 0.4e-6]))]
        if order_times else []))

    @st.composite
    def attr_rules(draw) -> dict[str, Any]:
        rule: dict[str, Any] = {"attr": draw(st.one_of(seen_paths, seen_paths, rule_keys)),
                                "op": draw(st.sampled_from(OPS))}
        if rule["op"] == "in":
            rule["value"] = draw(st.lists(values, max_size=3))
        elif rule["op"] != "exists" or draw(st.booleans()):
            rule["value"] = draw(values)
        return rule

    @st.composite
    def metric_rules(draw) -> dict[str, Any]:
        name = draw(st.sampled_from(["lifetime_value", "order_count", "last_order_at"]))
        op = draw(st.sampled_from([o for o in OPS if o != "contains"]))
        rule: dict[str, Any] = {"metric": name, "op": op}
        number = st.one_of(st.sampled_from([0, 1, 2, 3, 25, 59.9, 100, "59.90", "0", "2"]),
                           st.floats(-10, 2000, allow_nan=False))
        if name == "last_order_at":
            number = st.one_of(instants, instants.map(iso_from_epoch), st.sampled_from(WINDOWS))
        if op == "in":
            rule["value"] = draw(st.lists(instants if name == "last_order_at" else number, max_size=3))
        elif op != "exists" or draw(st.booleans()):
            rule["value"] = draw(number)
        return rule

    windows = st.one_of(st.none(), st.sampled_from(WINDOWS))
    counts = st.builds(lambda op, n: {op: n}, st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]),
                       st.integers(-1, 3))
    leaves = st.one_of(
        attr_rules(), attr_rules(), attr_rules(),
        st.builds(lambda t: {"tag": t}, st.sampled_from([*TAGS, "nope"])),
        st.builds(lambda c: {"subscribed": c}, st.sampled_from(CHANNELS)),
        st.builds(lambda t, c, w: _within({"event": t, **({"count": c} if c else {})}, w),
                  event_types, st.one_of(st.none(), counts), windows),
        metric_rules(),
        st.builds(lambda s: {"segment": s}, st.sampled_from([*SEGMENTS, "s3"])),
        st.builds(lambda kind, m, j, w: _within({"engaged": kind, **m, **j}, w),
                  st.sampled_from(["opened", "clicked"]),
                  st.one_of(st.just({}), st.sampled_from(MESSAGES).map(lambda m: {"message": m})),
                  st.one_of(st.just({}), st.sampled_from(JOURNEYS).map(lambda j: {"journey": j})), windows),
    )
    return draw(st.recursive(leaves, lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda rs: {"all": rs}),
        st.lists(inner, max_size=3).map(lambda rs: {"any": rs}),
        inner.map(lambda r: {"not": r}),
    ), max_leaves=5))


nows = st.sampled_from([NOW, NOW + 1e-7, NOW + 0.4e-6, NOW - 0.6e-6, NOW + 0.5])


# -- the two sides ----------------------------------------------------------------------------
def envelopes(script, workspace: str) -> list[dict[str, Any]]:
    return [{"id": f"ev-{next(_serial)}", "type": kind, "workspace": f"{workspace}x" if elsewhere else workspace,
             "contact_id": contact, "occurred_at": iso_from_epoch(NOW - age), "received_at": iso_from_epoch(NOW),
             "source": "api", "data": data}
            for contact, kind, age, data, elsewhere in script]


def expected_members(events: list[dict[str, Any]], workspace: str, rule: dict[str, Any], now: float) -> set[str]:
    """The fold's answer: contacts with a read-model row, not erased, that satisfy the rule."""
    states = {cid: new_contact(cid, workspace) for cid in CONTACTS}
    has_row = dict.fromkeys(CONTACTS, False)
    for event in events:
        if event["workspace"] != workspace:
            continue
        cid = event["contact_id"]
        states[cid] = apply_event(states[cid], event)
        if event["type"] == "contact.deleted":
            has_row[cid] = False
        elif not event["type"].startswith(_NO_CONTACT_ROW):
            has_row[cid] = True
    return {cid for cid, state in states.items()
            if has_row[cid] and not state.get("deleted") and evaluate(rule, state, now)}


@pytest.fixture
def sqlite_model():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    schema.create(conn)
    position = itertools.count(1)

    def project(events):
        conn.execute("BEGIN")
        for event in events:
            handlers.apply(conn, next(position), event)
        conn.execute("COMMIT")

    yield conn, project
    conn.close()


@pytest.fixture
def postgres_model(pg_schema):
    from projections.postgres import PgReadModel
    from tests.support import PG

    model = PgReadModel(PG, pg_schema)
    position = itertools.count(1)

    def project(events):
        with model.db.transaction():
            for event in events:
                handlers.apply(model.db, next(position), event)

    yield model.db, project
    model.close()


def valid(rule: dict[str, Any]) -> bool:
    try:
        parse_rule(rule)
    except RuleError:
        return False
    return True


def check(conn, dialect: str, project, data) -> None:
    """One script, projected once, against several rules."""
    script = data.draw(scripts(), label="script")
    now = data.draw(nows, label="now")
    workspace = f"w{next(_serial)}"
    events = envelopes(script, workspace)
    project(events)
    rows = {e["contact_id"] for e in events if e["workspace"] == workspace}
    if any("\\u0000" in json.dumps(e["data"]) for e in events):
        tally("a NUL character in the data")
    rules = rules_for(script).filter(valid)
    for i in range(RULES_PER_SCRIPT):
        rule = data.draw(rules, label=f"rule {i}")
        expected = expected_members(events, workspace, rule, now)
        tally("members: none" if not expected else "members: all" if expected == rows else "members: some")
        members = segment_sql.sample_members(conn, rule, workspace, now, dialect, limit=100)
        assert set(members) == expected, rule
        assert members == sorted(members)
        if i == 0:
            assert segment_sql.count_members(conn, rule, workspace, now, dialect) == len(expected)


@SETTINGS
@given(data=st.data())
def test_sqlite_selects_what_the_evaluator_selects(sqlite_model, data):
    conn, project = sqlite_model
    check(conn, "sqlite", project, data)


@SETTINGS
@given(data=st.data())
def test_postgres_selects_what_the_evaluator_selects(postgres_model, data):
    conn, project = postgres_model
    check(conn, "postgres", project, data)
