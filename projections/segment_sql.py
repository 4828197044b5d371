"""Segment rules as SQL over the read model: who is in a segment, counted by the database.

``compile_rule(rule, workspace=..., now=..., dialect="sqlite"|"postgres")`` turns a rule of
``journeys.rules`` into one boolean SQL expression over the ``contacts`` row ``c`` (with
subqueries on the other read-model tables) and its parameters. It has the meaning of
``journeys.rules.evaluate`` on the contact's folded state (``journeys.contact``);
``tests/projections/test_segment_sql_parity.py`` checks that on random contacts and rules.
The expression is meant for the contacts of ``workspace``: ``select_members_sql``,
``count_members`` and ``sample_members`` add that filter and leave out erased contacts.

Every name and value of a rule is a parameter (``?``, also on PostgreSQL, where
``projections.postgres.PgConnection`` translates the statement; for a raw psycopg
connection, pass the text through ``projections.pg_dialect.translate``).

Where each fact comes from:

- ``attr``: ``contacts.attributes`` (``projections.attribute_sql``). PostgreSQL compares the
  value's JSON text in SQL; on SQLite the comparison runs in the function
  ``switchback_attr`` that ``prepare(conn)`` registers (SQLite 3.40's JSON functions round
  some decimals differently from Python and cut texts at a NUL character).
- ``tag``: ``contact_tags`` (tags are stored lower-cased); ``segment``: open
  ``segment_membership`` rows, unless the contact was erased after entering.
- ``metric``: the ``contacts`` columns; ``last_order_at`` is ISO text, compared as text
  with the instant the rule names, rounded to the microsecond as ``parse_time`` rounds.
- ``event`` (counts, windows), ``engaged`` (message.opened/clicked with their
  ``message_id``/``journey_id``) and the suppression half of ``subscribed`` (hard bounces
  and complaints) read the ``events`` table, as the contact fold does; the consent half
  reads ``contacts.unsubscribed``. Events before a contact's last ``contact.deleted``
  do not count (erasure resets the fold); ``contact.deleted`` and ``journey.node_entered``
  are never counted.

``property`` rules read the triggering event and have no SQL form: ``RuleError``.
"""

from __future__ import annotations

import math
import sqlite3
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any, Literal

from journeys.contact import _NOT_RECORDED  # what the fold keeps no history of
from journeys.durations import parse_duration
from journeys.events import parse_time
from journeys.rules import RuleError, compare, numeric, parse_rule
from projections.attribute_sql import (FALSE, OPERATORS, TRUE, WITHOUT_NUL, Q, all_of, any_of, attribute, const,
                                       json_text, negate, sqlite_attribute)

__all__ = ["Dialect", "compile_rule", "count_members", "prepare", "sample_members", "select_members_sql"]

Dialect = Literal["sqlite", "postgres"]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_FIRST_US = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH) // _MICRO
_LAST_US = (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC) - _EPOCH) // _MICRO
# The fold keeps no history of these (an erasure starts the history again).
_NEVER_COUNTED = frozenset({*_NOT_RECORDED, "contact.deleted"})
_CHEAP_FIRST = {"tag": 0, "segment": 0, "metric": 0, "subscribed": 1, "attr": 2, "event": 3, "engaged": 3}


# -- the public functions ---------------------------------------------------------------
def compile_rule(rule: dict[str, Any], *, workspace: str, now: float, dialect: Dialect) -> tuple[str, list[Any]]:
    """A parameterized boolean SQL expression over ``contacts c``: ``evaluate(rule, contact, now)``."""
    if dialect not in ("sqlite", "postgres"):
        raise ValueError(f"dialect must be 'sqlite' or 'postgres', not {dialect!r}")
    parse_rule(rule)
    q = _Compiler(workspace, float(now), dialect).rule(rule, "rule")
    return q.text, q.params


def select_members_sql(rule: dict[str, Any], workspace: str, now: float, dialect: Dialect) -> tuple[str, list[Any]]:
    """``SELECT c.contact_id FROM contacts c WHERE ...``: the rule's members in ``workspace``
    (contacts with a profile, not erased), unordered; for ``INSERT ... SELECT`` or a count."""
    expression, params = compile_rule(rule, workspace=workspace, now=now, dialect=dialect)
    sql = f"SELECT c.contact_id FROM contacts c WHERE c.workspace = ? AND {_NOT_ERASED} AND {expression}"
    return sql, [workspace, *params]


