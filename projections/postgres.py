"""The read model on PostgreSQL (distributed deployment), fed from Kafka partitions.

One code path: the same ``projections.handlers`` build the tables and the same
``projections.queries`` read them as in the embedded SQLite read model. ``PgConnection``
gives a psycopg 3 connection SQLite's face (``execute``/``executemany`` returning a
cursor with ``fetchone``/``fetchall``/iteration/``rowcount``) and rewrites each
statement with ``projections.pg_dialect.translate``. Numbers are sent untyped, so that
PostgreSQL gives a parameter the type of its column the way SQLite's column affinity
does (a ``node_id`` of ``5`` becomes the text ``'5'`` on both), and ``numeric`` results
(``SUM`` over ``BIGINT``) come back as ``int`` (or ``float``), as from SQLite.

``PgReadModel`` owns one PostgreSQL schema (default ``switchback``): the read-model
tables of ``projections.schema`` translated by ``pg_dialect.ddl()``, plus
``projection_offsets(name, partition, "offset")``, the last Kafka offset of each
partition whose rows are committed. ``apply(partition, batch)`` projects a batch of one
partition in one transaction together with that offset; records at or below the stored
offset are skipped, so a redelivery after a crash or a rebalance changes nothing (and
events are idempotent by ``id`` anyway, see ``handlers``).

``events.position``: Kafka has no global order, so the raw ``events`` row of a record
at ``offset`` in ``partition`` gets ``position = partition * 2**40 + offset``: unique,
and increasing within a partition, which holds all of a contact's events (the key is
``contact_id``), so "a contact's newest events first" means the same on both databases.
Offsets stay below 2**40 and partitions below 2**23 (the position fits in a BIGINT).

``checksum()`` hashes the tables exactly as ``projections.projector.checksum`` does for
a SQLite read model, so the two compare equal for the same events.
"""

from __future__ import annotations

import hashlib
import itertools
import time
from decimal import Decimal
from operator import itemgetter
from typing import Any, Iterable, Iterator, Sequence

import orjson
import psycopg
from psycopg import sql
from psycopg.adapt import Dumper, Loader

from engine.pgconfig import check_schema, ensure_schema
from projections import handlers, pg_dialect, schema
from projections.projector import NAME

__all__ = ["MAX_OFFSET", "MAX_PARTITION", "PgConnection", "PgCursor", "PgReadModel", "connect", "event_position"]

OFFSET_BITS = 40
MAX_OFFSET = 2**OFFSET_BITS - 1
MAX_PARTITION = 2**23 - 1
RETRIES = 5  # a deadlock on shared counter rows (journey_node_stats) with another partition


def event_position(partition: int, offset: int) -> int:
    """The ``events.position`` of the record at ``offset`` in ``partition``."""
    if not 0 <= partition <= MAX_PARTITION:
        raise ValueError(f"partition {partition} is out of range (0..{MAX_PARTITION})")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValueError(f"offset {offset} is out of range (0..{MAX_OFFSET})")
    return (partition << OFFSET_BITS) + offset


# -- the sqlite3-style connection ------------------------------------------------------
class _Untyped(Dumper):
    """A number sent as untyped text: PostgreSQL reads it as the column's or operator's type."""

    def dump(self, obj: Any) -> bytes:
        return str(int(obj) if isinstance(obj, bool) else obj).encode()


class _Number(Loader):
    """``numeric`` results as ``int`` when whole, else ``float`` (the read model stores no numeric)."""

    def load(self, data: Any) -> int | float:
        value = Decimal(bytes(data).decode())
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)


def _params(params: Sequence[Any] | None) -> tuple[Any, ...]:
    if isinstance(params, dict):
        raise NotImplementedError("named parameters are not supported on PostgreSQL: use ? placeholders")
    return tuple(params) if params is not None else ()


