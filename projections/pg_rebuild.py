"""Rebuild and compare the PostgreSQL read model (distributed deployment) from Kafka.

The distributed read model has no log of its own: ``switchback project`` fills it from
the topics ``<ns>.events`` and ``<ns>.engine`` and stores, per partition, the last offset
whose rows are committed (``projection_offsets``). A rebuild replays each partition
from offset 0 up to exactly that stored offset into a staging schema
(``<schema>_rebuild``: fresh tables, same handlers), so the rebuilt tables stand at the
same position as the live ones and any table group can be swapped in. The swap is one
transaction: the live tables of the group are dropped and the staging ones moved into
the live schema (``ALTER TABLE ... SET SCHEMA``, indexes go along), keeping the grants the
live tables had (the analyst role's SELECT). ``compare`` builds the same staging schema
and lists the differing rows instead of swapping, then drops it.

What is supported, precisely:

- the ``switchback project`` processes must be stopped during a rebuild (the swap checks
  that the live offsets did not move, and refuses otherwise); events produced meanwhile
  stay in Kafka and are projected when they start again;
- the topics must still hold every record from offset 0: Kafka deletes records older than
  the topics' ``retention.ms`` (7 days as created by ``switchback worker``). When a
  partition's first offset is above 0 the rebuild stops with a message, unless
  ``allow_partial`` (the rebuilt tables then miss the deleted records);
- engine topic partitions are numbered ``partition + 2**20``, as in ``projections.stream``.

``replay(model, batches)`` takes any ``(partition, [(offset, event), ...])`` batches, so
the staging build can be fed from another source (tests feed lists).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Iterator

import orjson
import psycopg
from psycopg import sql

from engine.pgconfig import check_schema
from projections import pg_dialect, schema
from projections.postgres import PgConnection, PgReadModel, connect
from projections.projector import NAME
from projections.rebuild_sqlite import TableDiff, table_diffs

ENGINE_PARTITIONS = 1 << 20  # the same numbering as projections.stream
Batch = tuple[int, list[tuple[int, dict[str, Any]]]]
Progress = Callable[[str, int, int], None]


class RebuildError(RuntimeError):
    """The rebuild cannot be done as asked; the message says why and what to do."""


def staging_name(live: str) -> str:
    return check_schema(f"{live[:55]}_rebuild")


class StagingModel(PgReadModel):
    """Fresh read-model tables in the staging schema. The helpers (``nocase``, ``round``)
    stay in the live schema, found through the search path, so moved tables keep working."""

    def __init__(self, dsn: str, live: str):
        self.dsn, self.live, self.schema, self.name = dsn, check_schema(live), staging_name(live), NAME
        self.db = connect(dsn, live)
        try:
            self.create()
        except BaseException:
            self.db.close()
            raise

    def create(self) -> None:
        raw, staging = self.db.raw, sql.Identifier(self.schema)
        with raw.transaction():
            raw.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(staging))
            raw.execute(sql.SQL("CREATE SCHEMA {}").format(staging))
            raw.execute(sql.SQL("SET search_path TO {}, {}").format(staging, sql.Identifier(self.live)))
            for statement in (*pg_dialect.ddl(), pg_dialect.OFFSETS_DDL):
                raw.execute(statement)

    def drop(self) -> None:
        self.db.raw.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema)))


def replay(model: PgReadModel, batches: Iterable[Batch], progress: Progress | None = None) -> int:
    """Apply the batches; returns how many records were read."""
    total = 0
    for partition, rows in batches:
        model.apply(partition, rows)
        total += len(rows)
        if progress:
            progress("replay", total, 0)
    return total


def kafka_batches(bootstrap: str, namespace: str, targets: dict[int, int], *, batch: int = 2000,
                  allow_partial: bool = False, idle_timeout: float = 30.0,
                  progress: Progress | None = None) -> Iterator[Batch]:
    """Records of ``<ns>.events`` and ``<ns>.engine`` from offset 0 up to ``targets[partition]``
    (inclusive), as ``(partition, [(offset, event)])`` batches; stops when every partition
    reached its target. RebuildError when a partition is missing, was trimmed by retention
    (unless ``allow_partial``) or stops yielding records for ``idle_timeout`` seconds."""
    from kafka import KafkaConsumer, TopicPartition

    from engine.kafka import TopicNames

    names = TopicNames(namespace)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", key_deserializer=None, value_deserializer=None)
    try:
        wanted: dict[Any, int] = {}
        for partition, target in sorted(targets.items()):
            if target < 0:
                continue
            topic, number = ((names.engine, partition - ENGINE_PARTITIONS) if partition >= ENGINE_PARTITIONS
                             else (names.events, partition))
            if number not in (consumer.partitions_for_topic(topic) or set()):
                raise RebuildError(f"the read model has rows from {topic} partition {number}, which Kafka at"
                                   f" {bootstrap} does not have (wrong SWITCHBACK_NAMESPACE?)")
            wanted[TopicPartition(topic, number)] = target
        if not wanted:
            return
        consumer.assign(list(wanted))
        consumer.seek_to_beginning(*wanted)
        for tp, first in consumer.beginning_offsets(list(wanted)).items():
            if first > 0 and not allow_partial:
                raise RebuildError(
                    f"{tp.topic} partition {tp.partition} starts at offset {first}: Kafka deleted older records"
                    " (retention.ms), so the read model cannot be rebuilt exactly; pass --allow-partial to"
                    " rebuild from what is left")
        left = dict(wanted)
        read = 0
        quiet_since = time.monotonic()
        total = sum(t + 1 for t in wanted.values())
        while left:
            polled = consumer.poll(timeout_ms=500, max_records=batch)
            if not polled:
                if time.monotonic() - quiet_since > idle_timeout:
                    raise RebuildError("Kafka stopped delivering before the stored offsets were reached: "
                                       + ", ".join(f"{tp.topic}[{tp.partition}] at {consumer.position(tp)}"
                                                   f" of {t + 1}" for tp, t in sorted(left.items())))
                continue
            quiet_since = time.monotonic()
            for tp, records in polled.items():
                target = left.get(tp)
                if target is None:
                    continue
                rows = []
                for record in records:
                    if record.offset > target:
                        break
                    event = _decode(record.value)
                    if event is not None:
                        rows.append((record.offset, event))
                read += len(records)
                partition = tp.partition + (ENGINE_PARTITIONS if tp.topic == names.engine else 0)
                if rows:
                    yield partition, rows
                if records[-1].offset >= target or consumer.position(tp) > target:
                    del left[tp]
                    consumer.pause(tp)
            if progress:
                progress("kafka", min(read, total), total)
    finally:
        consumer.close()


def _decode(value: bytes | None) -> dict[str, Any] | None:
    """What ``projections.stream`` projects of a record: a JSON object with ``id`` and ``type``."""
    try:
        event = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        return None
    event.setdefault("workspace", "default")
    return event


def _grants(raw: psycopg.Connection, schema_name: str, table: str) -> list[tuple[str | None, str]]:
    """``(grantee or None for PUBLIC, privilege)`` of a table, its owner's own left out."""
    return raw.execute(
        "SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END, a.privilege_type"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a"
        " WHERE n.nspname = %s AND c.relname = %s AND a.grantee <> c.relowner ORDER BY 1, 2",
        (schema_name, table)).fetchall()


