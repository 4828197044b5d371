"""Rebuild the embedded (SQLite) read model from the event log, and compare two builds.

``rebuild(log_path, read_path, projection=None)`` replays the whole log into fresh
tables named ``rebuild_<table>`` in the same file, while the live tables keep serving
readers (and the running projector keeps updating them). Then, in one transaction
holding the write lock, it projects what the log gained meanwhile into both, drops the
live tables, renames the fresh ones into their place, recreates the indexes and stores
the position: readers see the old tables or the new ones, never a half-built one. An
interrupted rebuild leaves only ``rebuild_*`` tables behind; the next one drops them.

``projection`` names a table group (``schema.GROUPS``: contacts, events, messages,
journeys, orders, offers, segments) or one of its tables: only that group is replaced.
The replay itself always runs every handler (duplicates are recognised by ``events``,
attributions read ``messages``), and at the swap every table is at the same log
position, so a partial swap is consistent.

``compare(read_path, log_path=...)`` builds a fresh read model in a scratch file up to
the live position and lists, table by table, the rows only one side has (``compare(...,
against=OTHER_DB)`` compares two existing files). ``events.position`` is left out, as in
``projector.checksum``.

Handlers write the fresh tables through ``Renamed``: a connection wrapper that prefixes
the table names in each statement (a name counts as a table after FROM, INTO, UPDATE,
JOIN, TABLE, EXISTS, ON or before a dot; ``daily_revenue.orders`` stays a column).
"""

from __future__ import annotations

import re
import sqlite3
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from engine import log as event_log
from projections import handlers, schema
from projections.pg_dialect import tokenize
from projections.projector import NAME, Projector, connect

PREFIX = "rebuild_"
Progress = Callable[[str, int, int], None]  # (phase, position, head)

_INDEX = re.compile(r"CREATE\s+INDEX\s+IF\s+NOT\s+EXISTS\s+(\w+)\s+ON\s+(\w+)", re.I)
_STATEMENTS = [s.strip() for s in schema.DDL.split(";") if s.strip()]
INDEXES = {m.group(1).lower(): m.group(2).lower() for s in _STATEMENTS if (m := _INDEX.match(s))}
_TABLE_WORDS = {"FROM", "INTO", "UPDATE", "JOIN", "TABLE", "EXISTS", "ON"}
_TABLES = frozenset(schema.TABLES)


@lru_cache(maxsize=1024)
def renamed(sql: str, prefix: str = PREFIX) -> str:
    """``sql`` with every read-model table (and index) name prefixed."""
    tokens = tokenize(sql)
    sig = [i for i, (kind, _) in enumerate(tokens) if kind not in ("space", "comment")]
    out = [text for _, text in tokens]
    for n, i in enumerate(sig):
        kind, text = tokens[i]
        if kind != "word":
            continue
        word = text.lower()
        before = tokens[sig[n - 1]] if n else ("", "")
        after = tokens[sig[n + 1]][1] if n + 1 < len(sig) else ""
        if word in INDEXES:
            out[i] = prefix + text
        elif word in _TABLES and before[1] != "." and (before[1].upper() in _TABLE_WORDS or after == "."):
            out[i] = prefix + text
    return "".join(out)


