"""Conformance: one scripted event sequence (a split, a wait for an event with a timeout,
a condition branch, a goal, sends) runs through the embedded runtime (SQLite, in
process) and through the distributed one (Kafka + real ``switchback worker`` and
``switchback project`` processes + PostgreSQL), each on a virtual clock. Messages and
node stats must be identical."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from engine.clock import VirtualClock
from engine.definitions import Definitions
from engine.kafka import EventProducer, TopicNames, ensure_topics
from engine.log import EventLog
from engine.providers import OutboxProvider
from engine.runtime import JourneyRuntime, drain
from engine.sender import Sender
from projections import Projector, queries
from projections.postgres import PgReadModel
from tests.distributed.processes import Process
from tests.support import PG

pytestmark = pytest.mark.services

JOURNEY = {
    "id": "conformance", "name": "Conformance",
    "settings": {"reentry": "never", "goal": {"event": "newsletter.signup"}},
    "nodes": [
        {"id": "start", "type": "entry", "data": {"trigger": {"event": "cart.updated"}}},
        {"id": "ab", "type": "branch", "data": {"mode": "split", "variants": [{"handle": "a", "weight": 50}, {"handle": "b", "weight": 50}]}},
        {"id": "wait_order", "type": "wait", "data": {"mode": "event", "event": "order.placed",
                                                      "match": {"data.cart_id": "{{ trigger.data.cart_id }}"}, "timeout": "PT1H"}},
        {"id": "bought", "type": "end"},
        {"id": "vip", "type": "branch", "data": {"mode": "condition", "cases": [{"handle": "vip", "rule": {"tag": "vip"}}], "default": "else"}},
        {"id": "send_vip", "type": "send", "data": {"channel": "email", "template": "t-vip"}},
        {"id": "send_std", "type": "send", "data": {"channel": "email", "template": "t-std"}},
        {"id": "pause_b", "type": "wait", "data": {"mode": "duration", "duration": "PT30M"}},
        {"id": "send_b", "type": "send", "data": {"channel": "email", "template": "t-b"}},
        {"id": "done", "type": "end"},
    ],
    "edges": [
        {"id": "e1", "source": "start", "target": "ab"},
        {"id": "e2", "source": "ab", "sourceHandle": "a", "target": "wait_order"},
        {"id": "e3", "source": "ab", "sourceHandle": "b", "target": "pause_b"},
        {"id": "e4", "source": "wait_order", "sourceHandle": "event", "target": "bought"},
        {"id": "e5", "source": "wait_order", "sourceHandle": "timeout", "target": "vip"},
        {"id": "e6", "source": "vip", "sourceHandle": "vip", "target": "send_vip"},
        {"id": "e7", "source": "vip", "sourceHandle": "else", "target": "send_std"},
        {"id": "e8", "source": "pause_b", "target": "send_b"},
        {"id": "e9", "source": "send_vip", "target": "done"},
        {"id": "e10", "source": "send_std", "target": "done"},
        {"id": "e11", "source": "send_b", "target": "done"},
    ],
}
TEMPLATES = [{"id": t, "channel": "email", "subject": f"{t} for {{{{ contact.first_name }}}}", "text": "hello"}
             for t in ("t-vip", "t-std", "t-b")]
N = 40


def script() -> list[dict]:
    events = []
    for i in range(N):
        c = f"c{i}"
        events.append({"id": f"{c}-new", "type": "contact.created", "contact_id": c,
                       "data": {"email": f"{c}@example.com", "first_name": f"N{i}", "tags": ["vip"] if i % 4 == 0 else []}})
        events.append({"id": f"{c}-cart", "type": "cart.updated", "contact_id": c, "data": {"cart_id": f"k{i}"}})
    for i in range(N):
        c = f"c{i}"
        if i % 3 == 0:  # buys the same cart (matters on variant a)
            events.append({"id": f"{c}-order", "type": "order.placed", "contact_id": c, "data": {"order_id": f"o{i}", "cart_id": f"k{i}", "amount": "20"}})
        elif i % 5 == 0:  # buys something else: no match
            events.append({"id": f"{c}-other", "type": "order.placed", "contact_id": c, "data": {"order_id": f"x{i}", "cart_id": "zzz", "amount": "5"}})
        if i % 7 == 0:
            events.append({"id": f"{c}-goal", "type": "newsletter.signup", "contact_id": c, "data": {}})
    for e in events:
        e.update(workspace="default", occurred_at="2026-11-21T10:00:00Z", received_at="2026-11-21T10:00:00Z", source="api")
    return events


def embedded(tmp_path, definitions) -> tuple[set, dict]:
    clock = VirtualClock(tmp_path / "embedded-clock")
    log = EventLog(tmp_path / "events.db")
    runtime = JourneyRuntime(log, definitions, clock)
    outbox = OutboxProvider(tmp_path / "outbox.db")
    sender = Sender(log, definitions, {"email": outbox}, clock)
    log.append(script())
    drain(runtime)
    clock.advance(2 * 3600)
    drain(runtime)
    while sender.run_once():
        pass
    projector = Projector(tmp_path / "events.db", tmp_path / "read.db")
    projector.catch_up()
    messages = {(m["contact_id"], m["node_id"], m["subject"]) for m in outbox.list("default", limit=1000)}
    stats = queries.journey_stats(projector_conn(tmp_path), "default", "conformance")
    return messages, stats


def projector_conn(tmp_path):
    from engine.log import connect

    return connect(tmp_path / "read.db")


def wait_until(check, timeout: float, what: str, *logs: Process):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = check()
        if ok:
            return last
        time.sleep(0.25)
    raise AssertionError(f"{what} not reached in {timeout}s; last: {last}\n" + "\n".join(p.output()[-4000:] for p in logs))


def test_embedded_and_distributed_runtimes_agree(tmp_path, kafka_bootstrap, namespace, pg_schema):
    definitions = Definitions(tmp_path / "definitions.db")
    for template in TEMPLATES:
        definitions.save_template("default", template)
    definitions.save_draft("default", JOURNEY)
    definitions.publish("default", "conformance")
    want_messages, want_stats = embedded(tmp_path, definitions)
    assert len(want_messages) > 10 and {n for _, n, _ in want_messages} == {"send_vip", "send_std", "send_b"}

    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=4)
    clock_file = tmp_path / "distributed-clock"
    env = {"SWITCHBACK_KAFKA": kafka_bootstrap, "SWITCHBACK_PG": PG, "SWITCHBACK_NAMESPACE": namespace,
           "SWITCHBACK_PG_SCHEMA": pg_schema, "SWITCHBACK_DEFINITIONS": str(tmp_path / "definitions.db"),
           "SWITCHBACK_TEST_CLOCK": "1", "SWITCHBACK_TEST_CLOCK_FILE": str(clock_file)}
    worker = Process(["worker", "--partitions", "4"], env, tmp_path / "worker.log").start()
    projector = Process(["project"], env, tmp_path / "projector.log").start()
    try:
        with EventProducer(kafka_bootstrap, names) as producer:
            producer.send_many(script())
        read_model = PgReadModel(PG, pg_schema)
        conn = read_model.connect()

        def instances_settled():
            entered = queries.journey_stats(conn, "default", "conformance")["totals"]["entered"]
            return entered == N and _offsets_cover(pg_schema, len(script())), entered

        wait_until(instances_settled, 90, "all contacts entered", worker, projector)
        VirtualClock(clock_file).advance(2 * 3600)

        def same_stats():
            stats = queries.journey_stats(conn, "default", "conformance")
            return stats == want_stats, stats

        got_stats = wait_until(same_stats, 60, "node stats equal to the embedded run", worker, projector)
        outbox_rows = wait_until(lambda: (len(rows := _outbox(pg_schema)) >= len(want_messages), rows), 30,
                                 "every message sent", worker)
        assert {(m["contact_id"], m["node_id"], m["subject"]) for m in outbox_rows} == want_messages
        assert got_stats == want_stats
        read_model.close()
    finally:
        worker.stop()
        projector.stop()


def _offsets_cover(schema: str, count: int) -> bool:
    with psycopg.connect(PG, autocommit=True) as conn:
        try:
            row = conn.execute(sql.SQL('SELECT COALESCE(SUM("offset" + 1), 0) FROM {}.consumer_offsets').format(
                sql.Identifier(schema))).fetchone()
        except psycopg.errors.UndefinedTable:
            return False
    return row[0] >= count


def _outbox(schema: str) -> list[dict]:
    from psycopg.rows import dict_row

    with psycopg.connect(PG, autocommit=True) as conn:
        try:
            return conn.cursor(row_factory=dict_row).execute(
                sql.SQL("SELECT * FROM {}.outbox").format(sql.Identifier(schema))).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