def build(dsn: str, live: str, batches: Callable[[dict[int, int]], Iterable[Batch]],
          progress: Progress | None = None) -> tuple[PgReadModel, StagingModel, dict[int, int]]:
    """The live model, a staging model replayed up to the live offsets, and those offsets."""
    model = PgReadModel(dsn, live)
    try:
        targets = model.positions()
        staging = StagingModel(dsn, live)
    except BaseException:
        model.close()
        raise
    try:
        replay(staging, batches(targets), progress)
        reached = staging.positions()
        short = {p: (reached.get(p, -1), t) for p, t in targets.items() if t >= 0 and reached.get(p, -1) != t}
        if short:
            raise RebuildError("the replay did not reach the stored offsets: " + ", ".join(
                f"partition {p} at {got} of {want}" for p, (got, want) in sorted(short.items())))
    except BaseException:
        staging.drop()
        staging.close()
        model.close()
        raise
    return model, staging, targets


def rebuild(dsn: str, live: str, batches: Callable[[dict[int, int]], Iterable[Batch]],
            projection: str | None = None, progress: Progress | None = None) -> tuple[str, ...]:
    """Replay into staging, then swap the group's tables in (one transaction); returns them."""
    tables = schema.group_tables(projection)
    model, staging, targets = build(dsn, live, batches, progress)
    try:
        raw = model.db.raw
        with raw.transaction():
            raw.execute("LOCK TABLE projection_offsets IN SHARE ROW EXCLUSIVE MODE")  # projectors wait
            if model.positions() != targets:
                raise RebuildError("the live read model moved during the rebuild: stop the `switchback project`"
                                   " processes, rebuild, then start them again")
            for table in tables:
                grants = _grants(raw, live, table)
                raw.execute(sql.SQL("DROP TABLE {}.{}").format(sql.Identifier(live), sql.Identifier(table)))
                raw.execute(sql.SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(
                    sql.Identifier(staging.schema), sql.Identifier(table), sql.Identifier(live)))
                for grantee, privilege in grants:
                    raw.execute(sql.SQL("GRANT {} ON {}.{} TO {}").format(
                        sql.SQL(privilege), sql.Identifier(live), sql.Identifier(table),
                        sql.SQL("PUBLIC") if grantee is None else sql.Identifier(grantee)))
        if progress:
            progress("swapped", len(tables), len(tables))
        return tables
    finally:
        staging.drop()
        staging.close()
        model.close()


def compare(dsn: str, live: str, batches: Callable[[dict[int, int]], Iterable[Batch]],
            projection: str | None = None, progress: Progress | None = None) -> list[TableDiff]:
    """Rebuild into staging (up to the live offsets) and list the differing rows per table."""
    tables = schema.group_tables(projection)
    model, staging, _ = build(dsn, live, batches, progress)
    try:
        conn: PgConnection = model.db

        def columns(table: str) -> list[str]:
            return [r[0] for r in conn.raw.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                " ORDER BY ordinal_position", (live, table)) if r[0] != "position"]

        quoted = sql.Identifier(live).as_string(conn.raw), sql.Identifier(staging.schema).as_string(conn.raw)
        return table_diffs(conn, quoted[0], quoted[1], tables, columns)
    finally:
        staging.drop()
        staging.close()
        model.close()
