"""End to end in distributed mode: a journey published over the HTTP API (definitions in
PostgreSQL) runs through Kafka and a real worker; the read model in PostgreSQL, kept by
a real projector, answers the API's stats, contact and outbox routes; every event
delivered twice leaves the projections unchanged."""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from engine.kafka import EventProducer, TopicNames
from journeys.library import library_journey, library_templates
from projections.postgres import PgReadModel
from tests.distributed.processes import Process
from tests.distributed.test_conformance import wait_until
from tests.support import ADMIN, PG, free_port

pytestmark = pytest.mark.services


def test_a_journey_published_over_the_api_runs_through_kafka(tmp_path, kafka_bootstrap, namespace, pg_schema):
    port = free_port()
    env = {"SWITCHBACK_KAFKA": kafka_bootstrap, "SWITCHBACK_PG": PG, "SWITCHBACK_NAMESPACE": namespace,
           "SWITCHBACK_PG_SCHEMA": pg_schema, "SWITCHBACK_ADMIN_KEY": ADMIN, "SWITCHBACK_PARTITIONS": "4"}
    api = Process(["api", "--port", str(port), "--data-dir", str(tmp_path / "data")], env, tmp_path / "api.log").start()
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=10)

    def healthy():
        try:
            return client.get("/healthz").json().get("mode") == "distributed", None
        except httpx.HTTPError:
            return False, None

    wait_until(healthy, 60, "the API up", api)
    worker = Process(["worker", "--partitions", "4"], env, tmp_path / "worker.log").start()
    projector = Process(["project"], env, tmp_path / "projector.log").start()
    try:
        for template in library_templates():
            assert client.put(f"/v1/templates/{template['id']}", json={k: v for k, v in template.items() if k != "id"}).status_code == 200
        journey = library_journey("welcome-series")
        assert client.put("/v1/journeys/welcome-series", json=journey).json()["problems"] == []
        assert client.post("/v1/journeys/welcome-series/publish").status_code == 200
        batch = [{"id": f"w{i}", "type": "contact.created", "contact_id": f"w{i}",
                  "data": {"email": f"w{i}@example.com", "first_name": f"W{i}"}} for i in range(30)]
        response = client.post("/v1/events", json={"batch": batch + [{"type": "nope nope", "contact_id": "x"}]})
        assert response.status_code == 422 and len(response.json()["accepted"]) == 30

        def welcomed():
            stats = client.get("/v1/journeys/welcome-series/stats").json()
            outbox = client.get("/v1/outbox", params={"limit": 100}).json()["items"]
            # node stats come from <ns>.engine, the totals from journey.entered: wait for both
            done = stats["totals"]["entered"] == 30 and stats["nodes"]["welcome"]["entered"] == 30
            return done and len(outbox) == 30, (stats, len(outbox))

        stats, _ = wait_until(welcomed, 90, "every contact welcomed", api, worker, projector)
        assert stats["nodes"]["welcome"]["entered"] == 30
        contact = client.get("/v1/contacts/w7").json()
        assert contact["email"] == "w7@example.com"
        assert contact["journeys"][0]["journey_id"] == "welcome-series"
        assert {m["template"] for m in contact["messages"]} == {"welcome"}

        # every event delivered twice (a producer retry, a replay): projections do not move
        model = PgReadModel(PG, pg_schema)
        seen = [model.checksum()]

        def quiet():  # the sender's message.sent events are projected too: wait until nothing moves
            time.sleep(1.0)
            seen.append(model.checksum())
            return seen[-1] == seen[-2], None

        wait_until(quiet, 30, "projections quiet", projector)
        before = seen[-1]
        with EventProducer(kafka_bootstrap, TopicNames(namespace)) as producer:
            producer.send_many([{**e, "workspace": "default", "source": "api", "occurred_at": "2026-11-21T10:00:00Z"}
                                for e in batch])
        time.sleep(3)
        assert model.checksum() == before
        assert len(client.get("/v1/outbox", params={"limit": 100}).json()["items"]) == 30
        model.close()

        # the definitions were relayed to Kafka: the journey's publication is there
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(f"{namespace}.definitions", bootstrap_servers=kafka_bootstrap,
                                 auto_offset_reset="earliest", consumer_timeout_ms=5000)
        kinds = {orjson.loads(record.value)["type"] for record in consumer}
        consumer.close()
        assert "definition.journey.published" in kinds
        assert any(k.startswith("definition.template") for k in kinds)
    finally:
        for process in (worker, projector, api):
            process.stop()
        client.close()
