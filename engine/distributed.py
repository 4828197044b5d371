"""The distributed runtime: a Faust app whose agents drive journeys from Kafka.

- ``journeys`` agent: consumes ``<ns>.events`` in batches (``take_events``); per
  partition it skips records at or below the offset already committed in PostgreSQL,
  runs the same ``engine.processing`` as the embedded runtime, produces the emitted
  events (key = contact id) and send commands, waits for the broker's acks, and only
  then commits states and offsets in one PostgreSQL transaction. A crash in between
  re-delivers the batch, which yields the same ids (deterministic), so consumers drop
  the duplicates: at-least-once with idempotent effects (exactly-once is not available
  on every broker).
- a timer fires due wake-ups of the partitions this worker owns (rows locked with
  ``FOR UPDATE SKIP LOCKED``, so a rebalance never fires one twice at the same time).
- ``deliver`` agent: consumes ``<ns>.commands`` and queues each command in PostgreSQL for
  the time its rate limits allow (``engine.pg_sends``); a timer sends what is due, through
  the same ``engine.sender.Sender`` as the embedded runtime.
- undecodable or invalid records go to ``<ns>.deadletter`` with the reason.
- bookkeeping events (``journey.*``, ``message.queued``) that no published journey
  reacts to are produced to ``<ns>.engine`` instead of ``<ns>.events``: the projector
  reads both, and the workers do not spend their time consuming their own echoes.
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import logging
import tempfile
import time
from functools import lru_cache
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.sensors import Monitor
from pydantic import ValidationError

from engine.clock import SystemClock
from engine.interpreter import resume
from engine.kafka import TopicNames, dead_letter_record
from engine.pg_sends import PgSendQueue
from engine.pg_state import PgState, decode
from engine.processing import Batch, JourneyProcessor, JourneySource
from engine.sender import HOLD_RECHECK, is_held
from engine.state import key_of
from journeys.events import Event, iso_from_epoch

logger = logging.getLogger("switchback.worker")
CONSUMER = "journeys"


class DistributedRuntime:
    """The worker's logic, independent of Faust's plumbing (testable on its own)."""

    def __init__(self, source: JourneySource, state: PgState, produce, clock=None):
        self.processor = JourneyProcessor(source)
        self.state, self.produce, self.clock = state, produce, clock or SystemClock()
        self.lock = asyncio.Lock()
        self._refreshed = float("-inf")

    async def handle(self, records: list[tuple[int, int, bytes | None]]) -> int:
        """``records``: (partition, offset, value). Returns how many were new."""
        async with self.lock:
            self._refresh_catalog()
            stored = await self.state.offsets(CONSUMER, sorted({p for p, _, _ in records}))
            inputs, partition_of, newest, dead = [], {}, {}, []
            received = iso_from_epoch(self.clock.now())
            for partition, offset, raw in records:
                if offset <= stored.get(partition, -1):
                    continue  # already committed: a redelivery
                newest[partition] = max(offset, newest.get(partition, -1))
                try:
                    event = decode(raw)
                    if event.get("source") != "engine":
                        stamped = event.get("received_at")
                        event = Event.model_validate(event).to_record()
                        if not stamped:
                            event["received_at"] = received
                except (ValueError, ValidationError) as exc:
                    dead.append((partition, offset, raw, str(exc)))
                    continue
                if event["type"] in self.processor.catalog.skipped or not event.get("contact_id"):
                    continue
                inputs.append((f"{partition:03d}{offset:012d}", event))
                partition_of[key_of(event["workspace"], event["contact_id"])] = partition
            if dead:
                await self.produce.dead(dead)
            if newest:
                await self._run(inputs, [], partition_of, newest)
            return len(newest)

    async def fire_timers(self, partitions: list[int], limit: int = 2000) -> int:
        if not partitions or self.lock.locked():
            return 0  # a batch is running; the next tick fires what is due
        async with self.lock:
            self._refresh_catalog()
            async with self.state.transaction():
                due = await self.state.due(partitions, self.clock.now(), limit)
                if not due:
                    return 0
                keys = sorted({k for k, _ in due})
                partition_of = await self.state.partitions_of(keys)
                return await self._run([], due, partition_of, {}, in_transaction=True)

    async def _run(self, inputs, due, partition_of, offsets, in_transaction: bool = False) -> int:
        now = self.clock.now()
        keys = sorted(self.processor.keys_of(inputs) | {k for k, _ in due})
        if in_transaction:
            return await self._process(keys, inputs, due, partition_of, offsets, now)
        async with self.state.transaction():
            return await self._process(keys, inputs, due, partition_of, offsets, now)

    async def _process(self, keys, inputs, due, partition_of, offsets, now) -> int:
        contacts, instances = await self.state.load(keys)
        batch = self.processor.process(Batch(contacts, instances), inputs, due, now)
        await self.produce.results(batch.emitted, batch.commands, self.processor.catalog.skipped)  # acks, then commit
        await self.state.save(batch.changed_contacts(), batch.changed_instances(), partition_of)
        await self.state.set_offsets(CONSUMER, offsets)
        return len(inputs) + batch.timers_fired

    def _refresh_catalog(self) -> None:
        """Look for published/paused/resumed journeys at most twice a second."""
        now = time.monotonic()
        if now - self._refreshed < 0.5:
            return
        self._refreshed = now
        for _workspace, journey_id in self.processor.refresh():
            asyncio.ensure_future(self._release(journey_id))

    async def _release(self, journey_id: str) -> None:
        async with self.lock:
            async with self.state.transaction():
                held = await self.state.held(journey_id)
                now = self.clock.now()
                await self.state.save({}, {(k, journey_id): resume(i, now) for k, _, i in held},
                                      {k: p for k, p, _ in held})


class KafkaOutput:
    """Produces the runtime's results through the app's Kafka producer: keyed records are
    grouped per partition into record batches (one future per batch instead of one per
    record), all awaited together, so the broker's acks arrive in a few round trips."""

    def __init__(self, app: faust.App, names: TopicNames):
        self.app, self.names = app, names
        self.events = app.topic(names.events, key_serializer="raw", value_serializer="raw")
        self.commands = app.topic(names.commands, key_serializer="raw", value_serializer="raw")
        self._partitions: dict[str, list[int]] = {}

    async def _send_all(self, topic: str, records: list[tuple[bytes | None, bytes]]) -> None:
        if not records:
            return
        # the aiokafka producer under Faust's (pinned faust-streaming; no public accessor)
        producer = self.app.producer._ensure_producer()
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        futures, batches = [], {}
        for key, value in records:
            if key is None:  # no key: let the producer pick a partition
                futures.append(await producer.send(topic, value))
                continue
            partition = partitions[_partition_index(key, len(partitions))]
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = batches[partition] = producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:  # never drop a record
                    raise RuntimeError(f"record of {len(value)} bytes does not fit in a producer batch")
        for partition, batch in batches.items():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def results(self, emitted: list[dict], commands: list[dict], bookkeeping: frozenset[str] = frozenset()) -> None:
        """Bookkeeping events no journey reacts to go to ``<ns>.engine`` (the projector reads
        it; the workers need not consume their own echoes); the rest to ``<ns>.events``."""
        engine = [e for e in emitted if e["type"] in bookkeeping]
        contact = [e for e in emitted if e["type"] not in bookkeeping] if engine else emitted
        await self._send_all(self.names.events, [(e["contact_id"].encode(), orjson.dumps(e)) for e in contact])
        await self._send_all(self.names.engine, [(e["contact_id"].encode(), orjson.dumps(e)) for e in engine])
        await self._send_all(self.names.commands, [(c["contact_id"].encode(), orjson.dumps(c)) for c in commands])

    async def dead(self, records: list[tuple[int, int, bytes | None, str]]) -> None:
        source = self.names.events
        await self._send_all(self.names.deadletter, [
            (None, orjson.dumps(dead_letter_record(raw, reason, {"topic": source, "partition": partition, "offset": offset})))
            for partition, offset, raw, reason in records])


