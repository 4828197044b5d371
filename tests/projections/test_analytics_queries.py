"""The ten example queries of docs/analytics.md, read from the document itself, run on a
seeded read model: SQLite with the expected answers, and PostgreSQL with the same ones."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from tests.support import ROOT

DOC = ROOT / "docs" / "analytics.md"


def doc_queries() -> dict[int, str]:
    text = DOC.read_text(encoding="utf-8")
    found = re.findall(r"^### (\d+)\. .*?\n+```sql\n(.*?)```", text, flags=re.M | re.S)
    return {int(n): sql.strip().rstrip(";") for n, sql in found}


def seed(ev) -> list[dict]:
    """Two journeys, a broadcast, orders (attributed or not), a segment's history, offers."""
    events = []

    def add(kind, cid, at, source="api", /, **data):
        events.append(ev(kind, cid, at=at, workspace="default", source=source, **data))

    def message(mid, cid, day, *, journey=None, node=None, broadcast=None, channel="email", steps=()):
        add("message.queued", cid, f"2026-01-{day}T08:00:00Z", "engine", message_id=mid, journey_id=journey,
            node_id=node, broadcast_id=broadcast, version=1 if journey else None, channel=channel, template="t")
        for status, at in steps:
            add(f"message.{status}", cid, at, "ses", message_id=mid, reason="invalid number" if status == "failed"
                else None)

    for cid in ("ann", "bob", "cat", "dan", "eve"):
        add("contact.created", cid, "2025-12-01T00:00:00Z", email=f"{cid}@example.com")
    sent = [("sent", "2026-01-01T08:01:00Z")]
    message("w-ann", "ann", "01", journey="welcome", node="s1", steps=[
        *sent, ("delivered", "2026-01-01T08:02:00Z"), ("opened", "2026-01-01T12:00:00Z"),
        ("clicked", "2026-01-01T12:05:00Z")])
    message("w-bob", "bob", "01", journey="welcome", node="s1", steps=[
        *sent, ("delivered", "2026-01-01T08:02:00Z"), ("opened", "2026-01-02T09:00:00Z")])
    message("w-cat", "cat", "01", journey="welcome", node="s1", steps=[*sent, ("bounced", "2026-01-01T08:03:00Z")])
    add("message.suppressed", "eve", "2026-01-01T08:00:00Z", "engine", message_id="w-eve", journey_id="welcome",
        node_id="s1", version=1, channel="email", reason="unsubscribed")
    add("order.placed", "ann", "2026-01-02T10:00:00Z", order_id="o1", amount="49.90", currency="EUR")
    message("c-dan", "dan", "03", journey="cart", node="s2", steps=[
        ("sent", "2026-01-03T08:01:00Z"), ("delivered", "2026-01-03T08:02:00Z"), ("opened", "2026-01-03T09:00:00Z"),
        ("clicked", "2026-01-03T09:05:00Z")])
    message("c-cat", "cat", "03", journey="cart", node="s2", channel="sms", steps=[("failed", "2026-01-03T08:01:00Z")])
    add("order.placed", "dan", "2026-01-03T10:00:00Z", order_id="o2", amount="20", currency="EUR")
    on_4th = [("sent", "2026-01-04T08:01:00Z"), ("delivered", "2026-01-04T08:02:00Z")]
    message("b-ann", "ann", "04", broadcast="spring", steps=[*on_4th, ("complained", "2026-01-04T11:00:00Z")])
    message("b-bob", "bob", "04", broadcast="spring", steps=[
        *on_4th, ("opened", "2026-01-04T10:00:00Z"), ("clicked", "2026-01-04T10:05:00Z")])
    add("order.placed", "bob", "2026-01-04T12:00:00Z", order_id="o3", amount="15.50", currency="EUR")
    add("order.placed", "cat", "2026-01-05T12:00:00Z", order_id="o4", amount="30", currency="USD")
    add("order.placed", "ann", "2026-01-20T10:00:00Z", order_id="o5", amount="10", currency="EUR")
    for kind, cid, at in [("entered", "ann", "2026-01-01T09:00:00Z"), ("entered", "bob", "2026-01-02T09:00:00Z"),
                          ("exited", "ann", "2026-01-03T09:00:00Z"), ("entered", "cat", "2026-01-03T10:00:00Z"),
                          ("entered", "dan", "2026-01-04T09:00:00Z"), ("entered", "ann", "2026-01-05T09:00:00Z"),
                          ("exited", "dan", "2026-01-06T09:00:00Z")]:
        add(f"segment.{kind}", cid, at, "engine", segment_id="vip")
    for offer_id, cid, campaign, uses in [("of-ann", "ann", "welcome", 1), ("of-bob", "bob", "welcome", 0),
                                          ("of-cat", "cat", "welcome", 0), ("of-spring", "bob", "spring", 2)]:
        facts = dict(offer_id=offer_id, campaign=campaign, message_id=f"x-{offer_id}", kind="qr", value="10%",
                     max_uses=2, expires_at=None)
        add("offer.issued", cid, "2026-01-01T08:00:00Z", "engine", issued_at="2026-01-01T08:00:00Z", **facts)
        for use in range(1, uses + 1):
            add("offer.redeemed", cid, f"2026-01-0{use + 1}T10:00:00Z", use=use,
                redeemed_at=f"2026-01-0{use + 1}T10:00:00Z", by="till", **facts)
    return events


