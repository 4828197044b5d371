"""The read model on PostgreSQL (``projections.postgres``) against a real server: the same
events give the same tables (checksums) and the same query answers as the SQLite read
model, redeliveries change nothing, a failing batch leaves no trace. Each test works in
its own schema (``sb_test_<random>``, dropped afterwards); the PostgreSQL tests are
skipped, with the reason, when ``SWITCHBACK_TEST_PG`` is unreachable. The translation
tests at the top need no server."""

from __future__ import annotations

import sqlite3
import threading
import zlib
from typing import Any

import orjson
import pytest

psycopg = pytest.importorskip("psycopg")

from projections import Projector, checksum, handlers, pg_dialect, queries  # noqa: E402
from projections.postgres import PgReadModel, event_position  # noqa: E402
from tests.support import PG

DSN = PG
PARTITIONS = 3


@pytest.fixture
def model(pg_schema):
    read_model = PgReadModel(DSN, pg_schema)
    yield read_model
    read_model.close()


# -- the event script --------------------------------------------------------------------
def script(ev) -> list[dict[str, Any]]:
    """Contacts, tags, orders, journeys, a message funnel with reports out of order, an
    erasure with late reports, odd payloads, a duplicate delivery, two workspaces."""
    events: list[dict[str, Any]] = []
    names = ["Ann", "Émile", "zoë", "ÄRGER", "Bob", "bea", None, "Ünal"]
    for n, first in enumerate(names):
        cid = f"c{n:02d}"
        events += [
            ev("contact.created", cid, email=f"{cid.upper()}@Example.com", first_name=first, last_name="Smith",
               tags=["new", "Newsletter"]),
            ev("contact.tagged", cid, tag="vip" if n % 2 else "regular"),
            ev("order.placed", cid, at=f"2026-01-{n + 1:02d}T09:00:00Z", order_id=f"o{n}",
               amount=["19.99", "0.1", "0.2", "1.005", "abc", None, "1e3", "2.675"][n]),
            ev("order.placed", cid, at="2026-01-20T09:00:00Z", order_id=f"p{n}", amount="0.2"),
            ev("journey.entered", cid, source="engine", journey_id="welcome", version=1),
            ev("journey.node_entered", cid, source="engine", journey_id="welcome", version=1, node_id="start"),
            ev("journey.node_entered", cid, source="engine", journey_id="welcome", version=1, node_id="send",
               from_node="start"),
            ev("message.queued", cid, source="engine", message_id=f"m{n}", journey_id="welcome", version=1,
               node_id="send", channel="email", template="hello"),
            ev("message.clicked", cid, at="2026-01-01T13:00:00Z", source="ses", message_id=f"m{n}", url="https://x"),
            ev("message.sent", cid, at="2026-01-01T10:01:00Z", source="ses", message_id=f"m{n}", provider="ses"),
            ev("message.opened", cid, at="2026-01-01T12:00:00Z", source="ses", message_id=f"m{n}"),
            ev("message.delivered", cid, at="2026-01-01T11:00:00Z", source="ses", message_id=f"m{n}"),
        ]
        if n % 3 == 0:
            events.append(ev("journey.exited", cid, source="engine", journey_id="welcome", version=1,
                             node_id="send", reason="completed"))
        if n % 4 == 1:
            events.append(ev("journey.goal_reached", cid, source="engine", journey_id="welcome", version=1))
    duplicate = ev("contact.updated", "c01", city="Oslo", tags=["oslo"])
    events += [
        duplicate,
        ev("contact.updated", "c01", city=None, phone="+4790000000"),
        ev("contact.untagged", "c01", tags=["NEW"]),
        ev("contact.unsubscribed", "c02", channel="email"),
        ev("contact.unsubscribed", "c03"),
        ev("contact.subscribed", "c03", channel="sms"),
        # a provider report before the engine's own: the row exists, identity comes later
        ev("message.delivered", "c04", at="2026-01-02T08:00:00Z", source="ses", message_id="late-q"),
        ev("message.queued", "c04", at="2026-01-02T07:59:00Z", source="engine", message_id="late-q",
           journey_id="promo", version=2, node_id="n1", channel="email", template={"subject": "Hi"}),
        ev("message.bounced", "c05", source="ses", message_id="b1", bounce_type="hard"),
        ev("message.suppressed", "c05", source="engine", message_id="s1", channel="sms", reason="unsubscribed"),
        ev("message.failed", "c06", source="engine", message_id="f1", channel="email", reason="timeout"),
        ev("message.opened", "c06", source="ses", message_id="orphan"),  # only an open: no send time
        # re-entry, a second version, a numeric node id, an entry without a time
        ev("journey.entered", "c00", at="2026-02-01T00:00:00Z", source="engine", journey_id="welcome", version=2),
        ev("journey.node_entered", "c00", source="engine", journey_id="welcome", version=2, node_id=7),
        ev("journey.entered", "c05", source="engine", journey_id=42, version="3"),  # stored as text '42'
        ev("journey.node_entered", "c05", source="engine", journey_id=42, version=3, node_id="a"),
        {**ev("journey.entered", "c02", source="engine", journey_id="winback", version=1), "occurred_at": None},
        # erasure, then late reports that must not bring the profile back
        ev("contact.deleted", "c07"),
        ev("journey.exited", "c07", source="engine", journey_id="welcome", version=1, node_id="send",
           reason="contact_deleted"),
        ev("message.opened", "c07", source="ses", message_id="m7"),
        ev("page.viewed", "c99", url="/pricing"),
        ev("workspace.note", None, text="no contact"),
        ev("contact.created", "c01", workspace="beta", email="other@example.com", first_name="Beta"),
        duplicate,  # at-least-once: the same event delivered again, at a later offset
    ]
    return events