class LeanMonitor(Monitor):
    """Faust's Monitor without its per-record bookkeeping. Its statistics are only shown by
    Faust's web server, which a worker does not run, yet it updated several counters and
    clocks for every record consumed (~5 % of a worker's CPU). Kept: the per-partition time
    of the last event, which Faust's stalled-stream check reads."""

    def on_message_in(self, tp, offset, message) -> None:
        return None

    def on_stream_event_in(self, tp, offset, stream, event) -> None:
        self.stream_inbound_time[tp] = time.monotonic()
        return None

    def on_stream_event_out(self, tp, offset, stream, event, state=None) -> None:
        return None

    def on_message_out(self, tp, offset, message) -> None:
        return None

    def track_tp_end_offset(self, tp, offset) -> None:
        return None


@lru_cache(maxsize=100_000)
def _partition_index(key: bytes, count: int) -> int:
    """The Java client's (and aiokafka's default) partitioner, murmur2 of the key; cached,
    since a contact's key comes back with each of its events and murmur2 is pure Python."""
    return (murmur2(key) & 0x7FFFFFFF) % count


def scratch_dir() -> str:
    """Faust wants a data directory (Switchback keeps no Faust tables): a temporary one,
    removed when the process exits."""
    path = tempfile.mkdtemp(prefix="switchback-faust-")
    atexit.register(shutil.rmtree, path, True)
    return path


