"""Distributed runtime benchmarks (Kafka + PostgreSQL). Prints one JSON line per figure
(docs/benchmarks.md).

Everything runs against a Tansu broker started here (tests/kafka_broker.py; or the broker
named by ``SWITCHBACK_TEST_KAFKA``) and PostgreSQL (``--pg``), in fresh topic namespaces
and fresh PostgreSQL schemas that are dropped at the end.

1. ``baseline_faust_counting_events_per_s``: a bare Faust agent (``async for value in
   stream: count += 1``, raw values, same partition count, Faust's defaults) in its own
   process reads the same number of pre-produced records; events/s from its first record
   to its last. It runs right before and right after the one-worker phase; the figure
   (and the ratio) use the mean of the two, both are printed.
2. ``distributed_transitions_per_s_per_worker``: ``--events`` envelopes (per contact:
   ``contact.created`` then ``cart.updated``) are pre-produced into ``<ns>.events``
   with the library's abandoned-cart journey published; then ONE real ``switchback
   worker`` process drains them (state, offsets in PostgreSQL; its emitted
   ``journey.*`` events go back into the same topic, which it also reads). Each
   ``cart.updated`` enters the journey and makes 2 transitions (node entries: start,
   wait_order). Progress is read from the worker's committed offsets in PostgreSQL
   (``consumer_offsets``): within a partition the pre-produced records come first and
   the producer's acks say where each ``cart.updated`` landed, so committed offsets say
   exactly how many transitions are committed. The clock runs from the first commit seen
   once every worker owns partitions (start-up and group join excluded; Faust's log
   says when) to the commit that covers every pre-produced record. Afterwards the
   ``journey.node_entered`` records in the topic are counted as a check (total and
   distinct ids). The PostgreSQL tables are created before the workers start.
3. ``distributed_two_worker_speedup``: the same with two worker processes in one
   consumer group (fresh namespace and schema); 2-worker throughput / 1-worker
   throughput.

Usage: python bench/distributed.py [--events 100000] [--partitions 12] [--timeout 180]
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
PG = "postgresql://postgres@127.0.0.1:5432/test"
STAMP = "2026-11-21T10:00:00Z"
TARGET = 10_000
CONSUMER = "journeys"  # engine.distributed.CONSUMER
ASSIGNED = "Setting newly assigned partitions"  # Faust's log line once a worker owns partitions
REVOKED = "Revoking previously assigned partitions"  # once per worker per group join (rebalance)


def emit(figure: str, **values) -> None:
    print(json.dumps({"figure": figure, **values, "machine": f"{platform.machine()} {os.cpu_count()} cores",
                      "python": platform.python_version()}), flush=True)


def envelope(event_id, kind, contact, data):
    return {"id": event_id, "type": kind, "workspace": "default", "contact_id": contact,
            "occurred_at": STAMP, "received_at": STAMP, "source": "api", "data": data}


def script(events: int):
    """contact.created + cart.updated per contact (a generator: nothing big stays alive)."""
    for n in range(events):
        i = n // 2
        c = f"c{i}"
        if n % 2 == 0:
            yield envelope(f"a{i}", "contact.created", c, {"email": f"{c}@example.com"})
        else:
            yield envelope(f"b{i}", "cart.updated", c, {"cart_id": f"k{i}"})


def produce(bootstrap: str, names, events: int, topic: str | None = None) -> dict[int, list[int]]:
    """Pre-produce the script; returns, per partition, the offsets of its ``cart.updated``
    records and (last item) the partition's end offset, from the producer's acks (Tansu
    0.6's ListOffsets answers the last batch's base offset + 1, not the end)."""
    from engine.kafka import EventProducer, wait_all

    placed: dict[int, list[int]] = {}
    ends: dict[int, int] = {}
    with EventProducer(bootstrap, names, client_id="bench") as producer:
        chunk = []
        for record in script(events):
            chunk.append((record["type"] == "cart.updated", producer.send(record, topic)))
            if len(chunk) == 10_000:
                _settle(producer, chunk, placed, ends, wait_all)
                chunk = []
        _settle(producer, chunk, placed, ends, wait_all)
    return {p: sorted(placed.get(p, [])) + [end] for p, end in ends.items()}


def _settle(producer, chunk, placed, ends, wait_all) -> None:
    wait_all([f for _, f in chunk], producer.timeout, "Kafka (bench script)")
    for is_cart, future in chunk:
        meta = future.get()
        ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
        if is_cart:
            placed.setdefault(meta.partition, []).append(meta.offset)


def count_types(bootstrap: str, topic: str, kind: str, timeout: float = 60) -> tuple[int, int]:
    """How many records of ``kind`` the topic holds, and how many distinct ids (reads until
    nothing more comes; the topic no longer grows when this is called)."""
    import orjson
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-count", enable_auto_commit=False,
                             max_partition_fetch_bytes=4 * 1024 * 1024)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        found, ids, idle, seen = 0, set(), 0, False
        deadline = time.monotonic() + timeout
        while idle < (3 if seen else 20):  # the first fetches may come back empty
            if time.monotonic() > deadline:
                raise RuntimeError(f"counting {kind} in {topic} took more than {timeout}s")
            batches = consumer.poll(timeout_ms=300, max_records=10_000)
            idle = 0 if batches else idle + 1
            seen = seen or bool(batches)
            for records in batches.values():
                for record in records:
                    event = orjson.loads(record.value)
                    if event.get("type") == kind:
                        found += 1
                        ids.add(event["id"])
        return found, len(ids)
    finally:
        consumer.close()


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


# -- baseline: a bare Faust counting agent -------------------------------------------------

def run_counter(kafka: str, topic: str, count: int, out: str) -> None:
    """``--role counter``: count ``count`` records of ``topic``, write the timing to ``out``."""
    import faust

    app = faust.App(f"bench-counter-{uuid.uuid4().hex[:8]}", broker=f"kafka://{kafka}", broker_session_timeout=10,
                    web_enabled=False, datadir=str(Path(out).parent / "counter-data"),
                    consumer_auto_offset_reset="earliest", key_serializer="raw", value_serializer="raw",
                    topic_allow_declare=False, topic_disable_leader=True)
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")
    seen = {"n": 0, "first": 0.0}

    @app.agent(source)
    async def counter(stream):
        async for _value in stream:
            seen["n"] += 1
            if seen["n"] == 1:
                seen["first"] = time.perf_counter()
            if seen["n"] == count:
                seconds = time.perf_counter() - seen["first"]
                tmp = out + ".tmp"
                Path(tmp).write_text(json.dumps({"events": count, "seconds": seconds}))
                os.replace(tmp, out)  # the parent reads it, then stops this process

    faust.Worker(app, loglevel="warning").execute_from_commandline()


def bench_baseline(bootstrap: str, events: int, partitions: int, timeout: float, tmp: Path) -> dict:
    from engine.kafka import TopicNames, ensure_topics

    topic = f"bench{uuid.uuid4().hex[:10]}.baseline"
    ensure_topics(bootstrap, [topic], partitions=partitions)
    produce(bootstrap, TopicNames("bench"), events, topic)
    run = uuid.uuid4().hex[:8]
    out, log_path = tmp / f"counter-{run}.json", tmp / f"counter-{run}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--role", "counter", "--kafka", bootstrap,
                             "--topic", topic, "--count", str(events), "--out", str(out)],
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while not out.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the counting agent did not finish: " + tail(log_path))
            time.sleep(0.1)
        result = json.loads(out.read_text())
    finally:
        stop(proc)
        log.close()
    return {"events": result["events"], "seconds": result["seconds"],
            "rate": (result["events"] - 1) / result["seconds"]}


# -- the real workers ----------------------------------------------------------------------

def definitions_file(path: Path) -> None:
    from engine.definitions import Definitions
    from journeys.library import library_journey, library_templates

    definitions = Definitions(path)
    for template in library_templates():
        definitions.save_template("default", template)
    definitions.save_draft("default", library_journey("abandoned-cart"))
    definitions.publish("default", "abandoned-cart")
    definitions.close()


def committed(schema: str, conn) -> dict[int, int] | None:
    """The worker's committed offsets (partition -> last offset), None before the table exists."""
    import psycopg
    from psycopg import sql

    try:
        rows = conn.execute(sql.SQL('SELECT partition, "offset" FROM {}.consumer_offsets WHERE consumer = %s').format(
            sql.Identifier(schema)), (CONSUMER,)).fetchall()
    except psycopg.errors.UndefinedTable:
        return None
    return {p: o for p, o in rows}