def partition_of(event: dict[str, Any]) -> int:
    return zlib.crc32((event.get("contact_id") or "").encode()) % PARTITIONS


def by_partition(events: list[dict[str, Any]]) -> dict[int, list[tuple[int, dict[str, Any]]]]:
    """The script as Kafka would hold it: keyed by contact, offsets from 0 per partition."""
    parts: dict[int, list[tuple[int, dict[str, Any]]]] = {p: [] for p in range(PARTITIONS)}
    for event in events:
        records = parts[partition_of(event)]
        records.append((len(records), event))
    return parts


def feed(model: PgReadModel, parts, size: int = 5) -> int:
    """Apply every partition in batches of ``size``, taking turns between partitions."""
    new, start = 0, 0
    while any(start < len(records) for records in parts.values()):
        for partition, records in parts.items():
            if start < len(records):
                new += model.apply(partition, records[start:start + size])
        start += size
    return new


@pytest.fixture
def sqlite_built(log, read_path, ev):
    """The script projected into the SQLite read model; returns (events, read connection)."""
    events = script(ev)
    log.append(events)
    with Projector(log.path, read_path, batch=7) as projector:
        projector.catch_up()
    conn = sqlite3.connect(str(read_path))
    yield events, conn
    conn.close()


# -- translation (no server needed) ------------------------------------------------------
def test_placeholders_and_percent_signs():
    assert pg_dialect.translate("SELECT a FROM t WHERE b = ? AND c = '?' AND d LIKE 'x%'") == (
        "SELECT a FROM t WHERE b = %s AND c = '?' AND d ILIKE 'x%%'")
    assert pg_dialect.translate("SELECT 'it''s ?', \"a?b\" FROM t -- why?\nWHERE x = ?") == (
        "SELECT 'it''s ?', \"a?b\" FROM t -- why?\nWHERE x = %s")
    assert pg_dialect.translate("SELECT a % 2, x::text FROM t") == "SELECT a %% 2, x::text FROM t"


def test_sqlite_only_forms():
    assert pg_dialect.translate("INSERT OR IGNORE INTO contact_tags(a) VALUES (?);") == (
        "INSERT INTO contact_tags(a) VALUES (%s) ON CONFLICT DO NOTHING")
    assert pg_dialect.translate("BEGIN IMMEDIATE") == "BEGIN"
    assert pg_dialect.translate("SELECT IFNULL(a, 0) FROM t") == "SELECT COALESCE(a, 0) FROM t"
    for bad in ("INSERT OR REPLACE INTO t VALUES (?)", "REPLACE INTO t VALUES (?)", "SELECT 1 FROM t WHERE a GLOB ?",
                "SELECT 1 FROM t WHERE a = :name", "SELECT 1 FROM t WHERE a = ?1"):
        with pytest.raises(NotImplementedError):
            pg_dialect.translate(bad)
    with pytest.raises(ValueError):
        pg_dialect.translate("SELECT 'unclosed ? FROM t")


