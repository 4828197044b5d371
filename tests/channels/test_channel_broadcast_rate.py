"""A broadcast at 600 messages/min sends at that rate (±2 %) over a minute of virtual time,
and keeps the rest queued in order."""

from __future__ import annotations

import orjson

from journeys.events import parse_time
from tests.support import settle

RECIPIENTS = 700
BURST = 10  # one second's worth of sends go at once


def test_a_broadcast_at_600_per_minute_sends_600_in_its_first_minute(app_client):
    c = app_client
    assert c.put("/v1/templates/promo", json={"channel": "email", "subject": "Sale", "html": "<p>Sale</p>",
                                              "text": "Sale"}).status_code == 200
    batch = [{"type": "contact.created", "contact_id": f"c{i}", "data": {"email": f"c{i}@example.com", "tags": ["vip"]}}
             for i in range(RECIPIENTS)]
    assert c.post("/v1/events", json={"batch": batch}).status_code == 202
    settle(c)
    start = c.get("/v1/status").json()["clock"]["now"]
    created = c.post("/v1/broadcasts", json={"name": "Flash sale", "channel": "email", "template": "promo",
                                             "audience": {"tags": ["vip"]}, "rate_limit_per_minute": 600})
    assert created.status_code == 201, created.text
    def sent_and_elapsed() -> tuple[list[dict], float]:
        rows = c.services.log.connection().execute("SELECT body FROM log WHERE type = 'message.sent'").fetchall()
        return [orjson.loads(r[0]) for r in rows], c.get("/v1/status").json()["clock"]["now"] - start

    elapsed, first = 0.0, None
    while first is None or elapsed - first < 60:  # a virtual minute, two seconds at a time (the clock also moves with real time)
        c.post("/v1/testing/clock/advance", json={"duration": "PT2S"})
        settle(c, timeout=30)
        sent, elapsed = sent_and_elapsed()
        if sent:  # the bookings start when the runtime has queued the first commands
            first = min(parse_time(e["occurred_at"]) - start for e in sent)
            assert len(sent) <= BURST + (elapsed - first) * 10 + 1, "sent ahead of the rate"

    assert len({e["data"]["message_id"] for e in sent}) == len(sent), "a message was sent twice"
    per_minute = (len(sent) - BURST) / (elapsed - first) * 60
    assert 588 <= per_minute <= 612, (len(sent), elapsed, per_minute)
    assert all(parse_time(e["occurred_at"]) - start <= elapsed for e in sent)
    progress = c.get(f"/v1/broadcasts/{created.json()['id']}").json()
    assert progress["progress"]["targeted"] == RECIPIENTS and progress["progress"]["sent"] == len(sent) < RECIPIENTS