def count_members(conn: Any, rule: dict[str, Any], workspace: str, now: float, dialect: Dialect) -> int:
    """How many contacts of ``workspace`` the rule selects now."""
    prepare(conn)
    sql, params = select_members_sql(rule, workspace, now, dialect)
    row = conn.execute(f"SELECT COUNT(*) FROM ({sql}) members", params).fetchone()
    return int(row[0])


def sample_members(conn: Any, rule: dict[str, Any], workspace: str, now: float, dialect: Dialect,
                   limit: int = 20) -> list[str]:
    """Up to ``limit`` member contact ids, in contact id order."""
    prepare(conn)
    sql, params = select_members_sql(rule, workspace, now, dialect)
    rows = conn.execute(f"{sql} ORDER BY c.contact_id LIMIT ?", [*params, int(limit)]).fetchall()
    return [row[0] for row in rows]


def prepare(conn: Any) -> None:
    """Register the SQL functions the SQLite form uses (``switchback_attr``) on a sqlite3
    connection; nothing to do for PostgreSQL. ``count_members``/``sample_members`` call it."""
    if isinstance(conn, sqlite3.Connection):
        conn.create_function("switchback_attr", 4, sqlite_attribute, deterministic=True)


# A contact erased and not created again since (a later order or tag recreates the row
# but not the profile: the fold keeps it ``deleted``).
_NOT_ERASED = (
    "NOT EXISTS (SELECT 1 FROM events x WHERE x.workspace = c.workspace AND x.contact_id = c.contact_id"
    " AND x.type = 'contact.deleted' AND NOT EXISTS (SELECT 1 FROM events y WHERE y.workspace = x.workspace"
    " AND y.contact_id = x.contact_id AND y.type IN ('contact.created', 'contact.updated')"
    " AND y.position > x.position))"
)


def _after_erasure(alias: str) -> str:
    """The event ``alias`` came after the contact's last erasure (the fold starts again there)."""
    return (f"NOT EXISTS (SELECT 1 FROM events d WHERE d.workspace = {alias}.workspace"
            f" AND d.contact_id = {alias}.contact_id AND d.type = 'contact.deleted'"
            f" AND d.position > {alias}.position)")


# -- time: ISO text against an instant ----------------------------------------------------
def _first_micro(threshold: float) -> int:
    """The first whole microsecond ``n`` whose epoch seconds as ``parse_time`` computes them
    (``n / 10**6``, rounded to a float) are at least ``threshold``."""
    n = math.ceil(Fraction(threshold) * 10**6)
    while (n - 1) / 10**6 >= threshold:
        n -= 1
    return n


def _at_or_after(column: str, threshold: float) -> Q:
    """``parse_time(column) >= threshold`` for ISO text as ``journeys.events`` writes it
    (``...T10:00:00Z`` or ``...T10:00:00.250000Z``); the column is not NULL."""
    if math.isnan(threshold) or threshold == math.inf:
        return Q(FALSE)
    if threshold == -math.inf:
        return Q(TRUE)
    n = _first_micro(threshold)
    if n <= _FIRST_US:
        return Q(TRUE)
    if n > _LAST_US:
        return Q(FALSE)
    instant = _EPOCH + n * _MICRO
    second = instant.replace(microsecond=0, tzinfo=None).isoformat()
    if instant.microsecond == 0:  # "...:05Z" and "...:05.xxxxxxZ" both sort after "...:05"
        return Q(f"{column} >= ?", [second])
    # "...:05.250000Z" and later sort at or after "...:05.250000"; "...:05Z" sorts there too
    # but is earlier
    return Q(f"({column} >= ? AND {column} <> ?)", [f"{second}.{instant.microsecond:06d}", f"{second}Z"])


def _time_compare(column: str, op: str, threshold: float) -> Q:
    """``parse_time(column) <op> threshold`` (numbers), for a column that is not NULL."""
    at_least = _at_or_after(column, threshold)
    beyond = _at_or_after(column, math.nextafter(threshold, math.inf))
    if op == "gte":
        return at_least
    if op == "gt":
        return beyond
    if op == "lt":
        return negate(at_least)
    if op == "lte":
        return negate(beyond)
    if op in ("eq", "ne"):
        equal = all_of([at_least, negate(beyond)])
        return equal if op == "eq" else negate(equal)
    raise AssertionError(op)


