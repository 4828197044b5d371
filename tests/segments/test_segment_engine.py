"""Incremental membership in the engine (engine/processing.py): after every event of a
random script, every contact's recorded segments equal the rules' verdicts; echoes of
the engine's own membership events change nothing; journeys start on segment.entered;
time-relative segments move when their timer fires, also through the embedded runtime."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.log import EventLog
from engine.processing import SEGMENT_TIMER, Batch, JourneyProcessor
from engine.runtime import JourneyRuntime, drain
from engine.definitions import Definitions
from engine.state import key_of
from journeys.events import iso_from_epoch
from journeys.rules import evaluate
from journeys.segments import is_eligible

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()
DAY = 86400.0
SEGMENTS = [
    {"id": "vip", "kind": "dynamic", "rule": {"tag": "vip"}},
    {"id": "big", "kind": "dynamic", "rule": {"metric": "lifetime_value", "op": "gte", "value": 100}},
    {"id": "recent", "kind": "dynamic", "rule": {"event": "order.placed", "within": "P7D"}},
    {"id": "roman-or-big", "kind": "dynamic", "rule": {"any": [{"attr": "city", "value": "Rome"}, {"segment": "big"}]}},
    {"id": "vip-not-recent", "kind": "dynamic",
     "rule": {"all": [{"segment": "vip"}, {"not": {"segment": "recent"}}]}},
    {"id": "clickers", "kind": "dynamic", "rule": {"engaged": "clicked", "within": "P3D"}},
    {"id": "lapsed", "kind": "dynamic", "rule": {"all": [{"metric": "order_count", "op": "gte", "value": 1},
                                                        {"metric": "last_order_at", "op": "lt", "value": "P5D"}]}},
    {"id": "mailable", "kind": "dynamic", "rule": {"subscribed": "email"}},
    {"id": "list", "kind": "static", "rule": None},
    {"id": "listed-vip", "kind": "dynamic", "rule": {"all": [{"segment": "list"}, {"segment": "vip"}]}},
]
DYNAMIC = [s for s in SEGMENTS if s["kind"] == "dynamic"]
CONTACTS = ("ann", "bob", "cy")


class Source:
    """What ``engine.definitions.Definitions`` gives the runtime, in memory."""

    def __init__(self, segments=SEGMENTS, journeys=()):
        self._segments, self.journeys = segments, [{**g, "version": 1, "status": "published"} for g in journeys]

    def published(self):
        return [("w", g, "published") for g in self.journeys]

    def all_versions(self):
        return [("w", g) for g in self.journeys]

    def changes(self):
        return 1

    def segments(self):
        return [("w", s) for s in self._segments]


ACTIONS = st.one_of(
    st.tuples(st.just("contact.created"), st.sampled_from([{"city": "Rome"}, {"city": "Milan"}, {}])),
    st.tuples(st.just("contact.updated"), st.sampled_from([{"city": "Rome"}, {"city": None}, {"plan": "pro"}])),
    st.tuples(st.sampled_from(["contact.tagged", "contact.untagged"]), st.just({"tag": "vip"})),
    st.tuples(st.just("order.placed"), st.sampled_from(["10", "60", "150"]).map(lambda a: {"order_id": "o", "amount": a})),
    st.tuples(st.just("message.clicked"), st.just({"message_id": "m1"})),
    st.tuples(st.sampled_from(["contact.unsubscribed", "contact.subscribed"]), st.just({"channel": "email"})),
    st.tuples(st.just("contact.deleted"), st.just({})),
    st.tuples(st.sampled_from(["segment.entered", "segment.exited"]),
              st.sampled_from(["list", "vip", "big"]).map(lambda s: {"segment_id": s})),
    st.tuples(st.just("page.viewed"), st.just({})),
    st.tuples(st.just("advance"), st.floats(min_value=0, max_value=4 * DAY)),
)


class Engine:
    """The processor with its states kept in memory, fed one input at a time."""

    def __init__(self, source: Source):
        self.processor = JourneyProcessor(source)
        self.processor.refresh()
        self.contacts: dict = {}
        self.instances: dict = {}
        self.now = T0
        self.position = 0
        self.log: list[dict] = []

    def send(self, contact_id: str, kind: str, data: dict) -> Batch:
        self.position += 1
        record = {"id": f"x{self.position}", "type": kind, "workspace": "w", "contact_id": contact_id,
                  "occurred_at": iso_from_epoch(self.now), "received_at": iso_from_epoch(self.now), "source": "api",
                  "data": data}
        batch = self._run([(f"{self.position:012d}", record)], [])
        self._echo(batch)
        return batch

    def advance(self, seconds: float) -> None:
        self.now += seconds
        while True:
            due = [(key, SEGMENT_TIMER) for key, mine in self.instances.items()
                   if SEGMENT_TIMER in mine and mine[SEGMENT_TIMER]["wake_at"] is not None
                   and mine[SEGMENT_TIMER]["wake_at"] <= self.now]
            if not due:
                return
            batch = self._run([], due)
            assert batch.timers_fired == len(due)
            self._echo(batch)

    def _run(self, inputs, due) -> Batch:
        batch = self.processor.process(Batch(self.contacts, self.instances), inputs, due, self.now)
        self.log.extend(batch.emitted)
        return batch

    def _echo(self, batch: Batch) -> None:
        """The runtime reads the engine's own events back from the log: they change nothing."""
        if not batch.emitted:
            return
        before = copy.deepcopy((self.contacts, self.instances))
        skipped = self.processor.catalog.skipped  # bookkeeping no journey reads is not read back
        echoes = [(f"{self.position:012d}{i:04d}", e) for i, e in enumerate(batch.emitted) if e["type"] not in skipped]
        again = self.processor.process(Batch(self.contacts, self.instances), echoes, [], self.now)
        assert again.emitted == [] and again.commands == []
        assert (self.contacts, self.instances) == before

    def segments_of(self, contact_id: str) -> list[str]:
        return self.contacts[key_of("w", contact_id)]["segments"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(CONTACTS), ACTIONS), min_size=1, max_size=60))
