"""Attribute rules (``{"attr": ..., "op": ..., "value": ...}``) in SQL, and ``Q``, the piece of
SQL with its parameters that ``projections.segment_sql`` builds statements from.

``attribute(rule, dialect)`` holds exactly when ``journeys.rules.compare(lookup(attributes,
name), op, value)`` does for the ``contacts c`` row:

- PostgreSQL compares in SQL on the JSON text of the value
  (``(c.attributes::json -> ?)::text``, NULL when absent): its first character tells the
  JSON type, a number's text is how the projector (orjson) wrote it, a text is decoded
  with ``#>> '{}'``, texts and numbers are cast only where their form allows it. Case is
  folded with ``lower(... COLLATE "C")`` (A-Z only) and texts order in byte order, as
  ``journeys.rules`` does.
- SQLite calls ``switchback_attr`` (``sqlite_attribute``, registered by
  ``segment_sql.prepare``): SQLite 3.40's JSON functions round some decimals differently
  from Python (``'9.346692'``) and drop what follows a NUL character, so the comparison is
  ``journeys.rules.compare`` itself.

Both first look for texts the row's JSON must contain for the rule to hold (the key
``"city":``, the value ``"berlin"`` for an equality), which skips most rows cheaply.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import orjson

from journeys.rules import as_text, compare, fold, lookup, never_compares, numeric

__all__ = ["FALSE", "OPERATORS", "Q", "TRUE", "all_of", "any_of", "attribute", "const", "json_text", "negate",
           "sqlite_attribute"]

TRUE, FALSE = "(1 = 1)", "(1 = 0)"
OPERATORS = {"eq": "=", "ne": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_NUMERIC_STRING = r'^"-?(0|[1-9][0-9]*)(\.[0-9]+)?"$'  # journeys.rules: a text that is a number
# PostgreSQL cannot turn the JSON escape of the NUL character into text (``->`` fails on a
# document holding one anywhere): before parsing, such escapes become ``\uffff``, which
# orjson never writes (it writes every character from U+0020 as it is), and a text whose
# JSON holds that escape is a NUL text (``journeys.rules``: never compares).
_NUL_MARK = r"(^|[^\\])(\\\\)*\\uffff"
WITHOUT_NUL = (r"(CASE WHEN strpos({0}, '\u0000') = 0 THEN {0}"
               r" ELSE regexp_replace({0}, '(?<!\\)((\\\\)*)\\u0000', '\1\\uffff', 'g') END)")
_DIGITS = "('-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9')"


class Q:
    """A piece of SQL and its parameters, in order (``+`` joins pieces and plain text)."""

    __slots__ = ("text", "params")

    def __init__(self, text: str = "", params: list[Any] | tuple[Any, ...] = ()) -> None:
        self.text, self.params = text, list(params)

    def __add__(self, other: Q | str) -> Q:
        other = other if isinstance(other, Q) else Q(other)
        return Q(self.text + other.text, self.params + other.params)

    def __radd__(self, other: str) -> Q:
        return Q(other) + self


def _join(separator: str, pieces: list[Q], empty: str) -> Q:
    if not pieces:
        return Q(empty)
    out = Q("(")
    for i, piece in enumerate(pieces):
        out = out + (separator if i else "") + piece
    return out + ")"


def any_of(pieces: list[Q]) -> Q:
    return _join(" OR ", pieces, FALSE)


def all_of(pieces: list[Q]) -> Q:
    return _join(" AND ", pieces, TRUE)


def const(value: bool) -> Q:
    return Q(TRUE if value else FALSE)


def negate(piece: Q) -> Q:
    return "(NOT " + piece + ")"


def json_text(value: Any) -> str:
    """The JSON the projector writes for ``value`` (orjson)."""
    return orjson.dumps(value).decode()


def _coalesce(q: Q) -> Q:
    return "COALESCE(" + q + ", FALSE)"


# -- the rule -----------------------------------------------------------------------------------
def attribute(rule: dict[str, Any], dialect: str) -> Q:
    """The SQL of an (already checked) attribute rule over ``contacts c``."""
    path, op, value = rule["attr"], rule.get("op", "eq"), rule.get("value")
    find = "strpos" if dialect == "postgres" else "instr"
    if dialect == "postgres":
        exact = _pg_attribute(path, op, value)
    else:
        exact = Q("switchback_attr(c.attributes, ?, ?, ?)", [path, op, json.dumps(value) if "value" in rule else None])
    key_present = Q(f"{find}(c.attributes, ?) > 0", [json_text(path.split(".")[-1]) + ":"])
    if compare(None, op, value):  # true when absent: no need to read the JSON then
        return any_of([negate(key_present), exact])
    needles = _value_needles(op, value)
    pieces = [key_present]
    if needles:
        pieces.append(any_of([Q(f"{find}(lower(c.attributes), ?) > 0", [n]) for n in sorted(needles)]))
    return all_of([*pieces, exact])


def _value_needles(op: str, value: Any) -> set[str]:
    """Texts of which one appears in the lower-cased JSON of the attributes whenever the
    comparison can hold (empty: no such text)."""
    values = value if op == "in" else [value]
    if op not in ("eq", "in", "contains") or not values:
        return set()
    needles: set[str] = set()
    for v in values:
        if not isinstance(v, str) or never_compares(v) or numeric(v) is not None:
            return set()  # numbers match in many spellings; booleans match 1 and 0
        folded = fold(v)
        if op == "contains":
            needles.add(json_text(folded)[1:-1])
        else:
            needles.add(json_text(folded))  # the text itself, quoted
            if _looks_numeric(folded):
                needles.add(folded)  # a JSON number written this way
    return {n for n in needles if n}


def _looks_numeric(text: str) -> bool:
    """Could ``text`` be how JSON writes a number (``1e+16``)?"""
    return _JSON_NUMBER.fullmatch(text) is not None


# -- SQLite: the comparison as a function ------------------------------------------------------
@lru_cache(maxsize=16)
def _attributes(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}


@lru_cache(maxsize=1024)
def _rule_value(text: str) -> Any:
    return json.loads(text)


def sqlite_attribute(attributes: str | None, path: str, op: str, value: str | None) -> int:
    """``switchback_attr(c.attributes, name, op, value as JSON)``: 1 when the rule holds."""
    actual = lookup(_attributes(attributes or "{}"), path)
    return int(compare(actual, op, None if value is None else _rule_value(value)))


# -- PostgreSQL: comparisons on the value's JSON text ``t`` (NULL when absent) -----------------
def _pg_attribute(path: str, op: str, value: Any) -> Q:
    parts = path.split(".")
    t = Q(f"(({WITHOUT_NUL.format('c.attributes')}::json)" + " -> CAST(? AS TEXT)" * len(parts) + ")::text", parts)
    if op == "exists":
        present = "(" + t + " IS NOT NULL AND " + t + " NOT IN ('null', '\"\"'))"
        return present if compare(0, op, value) else negate(present)
    if op == "ne":
        return negate(_coalesce(_pg_eq(t, value)))
    if op == "eq":
        return _coalesce(_pg_eq(t, value))
    if op == "in":
        return _coalesce(any_of([_pg_eq(t, v) for v in value]))
    if op == "contains":
        return _coalesce(_pg_contains(t, value))
    return _coalesce(_pg_order(t, op, value))


def _pg_json_number(t: Q) -> Q:
    """The value of a JSON number (not of a text), else NULL."""
    return "(CASE WHEN left(" + t + f", 1) IN {_DIGITS} THEN (" + t + ")::float8 END)"


def _pg_number(t: Q) -> Q:
    """The number the value compares as: a JSON number, or a text that is a number."""
    return ("(CASE WHEN left(" + t + f", 1) IN {_DIGITS} THEN (" + t + ")::float8"
            " WHEN length(" + t + ") <= 42 AND " + t + Q(" ~ CAST(? AS TEXT)", [_NUMERIC_STRING])
            + " THEN substr(" + t + ", 2, length(" + t + ") - 2)::float8 END)")


def _pg_string(t: Q) -> Q:
    """The text of a JSON string value, NULL for other values and texts with a NUL character."""
    return ("(CASE WHEN left(" + t + ", 1) = '\"' AND (strpos(" + t + ", '\\uffff') = 0"
            + " OR " + t + Q(" !~ CAST(? AS TEXT))", [_NUL_MARK]) + " THEN (" + t + "::json #>> '{}') END)")


def _pg_text(t: Q) -> Q:
    """The value written as text (``journeys.rules.as_text``), NULL for lists, objects, NUL texts."""
    return ("(CASE WHEN left(" + t + ", 1) = '\"' THEN " + _pg_string(t) + " WHEN left(" + t + f", 1) IN {_DIGITS}"
            " THEN " + t + " WHEN " + t + " = 'true' THEN 'True' WHEN " + t + " = 'false' THEN 'False' END)")


def _pg_eq(t: Q, expected: Any) -> Q:
    """``journeys.rules._eq(value, expected)``; NULL or FALSE when it does not hold."""
    if isinstance(expected, bool):
        number = "1" if expected else "0"
        return any_of([Q(f"{t.text} = '{'true' if expected else 'false'}'", t.params),
                       _pg_json_number(t) + f" = {number}"])
    if never_compares(expected):
        return Q(FALSE)
    number = numeric(expected)
    if number is None:  # a text that is not a number: texts (and JSON numbers written so) equal it
        spellings = [json_text(fold(expected))] + ([fold(expected)] if _looks_numeric(fold(expected)) else [])
        return "lower(" + t + ' COLLATE "C") IN (' + Q(", ".join("?" * len(spellings)), spellings) + ")"
    pieces = [_pg_number(t) + Q(" = CAST(? AS DOUBLE PRECISION)", [number])]
    written = as_text(expected)
    if numeric(written) is None:  # e.g. 1e16, written "1e+16": a text may spell it so
        pieces.append("lower(" + _pg_string(t) + Q(' COLLATE "C") = ?', [fold(written)]))
    if not isinstance(expected, str) and number in (0.0, 1.0):  # True == 1, False == 0
        pieces.append(Q(f"{t.text} = '{'true' if number else 'false'}'", t.params))
    return any_of(pieces)


def _pg_order(t: Q, op: str, expected: Any) -> Q:
    """``lt``/``lte``/``gt``/``gte``: numbers numerically, otherwise as text in code point order."""
    if never_compares(expected):
        return Q(FALSE)
    sql_op = OPERATORS[op]
    as_sql_text = "(" + _pg_text(t) + Q(f' COLLATE "C" {sql_op} CAST(? AS TEXT))', [as_text(expected)])
    number = numeric(expected)
    if number is None:
        return as_sql_text
    as_number = "(" + _pg_number(t) + Q(f" {sql_op} CAST(? AS DOUBLE PRECISION))", [number])
    return "COALESCE(" + as_number + ", " + as_sql_text + ")"  # text only when the value is no number


def _pg_contains(t: Q, expected: Any) -> Q:
    """A list holds an item equal to ``expected``; any other value's text holds its text."""
    items = ("(left(" + t + ", 1) = '[' AND EXISTS (SELECT 1 FROM json_array_elements(CASE WHEN left(" + t
             + ", 1) = '[' THEN (" + t + ")::json END) AS item(v) WHERE "
             + _coalesce(_pg_eq(Q("(item.v::text)"), expected)) + "))")
    if never_compares(expected):
        return items
    within = "strpos(lower(" + _pg_text(t) + Q(' COLLATE "C"), ?) > 0', [fold(as_text(expected))])
    return any_of([items, within])
