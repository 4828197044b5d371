"""Segments at the API edge: backfill, static imports, member lists, exports, the sweep.

Membership changes are events. The engine keeps dynamic segments up to date event by
event (``engine.processing``); what it cannot see is written here, through
``services.append``, as ``segment.entered`` / ``segment.exited`` events:

- **backfill** when a dynamic segment is created or its rule changes: the members by
  the SQL compiler (``projections.segment_sql``) are compared with the current members
  (``segment_membership`` rows with ``exited_at IS NULL``); the difference becomes
  events (source ``api``). The engine drops any that its own evaluation already made.
- **static segments**: an import lists the members (contact ids or emails); added ids
  enter, removed ones exit (source ``import``). Deleting a segment lets everyone exit.
- **sweep**: time-relative rules (``within``, ``last_order_at`` vs ``P90D``) change as
  time passes. The engine re-checks contacts it has seen at the exact instant (a
  timer); ``sweep`` re-runs the backfill of every time-relative segment, which also
  catches contacts without any event since the segment was saved.
  ``SegmentSweeper`` runs it periodically.

Reads use ``services.read_db()`` with ``?`` placeholders (SQLite, or the PostgreSQL
adapter of the distributed deployment).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.worker import Worker
from journeys.events import iso_from_epoch
from journeys.segments import is_time_relative
from projections import segment_sql
from projections.queries import decode_cursor, encode_cursor

logger = logging.getLogger("switchback.segments")
CHUNK = 1000
EXPORT_PAGE = 1000
MAX_IMPORT_ROWS = 500_000
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock(workspace: str, segment_id: str) -> threading.Lock:
    """One membership change of a segment at a time (in this process)."""
    with _locks_guard:
        return _locks.setdefault((workspace, segment_id), threading.Lock())


def dialect_of(conn: Any) -> str:
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgres"


@contextmanager
def reading(services: Any) -> Iterator[Any]:
    """A read connection: the embedded one is kept per thread; a PostgreSQL one (a new
    connection per ``read_db()``) is closed afterwards."""
    conn = services.read_db()
    try:
        yield conn
    finally:
        if dialect_of(conn) != "sqlite":
            conn.close()


# -- reads -------------------------------------------------------------------------------
def current_members(conn: Any, workspace: str, segment_id: str) -> set[str]:
    rows = conn.execute("SELECT DISTINCT contact_id FROM segment_membership"
                        " WHERE workspace = ? AND segment_id = ? AND exited_at IS NULL", (workspace, segment_id))
    return {row[0] for row in rows}


def member_count(conn: Any, workspace: str, segment_id: str) -> int:
    return conn.execute("SELECT COUNT(DISTINCT contact_id) FROM segment_membership"
                        " WHERE workspace = ? AND segment_id = ? AND exited_at IS NULL",
                        (workspace, segment_id)).fetchone()[0]


_MEMBER_COLUMNS = ("contact_id", "entered_at", "email", "phone", "first_name", "last_name")


def _members(conn: Any, workspace: str, segment_id: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    where, params = "m.workspace = ? AND m.segment_id = ? AND m.exited_at IS NULL", [workspace, segment_id]
    if after is not None:
        where += " AND m.contact_id > ?"
        params.append(after)
    rows = conn.execute(
        "SELECT m.contact_id, MIN(m.entered_at), MAX(c.email), MAX(c.phone), MAX(c.first_name), MAX(c.last_name)"
        " FROM segment_membership m LEFT JOIN contacts c ON c.workspace = m.workspace AND c.contact_id = m.contact_id"
        f" WHERE {where} GROUP BY m.contact_id ORDER BY m.contact_id LIMIT ?", (*params, limit)).fetchall()
    return [dict(zip(_MEMBER_COLUMNS, row)) for row in rows]


def members_page(conn: Any, workspace: str, segment_id: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """Current members ordered by contact id; ``cursor`` as in ``/v1/contacts`` (ValueError if foreign)."""
    after = decode_cursor(cursor) if cursor else None
    rows = _members(conn, workspace, segment_id, after, limit + 1)
    items = rows[:limit]
    next_cursor = encode_cursor(items[-1]["contact_id"]) if len(rows) > limit else None
    return {"items": items, "next_cursor": next_cursor, "total": member_count(conn, workspace, segment_id)}


def export_csv(services: Any, workspace: str, segment_id: str) -> Iterator[str]:
    """The current members as CSV text, page by page (each page one complete query, so
    the stream may continue on another thread)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_MEMBER_COLUMNS)
    after = None
    while True:
        with reading(services) as conn:
            rows = _members(conn, workspace, segment_id, after, EXPORT_PAGE)
        for row in rows:
            writer.writerow([_csv_cell(row[c]) for c in _MEMBER_COLUMNS])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < EXPORT_PAGE:
            return
        after = rows[-1]["contact_id"]


