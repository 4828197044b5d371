"""The sender around the providers: campaign rate limits kept across restarts, retries,
permanent failures, and no second send of a message that was in flight at a crash."""

from __future__ import annotations

import orjson
import pytest

from engine import state
from engine.log import EventLog
from engine.providers.base import PermanentError, Receipt, TransientError
from engine.providers.outbox import OutboxProvider
from engine.sender import Sender
from journeys.events import parse_time

START = 1_800_000_000.0
TEMPLATE = {"subject": "Hi {{ contact.first_name }}", "html": "<p>Hello</p>", "text": "Hello"}


class Clock:
    def __init__(self, now: float = START):
        self.t = now

    def now(self) -> float:
        return self.t


class Templates:
    def get_template(self, workspace, template_id):
        return TEMPLATE


class Flaky:
    """Fails on demand: ``script`` is a list of exceptions (or None for success) per call."""
    name = "flaky"

    def __init__(self, script=()):
        self.script, self.calls = list(script), []

    def send(self, message):
        self.calls.append(message.message_id)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        return Receipt("flaky", f"p-{message.message_id}")


def open_log(tmp_path) -> EventLog:
    log = EventLog(tmp_path / "events.db")
    log.connection().executescript(state.SCHEMA)
    return log


def add_commands(log: EventLog, count: int, *, per_minute=None, channel="email", prefix="m") -> None:
    commands = []
    for i in range(count):
        command = {"message_id": f"{prefix}{i:05d}", "workspace": "default", "contact_id": f"c{i}",
                   "journey_id": "broadcast-b1", "version": 1, "node_id": "send", "channel": channel,
                   "template": "t", "offer": None, "context": {}}
        if per_minute:
            command["rate_limit"] = {"per_minute": per_minute}
        commands.append(command)
    conn = log.connection()
    with log.transaction(conn):
        state.add_commands(conn, commands, START)
        conn.executemany("INSERT OR REPLACE INTO contact_state(key, body) VALUES (?, ?)", [
            (state.key_of("default", c["contact_id"]), orjson.dumps({
                "id": c["contact_id"], "workspace": "default", "attributes": {"email": f"{c['contact_id']}@example.com",
                                                                            "phone": "+15550001111"},
                "tags": [], "unsubscribed": [], "suppressed": [], "segments": [], "engaged": []}))
            for c in commands])


def events_of(log: EventLog, kind: str | None = None) -> list[dict]:
    rows = log.connection().execute("SELECT body FROM log ORDER BY position").fetchall()
    found = [orjson.loads(r[0]) for r in rows]
    return [e for e in found if kind is None or e["type"] == kind]


def drain(sender: Sender) -> None:
    while sender.run_once():
        pass


def test_a_broadcast_at_600_per_minute_sends_600_in_a_minute_and_a_restart_keeps_the_pace(tmp_path):
    log, clock = open_log(tmp_path), Clock()
    outbox = OutboxProvider(tmp_path / "outbox.db")
    add_commands(log, 1500, per_minute=600)
    sender = Sender(log, Templates(), {"email": outbox}, clock)
    for step in range(1, 121):  # one virtual minute in half-second steps
        drain(sender)
        if step == 60:  # half way: the process restarts; the bucket is not refilled
            sender = Sender(log, Templates(), {"email": outbox}, clock)
        clock.t += 0.5
    drain(sender)
    sent = [parse_time(e["occurred_at"]) - START for e in events_of(log, "message.sent")]
    in_first_minute = sum(1 for t in sent if t < 60)
    assert 588 <= in_first_minute <= 612, in_first_minute  # 600 ± 2 %
    assert len(sent) == len(set(e["data"]["message_id"] for e in events_of(log, "message.sent")))
    # nothing was dropped: the rest is still queued, in order
    queued = log.connection().execute("SELECT COUNT(*) FROM scheduled_sends").fetchone()[0]
    assert queued + len(sent) == 1500


def test_without_a_rate_limit_everything_goes_at_once(tmp_path):
    log, clock = open_log(tmp_path), Clock()
    add_commands(log, 300)
    sender = Sender(log, Templates(), {"email": OutboxProvider(tmp_path / "outbox.db")}, clock)
    drain(sender)
    assert len(events_of(log, "message.sent")) == 300


