"""The API process of the distributed deployment: the same routes as embedded, over
Kafka (ingested events are produced to ``<ns>.events``, key = contact id, acks=all)
and PostgreSQL (definitions, read model, outbox, engine state). Journeys themselves
run in ``switchback worker`` processes; the read model is kept by ``switchback project``.

Definition changes (journeys, templates, API keys without secrets) are relayed to
``<ns>.definitions`` from the event store's notification log, resuming from the
position recorded in PostgreSQL.

Duplicates by event id cannot be seen at ingestion here: every event is accepted and
the consumers drop repeats (the worker by offset and deterministic ids, the projector
by event id).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import psycopg
from psycopg import sql

from api.services import ensure_admin_key
from api.signing_key import signing_key
from api.users import UserDirectory
from api.settings import Settings
from engine.clock import SystemClock
from engine.definitions import Definitions
from engine.offers import OfferBook
from engine.tracking import Tracker
from engine.kafka import EventProducer, TopicNames, ensure_topics
from engine.providers.pg_outbox import PgOutboxProvider
from engine.relay import DefinitionRelay, PgPosition, kafka_send
from engine.worker import Worker
from engine.state import key_of
from projections.postgres import PgReadModel

logger = logging.getLogger("switchback.api")


class DistributedServices:
    def __init__(self, settings: Settings, schema: str | None = None):
        if not settings.kafka or not settings.pg:
            raise ValueError("distributed mode needs SWITCHBACK_KAFKA (bootstrap) and SWITCHBACK_PG (PostgreSQL DSN)")
        self.settings = settings
        self.schema = schema or settings.pg_schema
        self.names = TopicNames(settings.namespace)
        ensure_topics(settings.kafka, self.names, partitions=settings.partitions, replication=settings.replication)
        self.definitions = Definitions.from_postgres(settings.pg, self.schema)
        self.producer = EventProducer(settings.kafka, self.names)
        self.outbox = PgOutboxProvider(settings.pg, self.schema)
        self.read_model = PgReadModel(settings.pg, self.schema)
        self.offers = OfferBook.from_postgres(settings.pg, self.schema, base_url=settings.public_url())
        self.users = UserDirectory.from_postgres(settings.pg, self.schema)
        self.tracker = Tracker(signing_key(settings), settings.public_url())  # the workers sign with the same secret
        self.clock = SystemClock()
        self._conn: psycopg.Connection | None = None
        # definition events (journeys, templates, keys) relayed to <ns>.definitions
        self.definitions_topic = f"{settings.namespace}.definitions"
        ensure_topics(settings.kafka, [self.definitions_topic], partitions=1, replication=settings.replication)
        self.relay = DefinitionRelay(self.definitions, kafka_send(self.producer.producer, self.definitions_topic),
                                     PgPosition(settings.pg, self.schema, name=f"{settings.namespace}-definitions"))
        self.relay_worker = Worker("definition-relay", self.relay.run_once, lambda: time.sleep(0.5))

    def ensure_admin_key(self) -> str | None:
        return ensure_admin_key(self.definitions, self.settings)

    def start(self) -> None:
        self.relay_worker.start()

    def stop(self) -> None:
        self.relay_worker.stop()
        self.producer.close()
        self.read_model.close()
        self.offers.close()
        self.users.close()

    # -- the routes' interface ----------------------------------------------------
    def append(self, records: list[dict[str, Any]]) -> list[int | None]:
        self.producer.send_many(records)  # waits for every ack
        return [1] * len(records)

    def wait_visible(self, records: list[dict[str, Any]], positions: list[int | None], timeout: float = 5.0) -> bool:
        ids = [r["id"] for r in records]
        deadline = time.monotonic() + timeout
        conn = self.read_db()
        while time.monotonic() < deadline:
            row = conn.execute("SELECT COUNT(*) FROM events WHERE id IN (" + ",".join("?" * len(ids)) + ")", ids).fetchone()
            if row[0] >= len(set(ids)):
                return True
            time.sleep(0.05)
        return False

    def notify(self) -> None:
        pass  # workers poll the definitions store

    def health(self) -> dict[str, Any]:
        error = self.relay_worker.last_error
        return {"status": "ok" if error is None else "degraded", "mode": "distributed", "error": error}

    def contact_state(self, workspace: str, contact_id: str) -> dict[str, Any] | None:
        row = self._pg().execute(sql.SQL("SELECT body FROM {}.contact_state WHERE key = %s").format(sql.Identifier(self.schema)),
                                 (key_of(workspace, contact_id),)).fetchone()
        return orjson.loads(row[0]) if row else None

    def read_db(self):
        return self.read_model.connect()

    def status(self) -> dict[str, Any]:
        rows = self._pg().execute(sql.SQL('SELECT consumer, partition, "offset" FROM {}.consumer_offsets ORDER BY 1, 2')
                                  .format(sql.Identifier(self.schema))).fetchall()
        return {"mode": "distributed", "namespace": self.settings.namespace,
                "worker_offsets": [{"consumer": c, "partition": p, "offset": o} for c, p, o in rows],
                "clock": {"now": self.clock.now(), "virtual": False}}

    def _pg(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.settings.pg, autocommit=True)
        return self._conn
