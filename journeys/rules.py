"""Segment rules: one JSON language, read by branches, entry filters, exit rules and segments.

Grammar (docs/segments.md)::

    {"all": [rule, ...]}   {"any": [rule, ...]}   {"not": rule}
    {"attr": "city", "op": "eq|ne|lt|lte|gt|gte|in|contains|exists", "value": ...}
    {"tag": "vip"}
    {"subscribed": "email|sms|whatsapp"}
    {"event": "order.placed", "count": {"gte": 2}, "within": "P90D"}
    {"metric": "lifetime_value|order_count|last_order_at", "op": ..., "value": ...}
    {"segment": "seg_id"}
    {"engaged": "opened|clicked", "message": id | "journey": id, "within": "P30D"}
    {"property": "data.amount", "op": ..., "value": ...}   (the triggering event; entry filters)

``parse_rule`` checks a rule and names the path of the first problem; ``evaluate`` is
the in-memory evaluator over a contact state from ``journeys.contact``. For
``last_order_at`` a duration value such as ``"P90D"`` means "that long before now".

Comparisons (``compare``) are defined so that the SQL evaluation of
``projections.segment_sql`` gives the same answers on SQLite and PostgreSQL:

- numbers compare numerically when both sides are numbers; a text counts as a number when
  it is a plain decimal of at most 40 characters (``"59.90"``, ``"-3"``; not ``" 7"``,
  ``"1e5"``, ``"007"``, ``"1_000"``, ``"nan"``);
- otherwise both sides compare as text: equality and ``contains`` ignore the case of the
  ASCII letters A-Z only, ``lt``/``gt`` order by code point; a number is written as in
  JSON (``59.9``), a boolean as ``True``/``False``;
- booleans equal only booleans (and the numbers 1 and 0, as in Python);
- a list or object attribute, a text containing the NUL character and a ``null`` rule
  value never compare (``contains`` on a list compares each item); ``ne`` is then true.

Rule values are JSON scalars (``in`` takes a list of them): finite numbers, texts
without NUL characters; metric values are numbers (``last_order_at`` also takes an ISO
time or a duration).
"""

from __future__ import annotations

import math
import re
import string
from typing import Any

import orjson

from journeys.durations import DurationError, parse_duration
from journeys.events import CHANNELS, parse_time

OPS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "exists")
METRICS = ("lifetime_value", "order_count", "last_order_at")
_KINDS = ("all", "any", "not", "attr", "tag", "subscribed", "event", "metric", "segment", "engaged", "property")
# A text that compares as a number: a plain decimal, at most NUMERIC_TEXT characters.
NUMERIC_TEXT = 40
_NUMERIC = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