def test_order_by_gets_sqlite_null_placement_except_on_not_null_columns():
    assert pg_dialect.translate("SELECT 1 FROM contacts ORDER BY contact_id LIMIT ?") == (
        "SELECT 1 FROM contacts ORDER BY contact_id LIMIT %s")
    assert pg_dialect.translate("SELECT 1 FROM messages ORDER BY contact_id, COALESCE(a, b) DESC, message_id DESC") == (
        "SELECT 1 FROM messages ORDER BY contact_id NULLS FIRST, COALESCE(a, b) DESC NULLS LAST, message_id DESC")
    assert pg_dialect.translate("SELECT 1 FROM a JOIN contacts c ON 1=1 ORDER BY contact_id") == (
        "SELECT 1 FROM a JOIN contacts c ON 1=1 ORDER BY contact_id NULLS FIRST")
    assert pg_dialect.translate("SELECT 1 FROM events ORDER BY occurred_at ASC NULLS LAST") == (
        "SELECT 1 FROM events ORDER BY occurred_at ASC NULLS LAST")


def test_tables_are_translated_from_the_sqlite_schema():
    statements = "\n".join(pg_dialect.ddl())
    assert "ROWID" not in statements and "INTEGER" not in statements and " REAL" not in statements
    assert "position BIGINT PRIMARY KEY" in statements
    assert "lifetime_value DOUBLE PRECISION" in statements
    assert "projection_positions" not in statements
    assert "contact_id" in pg_dialect.NOT_NULL["contacts"] and "contact_id" not in pg_dialect.NOT_NULL["messages"]


def test_event_position_packs_partition_and_offset():
    assert event_position(0, 0) == 0
    assert event_position(3, 17) == 3 * 2**40 + 17
    assert event_position(1, 0) > event_position(0, 2**40 - 1)
    for partition, offset in ((-1, 0), (0, -1), (0, 2**40), (2**23, 0)):
        with pytest.raises(ValueError):
            event_position(partition, offset)


# -- the same tables on both databases ---------------------------------------------------
def test_same_script_same_checksums(model, sqlite_built, read_path):
    events, conn = sqlite_built
    parts = by_partition(events)
    new = feed(model, parts)
    assert new == len({e["id"] for e in events})
    expected = checksum(read_path)
    assert model.checksum() == expected
    assert conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0] > 10  # the script is not trivial
    assert {p: model.position(p) for p in parts} == {p: len(r) - 1 for p, r in parts.items()}
    assert model.positions() == {p: len(r) - 1 for p, r in parts.items()}
    # a rebuild (drop, create, replay the topics) gives the same tables again
    model.drop()
    model.create()
    assert model.position(0) == -1
    feed(model, parts, size=50)
    assert model.checksum() == expected


def test_redelivery_changes_nothing(model, sqlite_built, read_path):
    events, _ = sqlite_built
    parts = by_partition(events)
    expected = checksum(read_path)
    for partition, records in parts.items():  # overlapping batches, as after a crash before the commit
        assert model.apply(partition, records[:6]) == len({e["id"] for _, e in records[:6]})
        model.apply(partition, records[3:12])
        model.apply(partition, records[10:])
    assert model.checksum() == expected
    for partition, records in parts.items():  # every batch delivered a second time
        for start in range(0, len(records), 4):
            assert model.apply(partition, records[start:start + 4]) == 0
        assert model.apply(partition, list(reversed(records))) == 0
        assert model.position(partition) == len(records) - 1
    assert model.checksum() == expected


def test_partitions_applied_concurrently(pg_schema, sqlite_built, read_path):
    events, _ = sqlite_built
    parts = by_partition(events)
    errors: list[BaseException] = []

    def consume(partition: int) -> None:
        try:
            with PgReadModel(DSN, pg_schema) as worker:
                for start in range(0, len(parts[partition]), 3):
                    worker.apply(partition, parts[partition][start:start + 3])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=consume, args=(p,)) for p in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with PgReadModel(DSN, pg_schema) as model:
        assert model.checksum() == checksum(read_path)