def progress(offsets: dict[int, int], placed: dict[int, list[int]]) -> tuple[int, int]:
    """(pre-produced records covered, transitions committed): per partition the script's
    records come first (``placed``: cart.updated offsets + the end offset, see produce);
    2 transitions (start, wait_order) per committed cart.updated."""
    covered = transitions = 0
    for partition, marks in placed.items():
        *carts, end = marks
        done = min(offsets.get(partition, -1) + 1, end)
        covered += done
        transitions += 2 * bisect.bisect_left(carts, done)
    return covered, transitions


def create_tables(schema: str) -> None:
    """Create the workers' tables before they start: two workers creating them at once on
    a fresh schema race (``CREATE TABLE IF NOT EXISTS`` is not concurrency-safe in
    PostgreSQL; one worker crashes with UniqueViolation on pg_type)."""
    import asyncio

    from engine.pg_state import PgState
    from engine.providers.pg_outbox import PgOutboxProvider

    async def state_tables() -> None:
        await (await PgState.open(PG, schema)).close()

    asyncio.run(state_tables())
    PgOutboxProvider(PG, schema)._conn().close()


def revocations(procs) -> int:
    return sum(p.log_path.read_text(errors="replace").count(REVOKED) for p in procs)


def bench_workers(bootstrap: str, workers: int, events: int, partitions: int, timeout: float, tmp: Path) -> dict:
    import psycopg

    from engine.kafka import TopicNames, ensure_topics
    from tests.distributed.processes import Process

    tag = uuid.uuid4().hex[:10]
    names, schema = TopicNames(f"bench{tag}"), f"sb_bench_{tag}"
    run_dir = tmp / f"workers{workers}-{tag}"
    run_dir.mkdir()
    definitions_file(run_dir / "definitions.db")
    ensure_topics(bootstrap, names, partitions=partitions)
    placed = produce(bootstrap, names, events)
    total, want = progress({p: marks[-1] - 1 for p, marks in placed.items()}, placed)
    env = {"SWITCHBACK_KAFKA": bootstrap, "SWITCHBACK_PG": PG, "SWITCHBACK_NAMESPACE": names.namespace,
           "SWITCHBACK_PG_SCHEMA": schema, "SWITCHBACK_DEFINITIONS": str(run_dir / "definitions.db"),
           "TMPDIR": str(run_dir)}  # the workers' Faust data dirs go away with the bench's temp dir
    procs = []
    try:
        create_tables(schema)
        started = time.monotonic()
        procs = [Process(["worker", "--partitions", str(partitions)], env, run_dir / f"worker{i}.log").start()
                 for i in range(workers)]
        with psycopg.connect(PG, autocommit=True) as conn:
            deadline = started + timeout
            first = None  # (time, transitions, covered) at the first commit after every worker got partitions
            while True:
                now = time.monotonic()
                offsets = committed(schema, conn)
                if offsets:
                    covered, transitions = progress(offsets, placed)
                    if first is None and all(ASSIGNED in p.log_path.read_text(errors="replace") for p in procs):
                        first = (now, transitions, covered, revocations(procs))
                    if first is not None and covered >= total:
                        break
                dead = [p for p in procs if p.proc.poll() is not None]
                if dead or now > deadline:
                    why = "a worker exited" if dead else f"not done in {timeout}s"
                    raise RuntimeError(f"{why}; covered {offsets and progress(offsets, placed)} of {total}\n"
                                       + "\n".join(p.output() for p in procs))
                time.sleep(0.05)
        seconds = now - first[0]
        rebalances = revocations(procs) - first[3]
        result = {"transitions": transitions - first[1], "seconds": seconds,
                  "rate": (transitions - first[1]) / seconds, "records": covered - first[2],
                  "startup_s": first[0] - started, "rebalances": rebalances}
    finally:
        for p in procs:
            p.stop()
        drop_schema(schema)
    # bookkeeping events no journey reacts to are written to <ns>.engine (docs/kafka.md)
    result["node_entered_in_topic"], result["node_entered_ids"] = count_types(bootstrap, names.engine,
                                                                              "journey.node_entered")
    result["expected_transitions"] = want
    return result