def test_membership_equals_the_rules_after_every_event(script):
    engine = Engine(Source())
    listed: set[str] = set()  # the static segment, as its events say
    for contact_id, (kind, data) in script:
        if kind == "advance":
            engine.advance(data)
        else:
            engine.send(contact_id, kind, data)
            if kind == "contact.deleted":
                listed.discard(contact_id)
            elif data.get("segment_id") == "list":
                (listed.add if kind == "segment.entered" else listed.discard)(contact_id)
        for key, contact in engine.contacts.items():
            for segment in DYNAMIC:
                expected = is_eligible(contact) and evaluate(segment["rule"], contact, engine.now)
                assert (segment["id"] in contact["segments"]) == expected, (segment["id"], key, contact)
            assert ("list" in contact["segments"]) == (contact["id"] in listed)


def test_membership_events_carry_the_segment_and_deterministic_ids():
    first, second = Engine(Source()), Engine(Source())
    for engine in (first, second):
        engine.send("ann", "contact.created", {"email": "ann@example.com"})
        engine.send("ann", "order.placed", {"order_id": "o1", "amount": "120"})
    assert [e["id"] for e in first.log] == [e["id"] for e in second.log]
    entered = [e for e in first.log if e["type"] == "segment.entered"]
    assert {e["data"]["segment_id"] for e in entered} == {"mailable", "big", "recent", "roman-or-big"}
    assert all(e["source"] == "engine" and e["contact_id"] == "ann" for e in entered)
    assert len({e["id"] for e in first.log}) == len(first.log)


def test_a_duplicate_outside_membership_event_is_dropped():
    engine = Engine(Source())
    engine.send("ann", "contact.created", {})
    engine.send("ann", "segment.entered", {"segment_id": "list"})
    before = copy.deepcopy(engine.contacts)
    engine.send("ann", "segment.entered", {"segment_id": "list"})  # a backfill racing an import, say
    assert engine.contacts == before
    # undefined segments (fed from outside, as before segments existed) keep every event
    counted = before[key_of("w", "ann")]["totals"]["segment.entered"]
    engine.send("ann", "segment.entered", {"segment_id": "external"})
    engine.send("ann", "segment.entered", {"segment_id": "external"})
    assert engine.contacts[key_of("w", "ann")]["totals"]["segment.entered"] == counted + 2