def test_a_failing_batch_leaves_neither_rows_nor_offset(model, ev, monkeypatch):
    model.apply(0, [(0, ev("contact.created", "ok"))])
    before = model.checksum()
    batch = [(1, ev("contact.created", "a", email="a@example.com")), (2, ev("contact.tagged", "a", tag="vip")),
             (3, ev("order.placed", "a", order_id="o1", amount="5")), (4, ev("contact.created", "b"))]

    def crash(conn, event):
        raise RuntimeError("disk on fire")

    with monkeypatch.context() as patch:
        patch.setitem(handlers.HANDLERS, "order.placed", crash)
        with pytest.raises(RuntimeError):
            model.apply(0, batch)
    assert model.position(0) == 0
    assert model.checksum() == before
    broken = [(1, ev("contact.created", "c")), (2, {"id": "no-type", "workspace": "acme"})]
    with pytest.raises(KeyError):
        model.apply(0, broken)
    assert model.position(0) == 0
    assert model.checksum() == before
    assert model.apply(0, batch) == 4  # the same batch, delivered again once the fault is gone
    assert model.position(0) == 4


def test_round_matches_sqlite(model):
    values = [0.1 + 0.2, 1.005, 2.675, 0.125, -0.125, 1e-5, 12345.675, 19.99 * 3, 0.5, 1.0, 33.333333, 1e15 + 0.3]
    lite = sqlite3.connect(":memory:")
    with model.connect() as pg:
        for value in values:
            statement = "SELECT ROUND(CAST(? AS DOUBLE PRECISION) + ?, 2)"
            assert pg.execute(statement, (value, 0.0)).fetchone() == lite.execute(statement, (value, 0.0)).fetchone()


# -- the same answers from the queries ---------------------------------------------------
def _same(pg_answer: Any, sqlite_answer: Any) -> None:
    # orjson: the same JSON, so also the same types (an int stays an int, no Decimal)
    assert orjson.dumps(pg_answer) == orjson.dumps(sqlite_answer)


def test_queries_answer_the_same(model, sqlite_built):
    events, lite = sqlite_built
    feed(model, by_partition(events), size=6)
    contact_ids = sorted({e["contact_id"] for e in events if e.get("contact_id")}) + ["nobody"]
    with model.connect() as pg:
        for workspace in ("acme", "beta"):
            for cid in contact_ids:
                _same(queries.get_contact(pg, workspace, cid), queries.get_contact(lite, workspace, cid))
                assert queries.contact_exists(pg, workspace, cid) == queries.contact_exists(lite, workspace, cid)
            for journey in ("welcome", "winback", "promo", "42", "none"):
                _same(queries.journey_stats(pg, workspace, journey), queries.journey_stats(lite, workspace, journey))
            for search in (None, "example", "SMITH", "c0", "émile", "Ü", "zo", "%", "_", "+47", "ann smith"):
                cursors: dict[str, str | None] = {"pg": None, "lite": None}
                while True:
                    page_pg = queries.list_contacts(pg, workspace, search, 3, cursors["pg"])
                    page_lite = queries.list_contacts(lite, workspace, search, 3, cursors["lite"])
                    _same(page_pg, page_lite)
                    if not page_lite["next_cursor"]:
                        break
                    cursors = {"pg": page_pg["next_cursor"], "lite": page_lite["next_cursor"]}
            _same(queries.list_messages(pg, workspace, limit=500), queries.list_messages(lite, workspace, limit=500))
            _same(queries.list_messages(pg, workspace, "c06"), queries.list_messages(lite, workspace, "c06"))
            for email, phone in (("c01@example.COM", None), ("C03@EXAMPLE.COM", None), (None, "+4790000000"),
                                 ("nobody@example.com", "+1")):
                assert queries.find_contact_by_address(pg, workspace, email, phone) == (
                    queries.find_contact_by_address(lite, workspace, email, phone))
        assert queries.get_contact(pg, "acme", "c07") is None  # erased
        assert queries.find_contact_by_address(pg, "acme", "c01@example.COM", None) == "c01"