# -- the compiler ---------------------------------------------------------------------------
class _Compiler:
    def __init__(self, workspace: str, now: float, dialect: Dialect) -> None:
        self.workspace, self.now, self.dialect = workspace, now, dialect
        self.pg = dialect == "postgres"

    def rule(self, rule: dict[str, Any], path: str) -> Q:
        if "all" in rule:
            subs = sorted(enumerate(rule["all"]), key=lambda item: _cost(item[1]))
            return all_of([self.rule(sub, f"{path}.all[{i}]") for i, sub in subs])
        if "any" in rule:
            return any_of([self.rule(sub, f"{path}.any[{i}]") for i, sub in enumerate(rule["any"])])
        if "not" in rule:
            return negate(self.rule(rule["not"], f"{path}.not"))
        if "attr" in rule:
            return attribute(rule, self.dialect)
        if "tag" in rule:
            return Q("EXISTS (SELECT 1 FROM contact_tags t WHERE t.workspace = c.workspace"
                     " AND t.contact_id = c.contact_id AND t.tag = ?)", [rule["tag"].lower()])
        if "subscribed" in rule:
            return self.subscribed(rule["subscribed"])
        if "segment" in rule:
            return self.segment(rule["segment"])
        if "event" in rule:
            return self.event(rule)
        if "metric" in rule:
            return self.metric(rule)
        if "engaged" in rule:
            return self.engaged(rule)
        if "property" in rule:
            raise RuleError(f"{path}.property", "reads the triggering event (entry filters and branches);"
                            " a segment has none: use attr, event or metric")
        raise RuleError(path, "unknown rule kind")

    # -- helpers -------------------------------------------------------------------------
    def data_field(self, alias: str, key: str) -> str:
        """The JSON text of ``data.<key>`` of an events row (NULL when absent): the text
        ``orjson`` wrote, so it equals ``orjson.dumps(value)`` exactly."""
        if self.pg:
            return f"(({WITHOUT_NUL.format(alias + '.data')}::json) -> '{key}')::text"
        return f"({alias}.data -> '$.{key}')"

    def since(self, rule: dict[str, Any], column: str) -> Q:
        if "within" not in rule:
            return Q(TRUE)
        return _at_or_after(column, self.now - parse_duration(rule["within"]).total_seconds())

    # -- subscribed, segment, engaged, event --------------------------------------------------
    def subscribed(self, channel: str) -> Q:
        if self.pg:
            consent = Q(f"NOT (({WITHOUT_NUL.format('c.unsubscribed')}::jsonb)"
                        " @> jsonb_build_array(CAST(? AS TEXT)))", [channel])
        else:
            consent = Q("NOT EXISTS (SELECT 1 FROM json_each(c.unsubscribed) u WHERE u.value = ?)", [channel])
        suppressed = Q(
            "EXISTS (SELECT 1 FROM events e WHERE e.workspace = c.workspace AND e.contact_id = c.contact_id"
            " AND e.type IN ('message.bounced', 'message.complained')"
            f" AND COALESCE({self.data_field('e', 'channel')}, '\"email\"') = ?"
            f" AND (e.type = 'message.complained' OR COALESCE({self.data_field('e', 'bounce_type')}, '\"hard\"')"
            f" = '\"hard\"') AND {_after_erasure('e')})", [json_text(channel)])
        return all_of([consent, negate(suppressed)])

    def segment(self, segment_id: str) -> Q:
        stay = Q("EXISTS (SELECT 1 FROM segment_membership m WHERE m.workspace = c.workspace"
                 " AND m.segment_id = ? AND m.contact_id = c.contact_id AND m.exited_at IS NULL)", [segment_id])
        # membership rows stay when a contact is erased; the fold forgets them
        erased = Q("EXISTS (SELECT 1 FROM events d WHERE d.workspace = c.workspace AND d.contact_id = c.contact_id"
                   " AND d.type = 'contact.deleted' AND NOT EXISTS (SELECT 1 FROM events s"
                   " WHERE s.workspace = d.workspace AND s.contact_id = d.contact_id AND s.type = 'segment.entered'"
                   f" AND s.position > d.position AND {self.data_field('s', 'segment_id')} = ?))",
                   [json_text(segment_id)])
        return all_of([stay, negate(erased)])

    def engaged(self, rule: dict[str, Any]) -> Q:
        q = Q("EXISTS (SELECT 1 FROM events e WHERE e.workspace = c.workspace AND e.contact_id = c.contact_id"
              " AND e.type = ? AND ", [f"message.{rule['engaged']}"]) + self.since(rule, "e.occurred_at")
        for key, field in (("message", "message_id"), ("journey", "journey_id")):
            if key in rule:
                q = q + Q(f" AND {self.data_field('e', field)} = ?", [json_text(rule[key])])
        return q + f" AND {_after_erasure('e')})"

    def event(self, rule: dict[str, Any]) -> Q:
        (op, value), = rule.get("count", {"gte": 1}).items()
        probe = sorted({k for k in (0, 1, 2, value - 1, value, value + 1, value + 2, 10**12) if k >= 0})
        truth = {k: compare(k, op, value) for k in probe}
        if rule["event"] in _NEVER_COUNTED or len(set(truth.values())) == 1:
            return const(truth[0])  # the fold never counts it, or every count gives the same answer
        matching = Q("SELECT e.contact_id FROM events e WHERE e.workspace = ? AND e.contact_id IS NOT NULL"
                     " AND e.type = ? AND ", [self.workspace, rule["event"]]) + self.since(rule, "e.occurred_at") \
            + f" AND {_after_erasure('e')}"
        if not truth[0] and all(truth[k] for k in probe if k):  # "at least one"
            return self.contact_in(matching)
        if truth[0] and not any(truth[k] for k in probe if k):  # "none"
            return negate(self.contact_in(matching))
        having = "COUNT(*) " + OPERATORS[op] + (" CAST(? AS BIGINT)" if self.pg else " ?")
        if not truth[0]:
            return self.contact_in(matching + Q(f" GROUP BY e.contact_id HAVING {having}", [value]))
        return negate(self.contact_in(matching + Q(f" GROUP BY e.contact_id HAVING NOT ({having})", [value])))

    def contact_in(self, select: Q) -> Q:
        """``c`` is one of the contacts ``select`` lists (one column, ``contact_id``)."""
        if self.pg:  # a semi-join (or anti-join under NOT) for the planner
            return "EXISTS (SELECT 1 FROM (" + select + ") g WHERE g.contact_id = c.contact_id)"
        return "c.contact_id IN (" + select + ")"  # SQLite builds the list once

    # -- metrics --------------------------------------------------------------------------
    def metric(self, rule: dict[str, Any]) -> Q:
        name, op, value = rule["metric"], rule.get("op", "eq"), rule.get("value")
        column = f"c.{name}"
        if name != "last_order_at":
            if op == "exists":
                return const(compare(0, op, value))  # never missing
            cast = "CAST(? AS DOUBLE PRECISION)" if self.pg else "CAST(? AS REAL)"
            values = value if op == "in" else [value]
            sql_op = "=" if op == "in" else OPERATORS[op]
            return any_of([Q(f"{column} {sql_op} {cast}", [numeric(v)]) for v in values])
        if op == "exists":
            return Q(f"{column} IS NOT NULL") if compare(0, op, value) else Q(f"{column} IS NULL")
        if op == "in":
            comparisons = [_time_compare(column, "eq", numeric(v)) for v in value]
            return all_of([Q(f"{column} IS NOT NULL"), any_of(comparisons)])
        if isinstance(value, str):
            value = self.now - parse_duration(value).total_seconds() if value.startswith("P") else parse_time(value)
        comparison = _time_compare(column, "eq" if op == "ne" else op, numeric(value))
        if op == "ne":
            return any_of([Q(f"{column} IS NULL"), negate(comparison)])
        return all_of([Q(f"{column} IS NOT NULL"), comparison])

def _cost(rule: dict[str, Any]) -> int:
    """Cheap conditions first inside ``all`` (the order does not change the answer)."""
    return next((rank for kind, rank in _CHEAP_FIRST.items() if kind in rule), 4)