def test_transient_errors_are_retried_with_backoff_then_succeed(tmp_path):
    log, clock, sleeps = open_log(tmp_path), Clock(), []
    provider = Flaky([TransientError("ses Throttling (HTTP 400): slow down"), TransientError("HTTP 503")])
    add_commands(log, 1)
    sender = Sender(log, Templates(), {"email": provider}, clock, sleep=sleeps.append)
    drain(sender)
    [sent] = events_of(log, "message.sent")
    assert provider.calls == ["m00000"] * 3 and len(sleeps) == 2
    assert sent["data"]["provider_message_id"] == "p-m00000"


def test_a_provider_that_keeps_failing_gives_message_failed_with_its_reason(tmp_path):
    log, clock, sleeps = open_log(tmp_path), Clock(), []
    provider = Flaky([TransientError("HTTP 503 from provider")] * 5)
    add_commands(log, 1)
    drain(Sender(log, Templates(), {"email": provider}, clock, sleep=sleeps.append))
    [failed] = events_of(log, "message.failed")
    assert "HTTP 503 from provider" in failed["data"]["reason"] and failed["data"]["attempts"] == 3
    assert failed["data"]["provider"] == "flaky" and len(provider.calls) == 3
    assert events_of(log, "message.sent") == []


def test_permanent_errors_fail_at_once(tmp_path):
    log, clock, sleeps = open_log(tmp_path), Clock(), []
    provider = Flaky([PermanentError("twilio error 21211 (HTTP 400): invalid 'To' number")])
    add_commands(log, 1, channel="sms")
    drain(Sender(log, Templates(), {"sms": provider}, clock, sleep=sleeps.append))
    [failed] = events_of(log, "message.failed")
    assert "21211" in failed["data"]["reason"] and provider.calls == ["m00000"] and sleeps == []


def test_a_message_in_flight_at_a_crash_is_not_sent_again_by_a_real_provider(tmp_path):
    log, clock = open_log(tmp_path), Clock()
    add_commands(log, 2)
    provider = Flaky()
    sender = Sender(log, Templates(), {"email": provider}, clock)
    sender._queue_new(log.connection(), clock.now(), 10)
    conn = log.connection()
    with log.transaction(conn):  # the crash: the first one was handed over, its events never committed
        conn.execute("UPDATE scheduled_sends SET attempted = 1 WHERE seq = (SELECT MIN(seq) FROM scheduled_sends)")
    drain(Sender(log, Templates(), {"email": provider}, clock))
    assert provider.calls == ["m00001"]
    [failed] = events_of(log, "message.failed")
    assert failed["data"]["message_id"] == "m00000" and failed["data"]["reason"].startswith("interrupted")


def test_the_outbox_is_idempotent_so_an_interrupted_message_is_simply_sent(tmp_path):
    log, clock = open_log(tmp_path), Clock()
    add_commands(log, 1)
    outbox = OutboxProvider(tmp_path / "outbox.db")
    sender = Sender(log, Templates(), {"email": outbox}, clock)
    sender._queue_new(log.connection(), clock.now(), 10)
    conn = log.connection()
    with log.transaction(conn):
        conn.execute("UPDATE scheduled_sends SET attempted = 1")
    drain(sender)
    assert [e["data"]["message_id"] for e in events_of(log, "message.sent")] == ["m00000"]


@pytest.mark.parametrize("rate", [0, -5, "fast", {"per_minute": True}])
def test_a_send_node_with_a_bad_rate_limit_is_a_validation_problem(rate):
    from journeys.graph import Journey
    from journeys.validation import validate_journey

    graph = {"id": "j", "name": "j", "nodes": [
        {"id": "start", "type": "entry", "data": {"trigger": {"event": "x.y"}}},
        {"id": "send", "type": "send", "data": {"channel": "email", "template": "t",
                                                "rate_limit": rate if isinstance(rate, dict) else {"per_minute": rate}}},
        {"id": "end", "type": "end", "data": {}}],
        "edges": [{"id": "e1", "source": "start", "target": "send"}, {"id": "e2", "source": "send", "target": "end"}]}
    problems = validate_journey(Journey.model_validate(graph))
    assert any(p.field == "data.rate_limit.per_minute" and p.node == "send" for p in problems), problems