class RuleError(ValueError):
    """A rule is malformed; ``path`` points at the offending part (e.g. ``rule.all[1].op``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def parse_rule(rule: Any, path: str = "rule") -> dict[str, Any]:
    """Return ``rule`` unchanged if it is well formed, else raise ``RuleError``."""
    if not isinstance(rule, dict):
        raise RuleError(path, "a rule must be a JSON object such as {\"tag\": \"vip\"}")
    kinds = [k for k in _KINDS if k in rule]
    if len(kinds) != 1:
        raise RuleError(path, f"a rule needs exactly one of {', '.join(_KINDS)}")
    kind = kinds[0]
    if kind not in ("all", "any", "not"):
        _check_plain(rule, path)
    if kind in ("all", "any"):
        if not isinstance(rule[kind], list):
            raise RuleError(f"{path}.{kind}", "must be a list of rules")
        for i, sub in enumerate(rule[kind]):
            parse_rule(sub, f"{path}.{kind}[{i}]")
    elif kind == "not":
        parse_rule(rule["not"], f"{path}.not")
    elif kind in ("attr", "property", "metric"):
        if kind == "metric" and rule["metric"] not in METRICS:
            raise RuleError(f"{path}.metric", f"must be one of {', '.join(METRICS)}")
        if not isinstance(rule[kind], str) or not rule[kind]:
            raise RuleError(f"{path}.{kind}", "must be a non-empty name")
        op = rule.get("op", "eq")
        if op not in OPS:
            raise RuleError(f"{path}.op", f"{op!r} is not one of {', '.join(OPS)}")
        if op != "exists" and "value" not in rule:
            raise RuleError(f"{path}.value", "is required for this operator")
        if op == "in" and not isinstance(rule["value"], list):
            raise RuleError(f"{path}.value", "must be a list for 'in'")
        if kind == "metric":
            _check_metric(rule, op, path)
    elif kind in ("tag", "segment", "event"):
        if not isinstance(rule[kind], str) or not rule[kind]:
            raise RuleError(f"{path}.{kind}", "must be a non-empty string")
    elif kind == "subscribed" and rule["subscribed"] not in CHANNELS:
        raise RuleError(f"{path}.subscribed", f"must be one of {', '.join(CHANNELS)}")
    elif kind == "engaged":
        if rule["engaged"] not in ("opened", "clicked"):
            raise RuleError(f"{path}.engaged", "must be 'opened' or 'clicked'")
        for key in ("message", "journey"):
            if key in rule and (not isinstance(rule[key], str) or not rule[key]):
                raise RuleError(f"{path}.{key}", "must be a non-empty string (a message or journey id)")
    if kind == "event":
        count = rule.get("count", {"gte": 1})
        if not isinstance(count, dict) or len(count) != 1 or next(iter(count)) not in OPS[:6]:
            raise RuleError(f"{path}.count", "must be one comparison such as {\"gte\": 2}")
        if not isinstance(next(iter(count.values())), int) or isinstance(next(iter(count.values())), bool):
            raise RuleError(f"{path}.count", "must compare with a whole number")
    if "within" in rule:
        try:
            parse_duration(rule["within"])
        except DurationError as exc:
            raise RuleError(f"{path}.within", str(exc)) from None
    return rule


def _check_plain(value: Any, path: str) -> None:
    """Rule texts hold no NUL character; rule numbers are finite (both as SQL parameters)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise RuleError(path, "text cannot contain the NUL character (U+0000)")
    elif isinstance(value, float) and not math.isfinite(value):
        raise RuleError(path, "must be a finite number")
    elif isinstance(value, int) and not isinstance(value, bool) and _number(value) is None:
        raise RuleError(path, "is too large a number")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_plain(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, path)
            _check_plain(item, f"{path}.{key}")


def _check_metric(rule: dict[str, Any], op: str, path: str) -> None:
    """Metrics are numbers: compare them with numbers (``last_order_at``: times, durations)."""
    if op == "contains":
        raise RuleError(f"{path}.op", "a metric is a number: use eq, ne, lt, lte, gt, gte, in or exists")
    if op == "exists":
        return
    value = rule["value"]
    if op == "in":
        for i, item in enumerate(value):
            if _number(item) is None:
                raise RuleError(f"{path}.value[{i}]", "must be a number")
        return
    if rule["metric"] == "last_order_at" and isinstance(value, str):
        try:
            parse_duration(value) if value.startswith("P") else parse_time(value)
        except (DurationError, ValueError) as exc:
            raise RuleError(f"{path}.value",
                            f"must be a duration such as 'P90D', an ISO time or a number ({exc})") from None
    elif _number(value) is None:
        raise RuleError(f"{path}.value", "must be a number")