def journey(segment_id: str) -> dict:
    return {"id": "welcome-big", "name": "Big spender", "settings": {"reentry": "always"},
            "nodes": [{"id": "start", "type": "entry", "position": {"x": 0, "y": 0},
                       "data": {"trigger": {"event": "segment.entered", "segment": segment_id}}},
                      {"id": "w", "type": "wait", "position": {"x": 0, "y": 0}, "data": {"mode": "duration", "duration": "P1D"}},
                      {"id": "end", "type": "end", "position": {"x": 0, "y": 0}}],
            "edges": [{"id": "e1", "source": "start", "target": "w"}, {"id": "e2", "source": "w", "target": "end"}]}


def test_a_journey_starts_in_the_batch_where_the_contact_qualifies():
    engine = Engine(Source(journeys=[journey("roman-or-big")]))
    engine.send("ann", "contact.created", {"city": "Milan"})
    batch = engine.send("ann", "order.placed", {"order_id": "o1", "amount": "150"})
    kinds = [(e["type"], e["data"].get("segment_id") or e["data"].get("journey_id")) for e in batch.emitted]
    assert kinds.index(("segment.entered", "roman-or-big")) < kinds.index(("journey.entered", "welcome-big"))
    assert engine.instances[key_of("w", "ann")]["welcome-big"]["state"] == "active"
    # the other segments do not start it
    engine.send("bob", "contact.created", {})
    engine.send("bob", "order.placed", {"order_id": "o2", "amount": "10"})
    assert "welcome-big" not in engine.instances.get(key_of("w", "bob"), {})


def test_event_types_segments_count_are_read_back_by_the_runtime():
    engine = Engine(Source(segments=[{"id": "entered-any", "kind": "dynamic", "rule": {"event": "journey.entered"}}]))
    assert "journey.entered" not in engine.processor.catalog.skipped
    assert "journey.node_entered" in engine.processor.catalog.skipped


def test_no_segments_no_timers_and_no_membership_events():
    engine = Engine(Source(segments=[]))
    engine.send("ann", "contact.created", {})
    engine.send("ann", "order.placed", {"order_id": "o1", "amount": "150"})
    assert engine.log == [] and engine.instances[key_of("w", "ann")] == {}


class Clock:
    def __init__(self, now: float):
        self.t = now

    def now(self) -> float:
        return self.t


def test_a_time_relative_segment_moves_when_its_stored_timer_fires(tmp_path):
    definitions = Definitions()
    definitions.save_segment("w", {"id": "recent", "rule": {"event": "order.placed", "within": "P7D"}})
    clock = Clock(T0)
    log = EventLog(tmp_path / "events.db")
    runtime = JourneyRuntime(log, definitions, clock)

    def append(kind: str, data: dict, n: int) -> None:
        stamp = iso_from_epoch(clock.t)
        log.append([{"id": f"x{n}", "type": kind, "workspace": "w", "contact_id": "ann", "occurred_at": stamp,
                     "received_at": stamp, "source": "api", "data": data}])

    append("contact.created", {"email": "ann@example.com"}, 1)
    append("order.placed", {"order_id": "o1", "amount": "5"}, 2)
    drain(runtime)
    contact = lambda: runtime.log.connection().execute("SELECT body FROM contact_state").fetchone()[0]  # noqa: E731
    assert b'"recent"' in contact()
    clock.t = T0 + 7 * DAY - 60
    assert drain(runtime) == 0  # not due yet
    clock.t = T0 + 7 * DAY + 1
    assert drain(runtime) == 2  # the re-check timer, then the echo of its exit (skipped)
    assert b'"recent"' not in contact()
    exits = [body for (body,) in log.connection().execute("SELECT body FROM log WHERE type = 'segment.exited'")]
    assert len(exits) == 1 and b'"source":"engine"' in exits[0]
    clock.t += 30 * DAY
    assert drain(runtime) == 0  # no timer left