def _csv_cell(value: Any) -> str:
    """Text for a spreadsheet: a leading = + - @ would be read as a formula; quote it."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def qualifying(conn: Any, rule: dict[str, Any], workspace: str, now: float) -> set[str]:
    """Contact ids the rule selects in the read model (the SQL compiler)."""
    segment_sql.prepare(conn)
    sql, params = segment_sql.select_members_sql(rule, workspace, now, dialect_of(conn))
    return {row[0] for row in conn.execute(sql, params)}


def preview(conn: Any, rule: dict[str, Any], workspace: str, now: float, limit: int = 20) -> dict[str, Any]:
    """How many contacts a (checked) rule selects, and a few of them."""
    dialect = dialect_of(conn)
    count = segment_sql.count_members(conn, rule, workspace, now, dialect)
    ids = segment_sql.sample_members(conn, rule, workspace, now, dialect, limit=limit)
    return {"count": count, "sample": contacts_of(conn, workspace, ids)}


def contacts_of(conn: Any, workspace: str, ids: list[str]) -> list[dict[str, Any]]:
    """``contact_id``, email and names of ``ids`` (in that order)."""
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = conn.execute("SELECT contact_id, email, first_name, last_name FROM contacts WHERE workspace = ?"
                            f" AND contact_id IN ({','.join('?' * len(chunk))})", (workspace, *chunk))
        for cid, email, first, last in rows:
            found[cid] = {"contact_id": cid, "email": email, "first_name": first, "last_name": last}
    return [found.get(cid, {"contact_id": cid}) for cid in ids]


# -- writes ------------------------------------------------------------------------------
def membership_events(workspace: str, segment_id: str, entered: set[str], exited: set[str], now: float,
                      run: str, source: str = "api", version: int | None = None) -> list[dict[str, Any]]:
    """Envelopes for the difference; ids derive from (segment, contact, change, ``run``).
    ``version``: the definition the difference was computed from (the engine treats the
    events as facts while it still runs an older one)."""
    stamp = iso_from_epoch(now)
    data: dict[str, Any] = {"segment_id": segment_id}
    if version is not None:
        data["version"] = version
    records = []
    for kind, ids in (("segment.exited", exited), ("segment.entered", entered)):
        for contact_id in sorted(ids):
            digest = hashlib.blake2b(f"{workspace}|{segment_id}|{kind}|{contact_id}|{run}".encode(),
                                     digest_size=12).hexdigest()
            records.append({"id": f"sg_{digest}", "type": kind, "workspace": workspace, "contact_id": contact_id,
                            "occurred_at": stamp, "received_at": stamp, "source": source,
                            "data": dict(data)})
    return records


def _catch_up(services: Any, timeout: float = 5.0) -> None:
    """Embedded: let the read model show everything logged so far before diffing with it."""
    log = getattr(services, "log", None)
    if log is not None and hasattr(services, "wait_projected"):
        services.wait_projected(log.head(), timeout)


def _write(services: Any, records: list[dict[str, Any]]) -> bool:
    projected = True
    for start in range(0, len(records), CHUNK):
        chunk = records[start:start + CHUNK]
        positions = services.append(chunk)
        projected = services.wait_visible(chunk, positions) and projected
    return projected


def _apply_difference(services: Any, workspace: str, segment_id: str, wanted: set[str], current: set[str],
                      now: float, run: str, source: str, version: int | None = None) -> dict[str, Any]:
    entered, exited = wanted - current, current - wanted
    records = membership_events(workspace, segment_id, entered, exited, now, run, source, version)
    projected = _write(services, records) if records else True
    return {"entered": len(entered), "exited": len(exited), "unchanged": len(wanted & current),
            "projected": projected}


def backfill(services: Any, workspace: str, segment: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """Make a dynamic segment's recorded members those its rule selects now."""
    now = services.clock.now() if now is None else now
    with _lock(workspace, segment["id"]):
        _catch_up(services)
        with reading(services) as conn:
            wanted = qualifying(conn, segment["rule"], workspace, now)
            current = current_members(conn, workspace, segment["id"])
        return _apply_difference(services, workspace, segment["id"], wanted, current, now,
                                 f"{segment.get('version', 0)}:{int(now * 1000)}", "api", segment.get("version"))


def set_static_members(services: Any, workspace: str, segment_id: str, ids: set[str], mode: str = "replace",
                       now: float | None = None) -> dict[str, Any]:
    """Static segments: ``replace`` the members by ``ids``, ``add`` them or ``remove`` them."""
    now = services.clock.now() if now is None else now
    with _lock(workspace, segment_id):
        _catch_up(services)
        with reading(services) as conn:
            current = current_members(conn, workspace, segment_id)
        wanted = {"replace": ids, "add": current | ids, "remove": current - ids}[mode]
        return _apply_difference(services, workspace, segment_id, wanted, current, now,
                                 f"import:{mode}:{int(now * 1000)}", "import")


