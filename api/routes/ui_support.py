"""Small reads the web UI's screens need and no other route gives.

``GET /v1/analytics/daily``: the daily rollups (``daily_message_stats``, ``daily_revenue``;
docs/analytics.md) of one journey or one broadcast, or of the whole workspace, day by day,
with their totals (the analytics screen's time series and funnel). Reads go through
``services.read_db()`` with ``?`` placeholders and portable SQL, so they run on SQLite and
on PostgreSQL alike. Roles: admin, marketer, analyst.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from api.auth import READERS, Caller, allow
from api.errors import ApiError
from api.reading import reading

router = APIRouter(tags=["analytics"])

STATUSES = ("queued", "sent", "delivered", "opened", "clicked", "bounced", "complained", "failed", "suppressed")
MAX_DAYS = 366


def _where(workspace: str, journey_id: str | None, broadcast_id: str | None) -> tuple[str, list[Any]]:
    sql, args = "workspace = ?", [workspace]
    if journey_id is not None:
        sql, args = sql + " AND journey_id = ?", [*args, journey_id]
    if broadcast_id is not None:
        sql, args = sql + " AND broadcast_id = ?", [*args, broadcast_id]
    return sql, args


def daily(conn: Any, workspace: str, journey_id: str | None, broadcast_id: str | None,
          since: str | None) -> dict[str, Any]:
    """Per day: message counts by status, orders and revenue (per currency); plus totals."""
    where, args = _where(workspace, journey_id, broadcast_id)
    if since is not None:
        where, args = where + " AND day >= ?", [*args, since]
    sums = ", ".join(f"SUM({s})" for s in STATUSES)
    days: dict[str, dict[str, Any]] = {}

    def day(name: str) -> dict[str, Any]:
        return days.setdefault(name, {"day": name, **{s: 0 for s in STATUSES}, "orders": 0, "revenue": {}})

    for row in conn.execute(f"SELECT day, {sums} FROM daily_message_stats WHERE {where} GROUP BY day", args):
        day(row[0]).update({s: int(v or 0) for s, v in zip(STATUSES, row[1:])})
    for row in conn.execute(f"SELECT day, currency, SUM(orders), SUM(revenue) FROM daily_revenue WHERE {where}"
                            " GROUP BY day, currency", args):
        entry = day(row[0])
        entry["orders"] += int(row[2] or 0)
        entry["revenue"][row[1] or ""] = round(float(row[3] or 0), 2)
    items = [days[d] for d in sorted(days)]
    totals: dict[str, Any] = {s: sum(i[s] for i in items) for s in (*STATUSES, "orders")}
    revenue: dict[str, float] = {}
    for item in items:
        for currency, amount in item["revenue"].items():
            revenue[currency] = round(revenue.get(currency, 0.0) + amount, 2)
    totals["revenue"] = revenue
    return {"journey_id": journey_id, "broadcast_id": broadcast_id, "days": items, "totals": totals}


@router.get("/v1/analytics/daily", summary="Messages by status, orders and revenue per day (one journey, broadcast, or all)")
async def analytics_daily(request: Request,
                          journey_id: str | None = Query(default=None, min_length=1, max_length=200),
                          broadcast_id: str | None = Query(default=None, min_length=1, max_length=200),
                          days: int | None = Query(default=None, ge=1, le=MAX_DAYS,
                                                   description="only the last N days (of the engine's clock)"),
                          who: Caller = Depends(allow(*READERS))):
    if journey_id is not None and broadcast_id is not None:
        raise ApiError(422, "validation_error", "ask for a journey or a broadcast, not both",
                       [{"loc": "broadcast_id", "message": "leave out journey_id or broadcast_id"}])
    services = request.app.state.services
    since = None
    if days is not None:
        now = dt.datetime.fromtimestamp(services.clock.now(), tz=dt.timezone.utc)
        since = (now - dt.timedelta(days=days - 1)).strftime("%Y-%m-%d")

    def run() -> dict[str, Any]:
        with reading(services) as conn:
            return daily(conn, who.workspace, journey_id, broadcast_id, since)

    return await run_in_threadpool(run)