class Renamed:
    """The calls handlers make on a sqlite3 connection, aimed at the ``rebuild_*`` tables."""

    def __init__(self, conn: sqlite3.Connection, prefix: str = PREFIX):
        self.conn, self.prefix = conn, prefix

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(renamed(sql, self.prefix), params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> sqlite3.Cursor:
        return self.conn.executemany(renamed(sql, self.prefix), seq)


def _live_indexes(tables: Iterable[str]) -> list[str]:
    wanted = set(tables)
    return [s for s in _STATEMENTS if (m := _INDEX.match(s)) and m.group(2).lower() in wanted]


def _position(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT position FROM projection_positions WHERE name = ?", (NAME,)).fetchone()
    return row[0] if row else 0


def _drain(target: Any, log: sqlite3.Connection, after: int, end: int, batch: int) -> int:
    """Apply log rows in ``(after, end]`` through ``target`` (inside the caller's transaction)."""
    position = after
    while position < end:
        rows = [(p, e) for p, e in event_log.read(log, position, batch) if p <= end]
        if not rows:
            break
        for p, event in rows:
            handlers.apply(target, p, event)
        position = rows[-1][0]
    return position


@dataclass
class RebuildResult:
    position: int
    tables: tuple[str, ...]
    events: int = 0


def rebuild(log_path: str | Path, read_path: str | Path, projection: str | None = None, batch: int = 5000,
            progress: Progress | None = None) -> RebuildResult:
    """Replay the log into fresh tables and swap them in (see the module docstring)."""
    tables = schema.group_tables(projection)
    conn = connect(read_path)
    log = event_log.connect(log_path)
    try:
        log.executescript(event_log.SCHEMA)
        schema.create(conn)
        fresh = Renamed(conn)
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in schema.TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {PREFIX}{table}")
            for statement in _STATEMENTS:
                if "projection_positions" not in statement:
                    fresh.execute(statement)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        head, position = event_log.head(log), 0
        if progress:
            progress("replay", 0, head)
        while position < head:  # one transaction per batch: the live projector gets its turns
            rows = [(p, e) for p, e in event_log.read(log, position, batch) if p <= head]
            if not rows:
                break
            conn.execute("BEGIN IMMEDIATE")
            try:
                for p, event in rows:
                    handlers.apply(fresh, p, event)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            position = rows[-1][0]
            if progress:
                progress("replay", position, head)
        return _swap(conn, log, fresh, position, tables, batch, progress)
    finally:
        log.close()
        conn.close()


def _swap(conn: sqlite3.Connection, log: sqlite3.Connection, fresh: Renamed, position: int,
          tables: tuple[str, ...], batch: int, progress: Progress | None) -> RebuildResult:
    conn.execute("BEGIN IMMEDIATE")  # from here on the live projector waits
    try:
        end = event_log.head(log)
        position = _drain(fresh, log, position, end, batch)
        live = _drain(conn, log, _position(conn), end, batch)
        end = max(position, live, _position(conn))
        for table in schema.TABLES:
            if table in tables:
                conn.execute(f"DROP TABLE {table}")
                conn.execute(f"ALTER TABLE {PREFIX}{table} RENAME TO {table}")
            else:
                conn.execute(f"DROP TABLE {PREFIX}{table}")
        for index, table in INDEXES.items():
            if table in tables:
                conn.execute(f"DROP INDEX IF EXISTS {PREFIX}{index}")
        for statement in _live_indexes(tables):
            conn.execute(statement)
        conn.execute("INSERT INTO projection_positions(name, position) VALUES (?, ?) ON CONFLICT(name)"
                     " DO UPDATE SET position = excluded.position", (NAME, end))
        events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if progress:
        progress("swapped", end, end)
    return RebuildResult(end, tables, events)


# -- comparing two builds -------------------------------------------------------------------
@dataclass
class TableDiff:
    """Rows of ``table`` only the live build has (``only_live``) or only the other one."""

    table: str
    only_live: int = 0
    only_other: int = 0
    live_rows: int = 0
    other_rows: int = 0
    samples_live: list[tuple] = field(default_factory=list)
    samples_other: list[tuple] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return self.only_live == 0 and self.only_other == 0 and self.live_rows == self.other_rows


def table_diffs(conn: Any, live: str, other: str, tables: Iterable[str], columns: Callable[[str], list[str]],
                samples: int = 3) -> list[TableDiff]:
    """Compare ``live.<table>`` with ``other.<table>`` row by row (EXCEPT both ways)."""
    diffs = []
    for table in tables:
        listed = ", ".join(f'"{c}"' for c in columns(table))
        left = f"SELECT {listed} FROM {live}.{table}"
        right = f"SELECT {listed} FROM {other}.{table}"
        diff = TableDiff(table)
        diff.live_rows = conn.execute(f"SELECT COUNT(*) FROM {live}.{table}").fetchone()[0]
        diff.other_rows = conn.execute(f"SELECT COUNT(*) FROM {other}.{table}").fetchone()[0]
        for first, second, count_name, sample_name in ((left, right, "only_live", "samples_live"),
                                                       (right, left, "only_other", "samples_other")):
            setattr(diff, count_name, conn.execute(f"SELECT COUNT(*) FROM ({first} EXCEPT {second}) d").fetchone()[0])
            rows = conn.execute(f"SELECT * FROM ({first} EXCEPT {second}) d ORDER BY 1 LIMIT {int(samples)}")
            setattr(diff, sample_name, [tuple(r) for r in rows])
        diffs.append(diff)
    return diffs


def _sqlite_columns(conn: sqlite3.Connection) -> Callable[[str], list[str]]:
    return lambda table: [r[1] for r in conn.execute(f"PRAGMA main.table_info({table})") if r[1] != "position"]


def compare(read_path: str | Path, log_path: str | Path | None = None, against: str | Path | None = None,
            projection: str | None = None, progress: Progress | None = None) -> list[TableDiff]:
    """Compare the read model at ``read_path`` with ``against`` (another read db), or with a
    fresh build of the log at ``log_path`` up to the same position."""
    if (log_path is None) == (against is None):
        raise ValueError("compare with a log (log_path) or with another read model (against), not both")
    tables = schema.group_tables(projection)
    if against is not None:
        if not Path(against).exists():
            raise FileNotFoundError(f"{against}: no such read model")
        conn = sqlite3.connect(str(read_path))
        try:
            conn.execute("ATTACH DATABASE ? AS other", (str(against),))
            return table_diffs(conn, "main", "other", tables, _sqlite_columns(conn))
        finally:
            conn.close()
    with tempfile.TemporaryDirectory(prefix="switchback-check-") as scratch:
        fresh_path = Path(scratch) / "read.db"
        conn = connect(read_path)
        schema.create(conn)
        try:
            with Projector(log_path, fresh_path) as fresh:
                conn.execute("ATTACH DATABASE ? AS fresh", (str(fresh_path),))
                for _ in range(100):  # the live projector may move on: follow it to a common position
                    target = _position(conn)
                    fresh_at = _drain_projector(fresh, target, progress)
                    conn.execute("BEGIN")
                    try:
                        if _position(conn) == target == fresh_at:
                            return table_diffs(conn, "main", "fresh", tables, _sqlite_columns(conn))
                    finally:
                        conn.execute("COMMIT")
                raise RuntimeError("the read model kept moving; stop the writers and compare again")
        finally:
            conn.close()


def _drain_projector(projector: Projector, end: int, progress: Progress | None) -> int:
    position = projector.position()
    while position < end:
        rows = [(p, e) for p, e in event_log.read(projector.log, position, projector.batch) if p <= end]
        if not rows:
            break
        projector.apply(rows)
        position = rows[-1][0]
        if progress:
            progress("replay", position, end)
    return position
