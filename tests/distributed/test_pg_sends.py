"""The distributed sender's queue in PostgreSQL: rate-limit bookings shared by workers,
one sender per message, leases that expire, and paused journeys put back."""

from __future__ import annotations

import asyncio

import pytest

from engine.pg_sends import LEASE, PgSendQueue
from engine.ratelimit import Bucket
from tests.support import PG

NOW = 1_800_000_000.0


def commands(n, prefix="m"):
    return [{"message_id": f"{prefix}{i:04d}", "workspace": "default", "contact_id": f"c{i}", "channel": "email",
             "journey_id": "broadcast-b1", "template": "t", "rate_limit": {"per_minute": 600}} for i in range(n)]


def limit_600(command):
    return [Bucket("campaign:default:broadcast-b1:email", 600, 10)]


def run(coro):
    return asyncio.run(coro)


def test_bookings_space_sends_at_the_rate_across_workers_and_redeliveries(pg_schema):
    async def go():
        a, b = await PgSendQueue.open(PG, pg_schema), await PgSendQueue.open(PG, pg_schema)
        try:
            batch = commands(600)
            await asyncio.gather(a.enqueue(batch[:300], limit_600, NOW), b.enqueue(batch[300:], limit_600, NOW))
            await a.enqueue(batch[:50], limit_600, NOW)  # a redelivered batch is queued once, booked again
            cur = await a.conn.execute(f'SELECT send_at FROM "{pg_schema}".scheduled_sends ORDER BY send_at')
            times = [t - NOW for (t,) in await cur.fetchall()]
            assert len(times) == 600
            # 600/min with a burst of 10: within the first minute at most 610, spaced evenly after the burst
            assert sum(1 for t in times if t < 60) in range(588, 611)
            assert len(set(round(t, 6) for t in times)) >= 590  # distinct slots: no slot booked twice
        finally:
            await a.close()
            await b.close()
    run(go())


def test_each_due_send_is_leased_to_one_worker_and_an_expired_lease_comes_back_attempted(pg_schema):
    async def go():
        a, b = await PgSendQueue.open(PG, pg_schema), await PgSendQueue.open(PG, pg_schema)
        try:
            await a.enqueue(commands(50), lambda c: [], NOW)
            first, second = await asyncio.gather(a.take_due(NOW, 30), b.take_due(NOW, 30))
            ids = [c["message_id"] for c, _ in first + second]
            assert len(ids) == 50 and len(set(ids)) == 50
            assert not any(attempted for _, attempted in first + second)
            assert await a.take_due(NOW + 1) == []  # leased, not due again yet
            await a.done(ids[:40])
            again = await b.take_due(NOW + LEASE + 1)  # the worker holding the other 10 died
            assert sorted(c["message_id"] for c, _ in again) == sorted(ids[40:])
            assert all(attempted for _, attempted in again)
            await b.hold([c["message_id"] for c, _ in again], NOW + LEASE + 5)  # paused: back, unsent
            assert await b.counts(NOW + LEASE + 1) == (0, 10)
            back = await a.take_due(NOW + LEASE + 6)
            assert len(back) == 10 and not any(attempted for _, attempted in back)
        finally:
            await a.close()
            await b.close()
    run(go())


def test_the_agent_and_the_timer_share_one_queue_concurrently(pg_schema):
    """The worker's deliver agent enqueues while its timer takes due sends, on one
    connection: their transactions must not interleave (that crashed a worker once)."""
    async def go():
        q = await PgSendQueue.open(PG, pg_schema)
        try:
            taken = []

            async def agent():
                for i in range(20):
                    await q.enqueue(commands(10, prefix=f"b{i}-"), lambda c: [], NOW)
                    await asyncio.sleep(0)

            async def timer():
                for _ in range(60):
                    due = await q.take_due(NOW + 1)
                    await q.done([c["message_id"] for c, _ in due])
                    taken.extend(c["message_id"] for c, _ in due)
                    await asyncio.sleep(0)

            await asyncio.gather(agent(), timer())
            taken.extend(c["message_id"] for c, _ in await q.take_due(NOW + 1, limit=1000))
            assert len(taken) == 200 and len(set(taken)) == 200
        finally:
            await q.close()
    run(go())


@pytest.mark.parametrize("bad", ["a'); DROP TABLE scheduled_sends;--", "x\"y"])
def test_odd_message_ids_and_bucket_names_are_data(pg_schema, bad):
    async def go():
        q = await PgSendQueue.open(PG, pg_schema)
        try:
            [command] = commands(1)
            command["message_id"] = bad
            await q.enqueue([command], lambda c: [Bucket(f"campaign:{bad}", 60, 1)], NOW)
            [(got, _)] = await q.take_due(NOW)
            assert got["message_id"] == bad
        finally:
            await q.close()
    run(go())
