"""``switchback project``: a Faust app that keeps the PostgreSQL read model up to date
from ``<ns>.events`` and ``<ns>.engine``. Each partition's batch is applied in one transaction together
with that partition's offset, and records at or below it are skipped, so redelivery
(at-least-once) never counts an event twice."""

from __future__ import annotations

import asyncio
import logging

import faust
import orjson

from engine.distributed import scratch_dir
from engine.kafka import TopicNames
from projections.postgres import PgReadModel

logger = logging.getLogger("switchback.projector")
ENGINE_PARTITIONS = 1 << 20  # <ns>.engine partition p is stored as p + 2^20 (positions stay unique)


def build_projector(kafka: str, namespace: str, pg: str, schema: str = "switchback", batch: int = 2000) -> faust.App:
    names = TopicNames(namespace)
    app = faust.App(f"{namespace}-projector", broker=f"kafka://{kafka}", broker_session_timeout=10,
                    web_enabled=False, datadir=scratch_dir(),
                    consumer_auto_offset_reset="earliest", key_serializer="raw", value_serializer="raw",
                    topic_allow_declare=False, topic_disable_leader=True)
    events = app.topic(names.events, names.engine, key_serializer="raw", value_serializer="raw")
    holder: dict[str, PgReadModel] = {}

    def apply(by_partition: dict[int, list]) -> int:
        if "model" not in holder:
            holder["model"] = PgReadModel(pg, schema)
        return sum(holder["model"].apply(partition, rows) for partition, rows in by_partition.items())

    @app.agent(events)
    async def project(stream):
        async for records in stream.take_events(batch, within=0.05):
            by_partition: dict[int, list] = {}
            for record in records:
                try:
                    event = orjson.loads(record.value)
                except orjson.JSONDecodeError:
                    continue  # the worker sends undecodable records to the dead letter topic
                if isinstance(event, dict) and event.get("id") and event.get("type"):
                    event.setdefault("workspace", "default")
                    # offsets are kept per (topic, partition): the engine topic's partitions are numbered apart
                    partition = record.message.partition + (ENGINE_PARTITIONS if record.message.topic == names.engine else 0)
                    by_partition.setdefault(partition, []).append((record.message.offset, event))
            if by_partition:
                await asyncio.to_thread(apply, by_partition)

    return app