def stop(proc: subprocess.Popen) -> None:
    from tests.support import stop_process

    stop_process(proc)


def tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except FileNotFoundError:
        return ""


def main() -> None:
    global PG
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="pre-produced envelopes per run")
    parser.add_argument("--partitions", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=180, help="seconds any one phase may take")
    parser.add_argument("--pg", default=PG)
    parser.add_argument("--role", choices=["bench", "counter"], default="bench", help=argparse.SUPPRESS)
    parser.add_argument("--kafka", help=argparse.SUPPRESS)
    parser.add_argument("--topic", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "counter":
        sys.argv = sys.argv[:1]  # Faust's worker must not see the bench's arguments
        run_counter(args.kafka, args.topic, args.count, args.out)
        return
    PG = args.pg
    from tests.kafka_broker import KafkaBroker

    events = args.events - args.events % 2  # whole contacts
    with tempfile.TemporaryDirectory(prefix="switchback-bench-") as tmp, KafkaBroker() as broker:
        tmp = Path(tmp)
        # the counting agent runs right before and right after the one-worker phase, and the
        # ratio uses their mean: load from elsewhere on a shared machine drifts during a run
        before = bench_baseline(broker.bootstrap, events, args.partitions, args.timeout, tmp)
        one = bench_workers(broker.bootstrap, 1, events, args.partitions, args.timeout, tmp)
        after = bench_baseline(broker.bootstrap, events, args.partitions, args.timeout, tmp)
        base_rate = (before["rate"] + after["rate"]) / 2
        emit("baseline_faust_counting_events_per_s", value=round(base_rate), unit="events/s",
             before_worker=round(before["rate"]), after_worker=round(after["rate"]),
             events=before["events"], partitions=args.partitions)
        emit("distributed_transitions_per_s_per_worker", value=round(one["rate"]), unit="transitions/s",
             target=TARGET, ratio_to_faust_counting=round(one["rate"] / base_rate, 3), target_ratio=0.6,
             input_events=events, transitions=one["transitions"], seconds=round(one["seconds"], 3),
             input_events_per_s=round(one["records"] / one["seconds"]), startup_s=round(one["startup_s"], 2),
             rebalances_during_run=one["rebalances"],
             node_entered_in_topic=one["node_entered_in_topic"], node_entered_ids=one["node_entered_ids"], expected_transitions=one["expected_transitions"],
             partitions=args.partitions)
        two = bench_workers(broker.bootstrap, 2, events, args.partitions, args.timeout, tmp)
        emit("distributed_two_worker_speedup", value=round(two["rate"] / one["rate"], 2), unit="x",
             one_worker_transitions_per_s=round(one["rate"]), two_workers_transitions_per_s=round(two["rate"]),
             transitions=two["transitions"], seconds=round(two["seconds"], 3), startup_s=round(two["startup_s"], 2),
             rebalances_during_run=two["rebalances"],
             node_entered_in_topic=two["node_entered_in_topic"], node_entered_ids=two["node_entered_ids"], expected_transitions=two["expected_transitions"],
             partitions=args.partitions)


if __name__ == "__main__":
    main()