def remove_everyone(services: Any, workspace: str, segment: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """A deleted segment (its last definition): every current member exits."""
    now = services.clock.now() if now is None else now
    segment_id = segment["id"]
    with _lock(workspace, segment_id):
        _catch_up(services)
        with reading(services) as conn:
            current = current_members(conn, workspace, segment_id)
        return _apply_difference(services, workspace, segment_id, set(), current, now,
                                 f"deleted:{int(now * 1000)}", "api", segment.get("version"))


def sweep(services: Any, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Backfill every time-relative dynamic segment of every workspace; per segment the counts."""
    results = {}
    for workspace, definition in services.definitions.segments():
        rule = definition.get("rule")
        if definition.get("kind") != "dynamic" or rule is None or not is_time_relative(rule):
            continue
        try:
            results[f"{workspace}/{definition['id']}"] = backfill(services, workspace, definition, now)
        except Exception:  # one broken segment does not stop the others; the next sweep retries
            logger.exception("sweep of segment %s/%s failed", workspace, definition["id"])
    return results


class SegmentSweeper:
    """Runs ``sweep`` every ``every`` seconds (at start, then periodically) in a daemon thread."""

    def __init__(self, services: Any, every: float = 900.0):
        self.services, self.every = services, every
        self._wake = threading.Event()
        self.worker = Worker("segment-sweep", self._once, self._idle, wake=self._wake.set)

    def _once(self) -> int:
        sweep(self.services)
        return 0

    def _idle(self) -> None:
        self._wake.wait(self.every)

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)


# -- static imports ----------------------------------------------------------------------
def parse_member_csv(text: str) -> tuple[list[tuple[int, str, str]], list[dict[str, Any]]]:
    """Rows ``(line, "contact_id"|"email", value)`` and errors ``{"line", "column"?, "error"}``.
    The first line names the columns: ``contact_id`` (or ``id``) and/or ``email``."""
    rows: list[tuple[int, str, str]] = []
    errors: list[dict[str, Any]] = []
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return rows, [{"line": 1, "error": f"unreadable CSV header: {exc}"}]
    names = [h.strip().lower() for h in header or []]
    id_col = next((i for i, n in enumerate(names) if n in ("contact_id", "id")), None)
    email_col = names.index("email") if "email" in names else None
    if id_col is None and email_col is None:
        return rows, [{"line": 1, "error": "the first line must name a 'contact_id' or an 'email' column"}]
    while True:
        line = reader.line_num + 1  # where the next record starts
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            errors.append({"line": line, "error": f"broken CSV row ({exc}); check its quotes"})
            break
        if cells is None:
            break
        if len(rows) + len(errors) >= MAX_IMPORT_ROWS:
            errors.append({"line": line, "error": f"more than {MAX_IMPORT_ROWS} rows; split the file"})
            break
        if not any(c.strip() for c in cells):
            continue
        given = cells[id_col].strip() if id_col is not None and id_col < len(cells) else ""
        email = cells[email_col].strip() if email_col is not None and email_col < len(cells) else ""
        if given:
            rows.append((line, "contact_id", given))
        elif email:
            if _EMAIL.match(email):
                rows.append((line, "email", email.lower()))
            else:
                errors.append({"line": line, "column": "email", "error": f"{email!r} is not an email address"})
        else:
            errors.append({"line": line, "error": "the row has no contact_id and no email"})
    return rows, errors


def resolve_members(conn: Any, workspace: str, rows: list[tuple[int, str, str]]) -> tuple[set[str], list[dict[str, Any]]]:
    """Contact ids of the rows (emails through the contacts table) and the rows that name
    no known contact."""
    by_email: dict[str, str] = {}
    known: set[str] = set()
    emails = sorted({v for _, kind, v in rows if kind == "email"})
    ids = sorted({v for _, kind, v in rows if kind == "contact_id"})
    for start in range(0, len(emails), 500):
        chunk = emails[start:start + 500]
        for cid, email in conn.execute(
                "SELECT contact_id, lower(email) FROM contacts WHERE workspace = ?"
                f" AND lower(email) IN ({','.join('?' * len(chunk))}) ORDER BY contact_id DESC", (workspace, *chunk)):
            by_email[email] = cid  # the lowest id wins, as in find_contact_by_address
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        known.update(row[0] for row in conn.execute(
            f"SELECT contact_id FROM contacts WHERE workspace = ? AND contact_id IN ({','.join('?' * len(chunk))})",
            (workspace, *chunk)))
    members: set[str] = set()
    errors = []
    for line, kind, value in rows:
        found = by_email.get(value) if kind == "email" else (value if value in known else None)
        if found is None:
            errors.append({"line": line, "column": kind, "error": f"no contact with {kind.replace('_', ' ')} {value!r}"})
        else:
            members.add(found)
    return members, errors