class PgCursor:
    """What ``conn.execute`` returns: the sqlite3 cursor calls the read model uses."""

    lastrowid = None  # the read-model tables have no row ids

    def __init__(self, cursor: psycopg.Cursor):
        self._cursor = cursor

    def execute(self, statement: str, params: Sequence[Any] | None = ()) -> PgCursor:
        self._cursor.execute(pg_dialect.translate(statement), _params(params))
        return self

    def executemany(self, statement: str, seq_of_params: Iterable[Sequence[Any]]) -> PgCursor:
        self._cursor.executemany(pg_dialect.translate(statement), [_params(p) for p in seq_of_params])
        return self

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> tuple | None:
        return self._cursor.fetchone() if self._cursor.description is not None else None

    def fetchmany(self, size: int = 1) -> list[tuple]:
        return self._cursor.fetchmany(size) if self._cursor.description is not None else []

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall() if self._cursor.description is not None else []

    def __iter__(self) -> Iterator[tuple]:
        return iter(self._cursor) if self._cursor.description is not None else iter(())

    def close(self) -> None:
        self._cursor.close()


class PgConnection:
    """A psycopg connection (autocommit, the schema on the search_path) with sqlite3's calls.

    Transactions are explicit: ``with conn.transaction(): ...`` (psycopg's).
    """

    def __init__(self, raw: psycopg.Connection):
        self.raw = raw

    def execute(self, statement: str, params: Sequence[Any] | None = ()) -> PgCursor:
        return PgCursor(self.raw.cursor()).execute(statement, params)

    def executemany(self, statement: str, seq_of_params: Iterable[Sequence[Any]]) -> PgCursor:
        return PgCursor(self.raw.cursor()).executemany(statement, seq_of_params)

    def cursor(self) -> PgCursor:
        return PgCursor(self.raw.cursor())

    def transaction(self) -> Any:
        return self.raw.transaction()

    def commit(self) -> None:
        self.raw.commit()

    def rollback(self) -> None:
        self.raw.rollback()

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> PgConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(dsn: str, schema_name: str = "switchback") -> PgConnection:
    """A connection for ``projections.queries`` (and handlers) on the read model in ``schema_name``."""
    check_schema(schema_name)
    raw = psycopg.connect(dsn, autocommit=True)
    try:
        for kind in (int, float, bool):
            raw.adapters.register_dumper(kind, _Untyped)
        raw.adapters.register_loader("numeric", _Number)
        raw.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema_name)))
    except BaseException:
        raw.close()
        raise
    return PgConnection(raw)