def build_worker(kafka: str, namespace: str, pg: str, source: JourneySource, schema: str = "switchback",
                 sender=None, batch: int = 2000, clock=None) -> faust.App:
    """The Faust app behind ``switchback worker`` (``sender``: an ``engine.sender.Sender``
    whose ``deliver`` renders and sends a command; ``None`` leaves commands to others)."""
    names = TopicNames(namespace)
    app = faust.App(f"{namespace}-worker", broker=f"kafka://{kafka}", broker_session_timeout=10,
                    web_enabled=False, datadir=scratch_dir(),
                    consumer_auto_offset_reset="earliest", producer_acks=-1, key_serializer="raw",
                    value_serializer="raw", topic_allow_declare=False, topic_disable_leader=True,
                    Monitor=LeanMonitor)
    output = KafkaOutput(app, names)
    holder: dict[str, Any] = {}
    opening = asyncio.Lock()

    async def runtime() -> DistributedRuntime:
        async with opening:  # the agents and the timer ask at once on start-up: open one
            if "runtime" not in holder:
                holder["runtime"] = DistributedRuntime(source, await PgState.open(pg, schema), output, clock)
        return holder["runtime"]

    @app.agent(output.events)
    async def journeys(stream):
        async for events in stream.take_events(batch, within=0.05):
            records = [(e.message.partition, e.message.offset, e.value) for e in events]
            await (await runtime()).handle(records)

    @app.timer(0.2)
    async def timers():
        owned = [tp.partition for tp in app.consumer.assignment() if tp.topic == names.events]
        await (await runtime()).fire_timers(owned)

    if sender is not None:
        sends: dict[str, PgSendQueue] = {}
        opening_queue = asyncio.Lock()
        now = (clock or SystemClock()).now

        async def queue() -> PgSendQueue:
            async with opening_queue:
                if "queue" not in sends:
                    sends["queue"] = await PgSendQueue.open(pg, schema)
            return sends["queue"]

        @app.agent(output.commands)
        async def deliver(stream):
            """Book each command into its rate limits and queue it for its time."""
            async for events in stream.take_events(500, within=0.05):
                await (await queue()).enqueue([orjson.loads(e.value) for e in events], sender.limits, now())

        @app.timer(0.2)
        async def send_due():
            """Send what is due, ~1 s of work per tick at most (other workers share the rest)."""
            started = time.monotonic()
            while time.monotonic() - started < 1.0 and await _send_batch(await queue(), await runtime()):
                pass

        async def _send_batch(q: PgSendQueue, rt: DistributedRuntime) -> int:
            due = await q.take_due(now())
            if not due:
                return 0
            paused = await asyncio.to_thread(sender.paused_journeys, [c for c, _ in due])
            held = [c["message_id"] for c, _ in due if is_held(paused, c)]
            await q.hold(held, now() + HOLD_RECHECK)
            items = [(c, attempted) for c, attempted in due if c["message_id"] not in set(held)]
            keys = sorted({key_of(c["workspace"], c["contact_id"]) for c, _ in items})
            contacts, _ = await rt.state.load(keys, lock=False)
            events = await asyncio.to_thread(sender.deliver_queued, items, contacts, paused)
            await output.results(events, [])  # acks first: then the rows may go
            await q.done([c["message_id"] for c, _ in items])
            return len(due)

    return app
