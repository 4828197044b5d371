"""Segment benchmarks on the PostgreSQL read model: one JSON line per figure.

A fresh schema (dropped at the end) gets the read-model tables (``projections.postgres``)
and ``--contacts`` generated contacts, loaded with COPY: attributes (city, age as text,
plan, score, signup date, email, name), tags (``vip`` for about 20%, ``newsletter``),
order metrics and their ``order.placed`` events over the last 400 days, opens, a few
hard bounces and unsubscribes. Then:

1. ``segment_count_6_clauses_s``: ``projections.segment_sql.count_members`` of a rule
   with six clauses (two attributes, a tag, a metric, an event window, consent), three
   runs. Target: <= 2 s. ``segment_count_6_clauses_scan_s``: six clauses none of which an
   index narrows (three attributes, two metrics, consent): every row's JSON is read.
2. ``segment_backfill_s``: the membership of one segment written in one statement,
   ``INSERT INTO segment_membership SELECT ... FROM (select_members_sql)``. Target: <= 60 s.
3. ``segment_incremental_evaluations_per_s``: the in-memory evaluator
   (``journeys.rules.evaluate``) on contact states just after an event, ten segments'
   rules per event.

Usage: python bench/segments.py [--contacts 1000000] [--dsn postgresql://...]
(the DSN defaults to SWITCHBACK_TEST_PG, then SWITCHBACK_PG, then the local test server).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402
import psycopg  # noqa: E402

from engine.pgconfig import drop_schema  # noqa: E402
from journeys.contact import apply_event, new_contact  # noqa: E402
from journeys.events import iso_from_epoch  # noqa: E402
from journeys.rules import evaluate, parse_rule  # noqa: E402
from projections import pg_dialect, segment_sql  # noqa: E402
from projections.postgres import PgReadModel  # noqa: E402

WS = "default"
DAY = 86400.0
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp()
CITIES = ["Berlin", "Paris", "London", "Madrid", "Rome", "Vienna", "Lisbon", "Oslo", "Prague", "Dublin"]
SIX_CLAUSES = {"all": [
    {"attr": "city", "op": "eq", "value": "berlin"},
    {"attr": "age", "op": "gte", "value": 30},
    {"tag": "vip"},
    {"metric": "lifetime_value", "op": "gt", "value": 50},
    {"event": "order.placed", "within": "P90D"},
    {"subscribed": "email"},
]}
# the same without an indexed clause: every contact's attributes are read
SIX_CLAUSES_SCAN = {"all": [
    {"attr": "city", "op": "eq", "value": "berlin"},
    {"attr": "age", "op": "gte", "value": 30},
    {"attr": "plan", "op": "eq", "value": "pro"},
    {"metric": "lifetime_value", "op": "gt", "value": 50},
    {"metric": "last_order_at", "op": "gte", "value": "P90D"},
    {"subscribed": "email"},
]}
LAPSED = {"all": [{"metric": "order_count", "op": "gte", "value": 1},
                  {"not": {"event": "order.placed", "within": "P90D"}}]}
SEGMENTS = [
    SIX_CLAUSES, LAPSED,
    {"attr": "plan", "value": "pro"},
    {"any": [{"attr": "city", "op": "in", "value": ["Paris", "Lyon"]}, {"tag": "vip"}]},
    {"metric": "last_order_at", "op": "gte", "value": "P30D"},
    {"engaged": "opened", "within": "P7D"},
    {"all": [{"attr": "score", "op": "gt", "value": "75.5"}, {"not": {"tag": "newsletter"}}]},
    {"event": "order.placed", "count": {"gte": 3}},
    {"attr": "email", "op": "contains", "value": "@example."},
    {"not": {"subscribed": "sms"}},
]


def emit(figure: str, **values) -> None:
    print(json.dumps({"figure": figure, **values, "machine": f"{platform.machine()} {os.cpu_count()} cores",
                      "python": platform.python_version()}), flush=True)


def _contact(i: int) -> dict:
    """Contact ``i`` (the same every time it is asked for: one table is copied at a time)."""
    rng = random.Random(i)
    cid = f"c{i:07d}"
    created = iso_from_epoch(NOW - rng.uniform(400, 900) * DAY)
    orders = sorted(NOW - rng.uniform(0, 400) * DAY for _ in range(rng.choice((0, 0, 1, 1, 2, 3, 5))))
    return {
        "id": cid, "created": created, "orders": orders,
        "value": round(sum(rng.randint(500, 20000) / 100 for _ in orders), 2),
        "attributes": {"email": f"{cid}@example.com", "first_name": f"N{i}", "city": rng.choice(CITIES),
                       "age": str(rng.randint(18, 80)), "plan": rng.choice(("free", "free", "pro")),
                       "score": round(rng.uniform(0, 100), 2), "signup": created[:10]},
        "unsubscribed": ["email"] if rng.random() < 0.05 else [],
        "tags": [tag for tag, share in (("vip", 0.2), ("newsletter", 0.5)) if rng.random() < share],
        "opened": NOW - rng.uniform(0, 30) * DAY if rng.random() < 0.3 else None,
        "bounced": NOW - rng.uniform(0, 30) * DAY if rng.random() < 0.01 else None,
    }


def generate(conn: psycopg.Connection, contacts: int) -> dict[str, int]:
    """COPY ``contacts`` contacts, their tags and events into the read-model tables."""
    counts = {"contacts": contacts, "contact_tags": 0, "events": 0}
    with conn.cursor() as cur:
        with cur.copy("COPY contacts (workspace, contact_id, email, first_name, attributes, created_at, updated_at,"
                      " order_count, lifetime_value, last_order_at, unsubscribed) FROM STDIN") as copy:
            for i in range(contacts):
                c = _contact(i)
                a = c["attributes"]
                copy.write_row((WS, c["id"], a["email"], a["first_name"],
                                orjson.dumps(a, option=orjson.OPT_SORT_KEYS).decode(), c["created"], c["created"],
                                len(c["orders"]), c["value"], iso_from_epoch(c["orders"][-1]) if c["orders"] else None,
                                json.dumps(c["unsubscribed"])))
        with cur.copy("COPY contact_tags (workspace, contact_id, tag) FROM STDIN") as copy:
            for i in range(contacts):
                c = _contact(i)
                for tag in c["tags"]:
                    copy.write_row((WS, c["id"], tag))
                    counts["contact_tags"] += 1
        position = 0
        with cur.copy("COPY events (workspace, id, position, contact_id, type, occurred_at, received_at, source, data)"
                      " FROM STDIN") as copy:
            for i in range(contacts):
                c = _contact(i)
                rows = [("contact.created", c["created"], {})]
                rows += [("order.placed", iso_from_epoch(t), {"order_id": f"{c['id']}-{n}"})
                         for n, t in enumerate(c["orders"])]
                if c["opened"]:
                    rows.append(("message.opened", iso_from_epoch(c["opened"]),
                                 {"message_id": f"m{i}", "journey_id": "welcome"}))
                if c["bounced"]:
                    rows.append(("message.bounced", iso_from_epoch(c["bounced"]),
                                 {"message_id": f"b{i}", "bounce_type": "hard"}))
                for kind, at, data in rows:
                    position += 1
                    copy.write_row((WS, f"e{position}", position, c["id"], kind, at, at, "api",
                                    orjson.dumps(data).decode()))
                counts["events"] += len(rows)
    return counts


def timed(conn, sql: str, params: list) -> tuple[float, object]:
    started = time.perf_counter()
    row = conn.execute(sql, params).fetchone()
    return time.perf_counter() - started, row


def incremental(seconds: float = 5.0) -> tuple[float, int]:
    """Evaluations per second of ten segments' rules on contact states after an event."""
    rules = [parse_rule(r) for r in SEGMENTS]
    rng = random.Random(3)
    states = []
    for i in range(2000):
        state = new_contact(f"c{i}")
        for kind, data, age in (("contact.created", {"city": rng.choice(CITIES), "age": str(rng.randint(18, 80)),
                                                     "plan": "pro", "email": f"c{i}@example.com", "score": 50.5,
                                                     "tags": ["vip"] if i % 5 == 0 else ["newsletter"]}, 300),
                                ("order.placed", {"order_id": f"o{i}", "amount": "59.90"}, 100),
                                ("message.opened", {"message_id": "m1", "journey_id": "welcome"}, 3)):
            state = apply_event(state, {"type": kind, "occurred_at": iso_from_epoch(NOW - age * DAY), "data": data})
        states.append(state)
    event = {"type": "order.placed", "occurred_at": iso_from_epoch(NOW - 60), "data": {"order_id": "x", "amount": "10"}}
    evaluations = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for state in states:
            after = apply_event(state, event)
            for rule in rules:
                evaluate(rule, after, NOW)
            evaluations += len(rules)
    return evaluations / (time.perf_counter() - started), len(rules)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--dsn", default=os.environ.get("SWITCHBACK_TEST_PG") or os.environ.get("SWITCHBACK_PG")
                        or "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=3, help="runs of the count")
    args = parser.parse_args()

    schema = f"sb_bench_segments_{uuid.uuid4().hex[:8]}"
    model = PgReadModel(args.dsn, schema)
    try:
        conn = model.db
        started = time.perf_counter()
        counts = generate(conn.raw, args.contacts)
        conn.raw.execute("VACUUM ANALYZE contacts")
        conn.raw.execute("VACUUM ANALYZE contact_tags")
        conn.raw.execute("VACUUM ANALYZE events")
        emit("segment_bench_load_s", seconds=round(time.perf_counter() - started, 1), **counts)

        sql, count_params = segment_sql.select_members_sql(SIX_CLAUSES, WS, NOW, "postgres")
        count_sql = f"SELECT COUNT(*) FROM ({sql}) members"
        runs = []
        for _ in range(args.runs):
            elapsed, row = timed(conn, count_sql, count_params)
            runs.append(elapsed)
        emit("segment_count_6_clauses_s", seconds=round(statistics.median(runs), 3),
             runs=[round(r, 3) for r in runs], members=row[0], contacts=args.contacts, target_s=2.0,
             check=segment_sql.count_members(conn, SIX_CLAUSES, WS, NOW, "postgres") == row[0])
        scan_sql, scan_params = segment_sql.select_members_sql(SIX_CLAUSES_SCAN, WS, NOW, "postgres")
        scan_runs = []
        for _ in range(args.runs):
            elapsed, scan_row = timed(conn, f"SELECT COUNT(*) FROM ({scan_sql}) members", scan_params)
            scan_runs.append(elapsed)
        emit("segment_count_6_clauses_scan_s", seconds=round(statistics.median(scan_runs), 3),
             runs=[round(r, 3) for r in scan_runs], members=scan_row[0], contacts=args.contacts, target_s=2.0)

        sql, params = segment_sql.select_members_sql(LAPSED, WS, NOW, "postgres")
        started = time.perf_counter()
        with conn.transaction():
            cur = conn.execute("INSERT INTO segment_membership (workspace, segment_id, contact_id, entered_at)"
                               f" SELECT ?, ?, m.contact_id, ? FROM ({sql}) m",
                               [WS, "lapsed", iso_from_epoch(NOW), *params])
            inserted = cur.rowcount
        emit("segment_backfill_s", seconds=round(time.perf_counter() - started, 2), rows=inserted,
             contacts=args.contacts, target_s=60.0)

        plan = conn.raw.execute("EXPLAIN " + pg_dialect.translate(count_sql), count_params).fetchall()
        emit("segment_count_plan", nodes=[line[0].strip()[2:].split("  (cost")[0].strip() for line in plan
                                          if line[0].strip().startswith("->")])
    finally:
        model.close()
        drop_schema(args.dsn, schema)

    rate, per_event = incremental()
    emit("segment_incremental_evaluations_per_s", value=round(rate), unit="rule evaluations/s",
         events_per_s=round(rate / per_event), rules_per_event=per_event)


if __name__ == "__main__":
    main()
