"""Two ``switchback worker`` processes in one consumer group split the partitions and
together move every contact exactly once in effect; one is killed with SIGKILL while
events stream in, the survivor takes its partitions over, and nothing is lost or done
twice (every contact entered once, every due reminder sent once)."""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg import sql

from engine.clock import VirtualClock
from engine.definitions import Definitions
from engine.kafka import EventProducer, TopicNames, ensure_topics
from journeys.library import library_journey, library_templates
from tests.distributed.processes import Process
from tests.distributed.test_conformance import wait_until
from tests.support import PG

pytestmark = pytest.mark.services
N = 600


def rows(schema: str, query: str) -> list[tuple]:
    with psycopg.connect(PG, autocommit=True) as conn:
        try:
            return conn.execute(sql.SQL(query).format(s=sql.Identifier(schema))).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def test_two_workers_share_the_load_and_survive_a_sigkill(tmp_path, kafka_bootstrap, namespace, pg_schema):
    definitions = Definitions(tmp_path / "definitions.db")
    for template in library_templates():
        definitions.save_template("default", template)
    definitions.save_draft("default", library_journey("abandoned-cart"))
    definitions.publish("default", "abandoned-cart")
    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=6)
    clock_file = tmp_path / "clock"
    env = {"SWITCHBACK_KAFKA": kafka_bootstrap, "SWITCHBACK_PG": PG, "SWITCHBACK_NAMESPACE": namespace,
           "SWITCHBACK_PG_SCHEMA": pg_schema, "SWITCHBACK_DEFINITIONS": str(tmp_path / "definitions.db"),
           "SWITCHBACK_TEST_CLOCK": "1", "SWITCHBACK_TEST_CLOCK_FILE": str(clock_file)}
    first = Process(["worker", "--partitions", "6"], env, tmp_path / "worker-1.log").start()
    second = Process(["worker", "--partitions", "6"], env, tmp_path / "worker-2.log").start()
    try:
        wait_until(lambda: (all("Worker]: Ready" in p.output() for p in (first, second)), None), 60,
                   "both workers ready", first, second)
        events = []
        for i in range(N):
            c = f"c{i}"
            events.append({"id": f"{c}-new", "type": "contact.created", "workspace": "default", "contact_id": c,
                           "source": "api", "occurred_at": "2026-11-21T10:00:00Z", "data": {"email": f"{c}@example.com"}})
            events.append({"id": f"{c}-cart", "type": "cart.updated", "workspace": "default", "contact_id": c,
                           "source": "api", "occurred_at": "2026-11-21T10:00:00Z", "data": {"cart_id": f"k{i}"}})
        with EventProducer(kafka_bootstrap, names) as producer:
            producer.send_many(events[: N // 2])
            # both workers are busy: the partitions are split between them
            wait_until(lambda: (len(rows(pg_schema, "SELECT key FROM {s}.journey_state")) > 0, None), 30,
                       "first contacts entered", first, second)
            first.kill()  # mid-stream
            producer.send_many(events[N // 2:])
        for worker in (first, second):  # each got a share of the events topic's partitions
            assigned = [line for line in worker.output().splitlines() if f"{names.events} " in line and "{" in line]
            assert assigned, f"no partitions of {names.events} assigned:\n{worker.output()}"

        def all_entered():
            found = rows(pg_schema, "SELECT count(*), min(convert_from(body, 'UTF8')::jsonb->>'entries'), "
                                    "max(convert_from(body, 'UTF8')::jsonb->>'entries') FROM {s}.journey_state")
            return bool(found) and found[0][0] == N, found

        count, low, high = wait_until(all_entered, 90, "all contacts entered", second)[0]
        assert (low, high) == ("1", "1"), "a contact entered twice"
        at = rows(pg_schema, "SELECT convert_from(body, 'UTF8')::jsonb->>'node', count(*) FROM {s}.journey_state GROUP BY 1")
        assert at == [("wait_order", N)]

        VirtualClock(clock_file).advance(4 * 3600 + 60)  # every reminder falls due at once

        def all_reminded():
            found = rows(pg_schema, "SELECT count(*), count(DISTINCT contact_id) FROM {s}.outbox")
            return bool(found) and found[0][0] >= N, found

        sent, contacts = wait_until(all_reminded, 90, "every reminder sent", second)[0]
        time.sleep(1.0)  # anything sent twice would show up now
        assert rows(pg_schema, "SELECT count(*), count(DISTINCT contact_id) FROM {s}.outbox")[0] == (N, N)
        assert rows(pg_schema, "SELECT DISTINCT node_id FROM {s}.outbox") == [("remind",)]
    finally:
        first.stop()
        second.stop()