def _sqlite_value(value: Any) -> Any:
    """A PostgreSQL value as SQLite would return it (for ``checksum``)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal):
        return int(value) if value.is_finite() and value == value.to_integral_value() else float(value)
    return value


# -- the read model ----------------------------------------------------------------------
class PgReadModel:
    """The read model in PostgreSQL ``schema``, built partition by partition from Kafka."""

    def __init__(self, dsn: str, schema: str = "switchback", name: str = NAME):
        self.dsn, self.schema, self.name = dsn, check_schema(schema), name
        self.db = connect(dsn, schema)
        try:
            self.create()
        except BaseException:
            self.db.close()
            raise

    def create(self) -> None:
        """Create the schema, helpers, tables and indexes that do not exist yet."""
        ensure_schema(self.dsn, self.schema)
        raw = self.db.raw
        with raw.transaction():  # one creator at a time: CREATE OR REPLACE FUNCTION does not race well
            raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"switchback.read_model.{self.schema}",))
            # The DDL runs in this one transaction with the offsets table last: if that table
            # and every read-model table exist, everything does. Skipping then matters: CREATE
            # INDEX IF NOT EXISTS still locks its table, and against another process already
            # applying rows that can deadlock. (Tables added by a newer version are created.)
            present = raw.execute("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = %s"
                                  " AND tablename = ANY(%s)",
                                  (self.schema, [*schema.TABLES, "projection_offsets"])).fetchone()[0]
            if present < len(schema.TABLES) + 1:
                for statement in (*pg_dialect.PRELUDE, *pg_dialect.ddl(), pg_dialect.OFFSETS_DDL):
                    raw.execute(statement)

    def connect(self) -> PgConnection:
        """A new connection for ``projections.queries``; the caller closes it."""
        return connect(self.dsn, self.schema)

    def position(self, partition: int) -> int:
        """The last offset of ``partition`` whose rows are committed; -1 before the first."""
        row = self.db.raw.execute('SELECT "offset" FROM projection_offsets WHERE name = %s AND partition = %s',
                                  (self.name, partition)).fetchone()
        return row[0] if row else -1

    def positions(self) -> dict[int, int]:
        """The last committed offset of every partition seen so far (where a consumer resumes + 1)."""
        rows = self.db.raw.execute('SELECT partition, "offset" FROM projection_offsets WHERE name = %s',
                                   (self.name,))
        return dict(rows.fetchall())

    def apply(self, partition: int, batch: list[tuple[int, dict[str, Any]]]) -> int:
        """Project ``(offset, event)`` records of one partition in one transaction with the
        partition's offset; returns how many events were new.

        Records at or below the stored offset (a redelivery) are skipped; the offset never
        moves backwards. On an error nothing of the batch stays, and the error is raised
        (a deadlock with another partition's transaction is retried first).
        """
        ordered = sorted(batch, key=itemgetter(0))
        for offset, _ in ordered:
            event_position(partition, offset)  # range checks before anything is written
        if not ordered:
            return 0
        for attempt in itertools.count(1):
            try:
                with self.db.transaction():
                    return self._apply(partition, ordered)
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                if attempt >= RETRIES:
                    raise
                time.sleep(0.02 * attempt)
        raise AssertionError("unreachable")

    def _apply(self, partition: int, ordered: list[tuple[int, dict[str, Any]]]) -> int:
        # Lock the partition's offset row first: two consumers briefly owning the same
        # partition (a rebalance) then take turns, and the second skips what the first did.
        stored = self.db.raw.execute(
            'INSERT INTO projection_offsets(name, partition, "offset") VALUES (%s, %s, -1)'
            ' ON CONFLICT (name, partition) DO UPDATE SET "offset" = projection_offsets."offset"'
            ' RETURNING "offset"', (self.name, partition)).fetchone()[0]
        new, last = 0, stored
        for offset, event in ordered:
            if offset <= last:
                continue
            new += handlers.apply(self.db, event_position(partition, offset), event)
            last = offset
        if last > stored:
            self.db.raw.execute('UPDATE projection_offsets SET "offset" = %s WHERE name = %s AND partition = %s',
                                (last, self.name, partition))
        return new

    def checksum(self) -> dict[str, str]:
        """Per read-model table, a SHA-256 of its rows: equal to ``projector.checksum`` of a
        SQLite read model with the same rows (``events.position`` left out, NULLs first,
        text in byte order, values as SQLite returns them)."""
        raw, sums = self.db.raw, {}
        with raw.transaction():
            raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")  # one snapshot
            for table in schema.TABLES:
                columns = [r[0] for r in raw.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s"
                    " AND table_name = %s ORDER BY ordinal_position", (self.schema, table)) if r[0] != "position"]
                names = [sql.Identifier(c) for c in columns]
                query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
                    sql.SQL(", ").join(names), sql.Identifier(table),
                    sql.SQL(", ").join(sql.SQL("{} NULLS FIRST").format(n) for n in names))
                digest = hashlib.sha256()
                for row in raw.execute(query):
                    digest.update(orjson.dumps(tuple(_sqlite_value(v) for v in row)))
                    digest.update(b"\n")
                sums[table] = digest.hexdigest()
        return sums

    def drop(self) -> None:
        """Drop the read model (tables, offsets, helpers), then the schema if nothing else is in
        it: the distributed runtime may keep its own tables in the same schema. For a rebuild:
        ``drop()``, ``create()``, then replay the topics from the start."""
        raw = self.db.raw
        with raw.transaction():
            for table in (*schema.TABLES, "projection_offsets"):
                raw.execute(sql.SQL("DROP TABLE IF EXISTS {}.{}").format(
                    sql.Identifier(self.schema), sql.Identifier(table)))
            raw.execute(sql.SQL("DROP FUNCTION IF EXISTS {}.round(double precision, integer)").format(
                sql.Identifier(self.schema)))
            raw.execute(sql.SQL("DROP COLLATION IF EXISTS {}.nocase").format(sql.Identifier(self.schema)))
        try:
            raw.execute(sql.SQL("DROP SCHEMA IF EXISTS {}").format(sql.Identifier(self.schema)))
        except psycopg.errors.DependentObjectsStillExist:
            pass  # other tables live there: keep them

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> PgReadModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