EXPECTED = {
    1: [("cart", "s2", 2, 1, 1, 1, 1, 100.0, 100.0), ("welcome", "s1", 4, 3, 2, 2, 1, 100.0, 50.0)],
    2: [("welcome", "EUR", 1, 49.9, 49.9), ("cart", "EUR", 1, 20.0, 20.0)],
    3: [("spring", 2, 2, 1, 1, 1, 15.5)],
    4: [("2026-01-01", 3, 2, 1, 1, 50.0), ("2026-01-02", 0, 0, 1, 0, None), ("2026-01-03", 1, 1, 1, 1, 100.0),
        ("2026-01-04", 2, 2, 1, 1, 50.0)],
    5: [("2026-01-02", "EUR", 1, 49.9, 49.9), ("2026-01-03", "EUR", 1, 20.0, 20.0),
        ("2026-01-04", "EUR", 1, 15.5, 15.5), ("2026-01-05", "USD", 1, 30.0, 0.0), ("2026-01-20", "EUR", 1, 10.0, 0.0)],
    6: [("2026-01-01", 1, 1), ("2026-01-02", 1, 2), ("2026-01-03", 0, 2), ("2026-01-04", 1, 3), ("2026-01-05", 1, 4),
        ("2026-01-06", -1, 3)],
    7: [("bob", "2026-01-02T09:00:00Z"), ("cat", "2026-01-03T10:00:00Z")],
    8: [("spring", 1, 1, 2, 100.0), ("welcome", 3, 1, 1, 33.3)],
    9: [("email", 6, 1, 1, 0, 1, 16.7), ("sms", 0, 0, 0, 1, 0, None)],
    10: [("ann", 2, 59.9, "2026-01-20T10:00:00Z"), ("cat", 1, 30.0, "2026-01-05T12:00:00Z"),
         ("bob", 1, 15.5, "2026-01-04T12:00:00Z")],
}


def normal(rows) -> list[tuple]:
    """Numbers as floats rounded to 6 places (PostgreSQL gives Decimal for numeric)."""
    def value(v):
        if isinstance(v, (Decimal, float)):
            return round(float(v), 6)
        return v
    return [tuple(value(v) for v in row) for row in rows]


def test_the_document_has_ten_queries():
    assert sorted(doc_queries()) == list(range(1, 11))


def test_queries_on_sqlite(project, ev):
    conn = project(*seed(ev))
    for number, sql in doc_queries().items():
        assert normal(conn.execute(sql).fetchall()) == normal(EXPECTED[number]), f"query {number}"


def test_queries_on_postgresql(pg_schema, ev):
    """Run as an analyst would: a plain psycopg connection with the schema on the search path."""
    psycopg = pytest.importorskip("psycopg")
    from projections.postgres import PgReadModel
    from tests.support import PG

    with PgReadModel(PG, pg_schema) as model:
        model.apply(0, list(enumerate(seed(ev))))
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {pg_schema}")
        for number, sql in doc_queries().items():
            assert normal(conn.execute(sql).fetchall()) == normal(EXPECTED[number]), f"query {number}"