def evaluate(rule: dict[str, Any], contact: dict[str, Any], now: float,
             event: dict[str, Any] | None = None) -> bool:
    """Does ``contact`` (and the triggering ``event``, for ``property``) satisfy ``rule``?"""
    if "all" in rule:
        return all(evaluate(r, contact, now, event) for r in rule["all"])
    if "any" in rule:
        return any(evaluate(r, contact, now, event) for r in rule["any"])
    if "not" in rule:
        return not evaluate(rule["not"], contact, now, event)
    if "attr" in rule:
        return compare(lookup(contact["attributes"], rule["attr"]), rule.get("op", "eq"), rule.get("value"))
    if "tag" in rule:
        return rule["tag"].lower() in contact["tags"]
    if "subscribed" in rule:
        channel = rule["subscribed"]
        return channel not in contact["unsubscribed"] and channel not in contact["suppressed"]
    if "segment" in rule:
        return rule["segment"] in contact["segments"]
    if "event" in rule:
        stamps = contact["events"].get(rule["event"], ())
        if "within" in rule:
            since = now - parse_duration(rule["within"]).total_seconds()
            count = sum(1 for t in stamps if t >= since)
        else:
            count = contact["totals"].get(rule["event"], 0)
        (op, value), = rule.get("count", {"gte": 1}).items()
        return compare(count, op, value)
    if "metric" in rule:
        return _metric(rule, contact, now)
    if "engaged" in rule:
        since = now - parse_duration(rule["within"]).total_seconds() if "within" in rule else float("-inf")
        return any(
            e["kind"] == rule["engaged"] and e["at"] >= since
            and ("message" not in rule or e.get("message_id") == rule["message"])
            and ("journey" not in rule or e.get("journey_id") == rule["journey"])
            for e in contact["engaged"]
        )
    if "property" in rule:
        return event is not None and compare(lookup(event, rule["property"]), rule.get("op", "eq"), rule.get("value"))
    raise RuleError("rule", "unknown rule kind")


def _metric(rule: dict[str, Any], contact: dict[str, Any], now: float) -> bool:
    name, op, value = rule["metric"], rule.get("op", "eq"), rule.get("value")
    actual = contact[name]
    if name == "last_order_at" and isinstance(value, str):
        value = now - parse_duration(value).total_seconds() if value.startswith("P") else parse_time(value)
    return compare(actual, op, value)


def lookup(obj: Any, path: str) -> Any:
    """Follow a dotted path (``data.cart_id``) through nested dicts; None if absent."""
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def compare(actual: Any, op: str, expected: Any) -> bool:
    """Compare with numeric coercion where both sides are numbers (``"59.90"`` counts)."""
    if op == "exists":
        present = actual is not None and actual != ""
        return present if expected is None else present == bool(expected)
    if actual is None:
        return op == "ne"
    if op == "in":
        return any(_eq(actual, v) for v in expected)
    if op == "contains":
        if isinstance(actual, list):
            return any(_eq(a, expected) for a in actual)
        if never_compares(actual) or never_compares(expected):
            return False
        return fold(as_text(expected)) in fold(as_text(actual))
    if op == "eq":
        return _eq(actual, expected)
    if op == "ne":
        return not _eq(actual, expected)
    if never_compares(actual) or never_compares(expected):
        return False
    left, right = _coerce(actual, expected)
    if op == "lt":
        return left < right
    if op == "lte":
        return left <= right
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    return False


def fold(text: str) -> str:
    """Case folding for comparisons: the ASCII letters A-Z only (as SQL ``lower`` everywhere)."""
    return text.translate(_ASCII_LOWER)


def numeric(value: Any) -> float | None:
    """The number a value compares as, or None (booleans and other texts are not numbers)."""
    return _number(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, float):
        return value
    if isinstance(value, str) and len(value) <= NUMERIC_TEXT and _NUMERIC.fullmatch(value):
        return float(value)
    return None


def as_text(value: Any) -> str:
    """A value written as text for a text comparison (numbers as JSON writes them, booleans
    as ``True``/``False``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            return str(value)
    return str(value)


def never_compares(value: Any) -> bool:
    """Values that never compare (``contains`` on a list compares its items): null, lists,
    objects, texts with a NUL character."""
    return value is None or isinstance(value, (list, dict)) or (isinstance(value, str) and "\x00" in value)


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    na, nb = _number(a), _number(b)
    if na is not None and nb is not None:
        return na, nb
    return as_text(a), as_text(b)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if never_compares(a) or never_compares(b):
        return False
    left, right = _coerce(a, b)
    if isinstance(left, str):
        return fold(left) == fold(right)
    return left == right
