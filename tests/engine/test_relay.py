"""The outbox relay: definition events leave in batches, at least once, resuming from the
recorded position, without secrets; on SQLite and on PostgreSQL (skipped, with the
reason, when ``SWITCHBACK_TEST_PG`` is unreachable). One test relays through a real
Kafka-protocol broker (Tansu) with kafka-python."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from test_definitions import WELCOME, WS, graph

from engine.definitions import Definitions
from engine.relay import DefinitionRelay, SqlitePosition, kafka_send, message_type
from tests.support import PG, pg_unreachable

DSN = PG
PG_UNREACHABLE = pg_unreachable()


class Backend:
    """Opens the definitions store and position stores of one backend, again after a 'restart'."""

    def __init__(self, kind: str, tmp_path):
        self.kind = kind
        self.tmp_path = tmp_path
        self.schema = f"sb_test_{uuid.uuid4().hex[:12]}"
        self.opened: list = []

    def definitions(self) -> Definitions:
        if self.kind == "sqlite":
            store = Definitions(sqlite_path=self.tmp_path / "definitions.sqlite")
        else:
            store = Definitions.from_postgres(DSN, self.schema)
        self.opened.append(store)
        return store

    def position(self, name: str = "definitions"):
        if self.kind == "sqlite":
            store = SqlitePosition(self.tmp_path / "relay.sqlite", name)
        else:
            from engine.relay import PgPosition

            store = PgPosition(DSN, self.schema, name)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for thing in reversed(self.opened):
            thing.close()
        if self.kind == "postgres":
            from engine.pgconfig import drop_schema

            drop_schema(DSN, self.schema)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(
    PG_UNREACHABLE is not None, reason=PG_UNREACHABLE or ""))])
def backend(request, tmp_path):
    b = Backend(request.param, tmp_path)
    yield b
    b.close()


@pytest.fixture
def defs(backend):
    return backend.definitions()


class Collector:
    """A ``send`` that keeps every batch (and can be told to fail)."""

    def __init__(self, fail: bool = False):
        self.batches: list[list[dict]] = []
        self.fail = fail

    def __call__(self, batch):
        if self.fail:
            raise ConnectionError("broker down")
        json.dumps(batch)  # what Kafka gets must be plain JSON
        self.batches.append(batch)

    @property
    def messages(self) -> list[dict]:
        return [m for b in self.batches for m in b]


def fill(defs: Definitions, templates: int = 6) -> None:
    for i in range(templates):
        defs.save_template(WS, WELCOME | {"id": f"t{i}"})
    defs.save_template(WS, WELCOME)
    defs.save_draft(WS, graph())
    defs.publish(WS, "welcome-series")


def test_messages_in_batches_with_their_position(defs, backend):
    fill(defs)
    sent = Collector()
    position = backend.position()
    relay = DefinitionRelay(defs, sent, position, batch_size=5)
    total = relay.run_until_idle()
    assert total == defs.changes() == len(sent.messages) and total > 10
    assert all(len(b) <= 5 for b in sent.batches) and len(sent.batches) == -(-total // 5)
    ids = [m["notification_id"] for m in sent.messages]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert [m["id"] for m in sent.messages] == [f"def-{i}" for i in ids]
    assert position.get() == ids[-1] == defs.changes()
    assert relay.lag() == 0 and relay.run_once() == 0 and relay.run_until_idle() == 0

    published = [m for m in sent.messages if m["type"] == "definition.journey.published"]
    assert len(published) == 1
    assert published[0]["state"]["graph"]["version"] == 1 and published[0]["workspace"] == WS
    assert published[0]["occurred_at"].endswith("Z")
    assert {m["type"] for m in sent.messages} >= {
        "definition.template.created", "definition.workspace.opened", "definition.workspace.template_added",
        "definition.workspaces.started", "definition.workspaces.workspace_added", "definition.journey.drafted",
    }
    first_template = next(m for m in sent.messages if m["type"] == "definition.template.created")
    assert first_template["state"]["content"]["id"] == "t0" and first_template["originator_version"] == 1
    assert uuid.UUID(first_template["originator_id"])


def test_workspace_is_filled_in_for_events_that_do_not_carry_it(defs, backend):
    defs.save_template(WS, WELCOME)
    defs.save_draft(WS, graph())
    defs.save_draft(WS, graph(name="Second draft"))  # DraftSaved has no workspace of its own
    defs.save_template("other", WELCOME)
    sent = Collector()
    DefinitionRelay(defs, sent, backend.position()).run_until_idle()
    saved = next(m for m in sent.messages if m["type"] == "definition.journey.draft_saved")
    assert saved["workspace"] == WS and saved["originator_version"] == 2
    added = [m["workspace"] for m in sent.messages if m["type"] == "definition.workspaces.workspace_added"]
    assert added == [WS, "other"]  # the registry's events name the workspace they add
    assert all(m["workspace"] in (WS, "other") for m in sent.messages if m["type"] != "definition.workspaces.started")


def test_resumes_from_the_recorded_position_after_a_restart(backend):
    defs = backend.definitions()
    fill(defs, templates=2)
    first = Collector()
    assert DefinitionRelay(defs, first, backend.position(), batch_size=4).run_until_idle() == defs.changes()
    done = defs.changes()
    defs.close()

    defs = backend.definitions()  # a new process: new store, new relay, new position object
    defs.pause(WS, "welcome-series")
    defs.create_key(WS, "marketer", "Mia")
    second = Collector()
    relay = DefinitionRelay(defs, second, backend.position(), batch_size=4)
    assert relay.lag() == defs.changes() - done > 0
    sent = relay.run_until_idle()
    assert sent == defs.changes() - done
    assert [m["notification_id"] for m in second.messages] == list(range(done + 1, defs.changes() + 1))
    assert second.messages[0]["type"] == "definition.journey.paused" and second.messages[0]["workspace"] == WS
    assert not {m["id"] for m in first.messages} & {m["id"] for m in second.messages}


def test_a_failing_send_does_not_advance_the_position(defs, backend):
    fill(defs, templates=1)
    position = backend.position()
    relay = DefinitionRelay(defs, Collector(fail=True), position, batch_size=3)
    with pytest.raises(ConnectionError):
        relay.run_once()
    with pytest.raises(ConnectionError):
        relay.run_until_idle()
    assert position.get() == 0 and relay.lag() == defs.changes()

    good = Collector()
    assert DefinitionRelay(defs, good, backend.position(), batch_size=3).run_until_idle() == defs.changes()
    assert good.messages[0]["id"] == "def-1"


def test_a_crash_between_send_and_record_sends_the_batch_again(defs, backend):
    """At least once: the batch reached the broker but its position was not recorded."""
    fill(defs, templates=1)

    class CrashingPosition:
        def __init__(self, inner):
            self.inner = inner

        def get(self):
            return self.inner.get()

        def set(self, position):
            raise SystemExit("killed before recording the position")

    sent = Collector()
    with pytest.raises(SystemExit):
        DefinitionRelay(defs, sent, CrashingPosition(backend.position()), batch_size=3).run_once()
    again = Collector()
    DefinitionRelay(defs, again, backend.position(), batch_size=3).run_once()
    assert [m["id"] for m in again.messages] == [m["id"] for m in sent.messages]  # duplicates, by id
    assert again.messages == sent.messages


def test_secrets_never_leave(defs, backend):
    configured = "sb_configured-admin-secret-0123456789"
    defs.ensure_admin_key(WS, configured)
    secret, info = defs.create_key(WS, "ingest", "shop backend")
    defs.revoke_key(info["id"])
    sent = Collector()
    DefinitionRelay(defs, sent, backend.position(), batch_size=2).run_until_idle()
    text = json.dumps(sent.messages)
    for s in (configured, secret):
        assert s not in text and s[3:] not in text
        assert hashlib.sha256(s.encode()).hexdigest() not in text
    assert "shop backend" not in text and "secret" not in text

    keys = [m for m in sent.messages if m["type"].startswith("definition.api_key.")]
    assert [m["type"] for m in keys] == ["definition.api_key.issued"] * 2 + ["definition.api_key.revoked"]
    assert all(set(m["state"]) == {"role", "workspace", "revoked"} for m in keys)
    assert [m["state"] for m in keys] == [
        {"role": "admin", "workspace": WS, "revoked": False},
        {"role": "ingest", "workspace": WS, "revoked": False},
        {"role": "ingest", "workspace": WS, "revoked": True},
    ]


def test_a_relay_starting_mid_log_still_knows_the_key_role(defs, backend):
    _, info = defs.create_key(WS, "analyst", "Ana")
    defs.revoke_key(info["id"])
    position = backend.position()
    position.set(defs.changes() - 1)  # only the revocation is left
    sent = Collector()
    DefinitionRelay(defs, sent, position).run_until_idle()
    assert [(m["type"], m["workspace"], m["state"]) for m in sent.messages] == [
        ("definition.api_key.revoked", WS, {"role": "analyst", "workspace": WS, "revoked": True})
    ]


def test_positions_are_kept_per_name(backend):
    a, b = backend.position("kafka"), backend.position("audit")
    assert a.get() == 0 == b.get()
    a.set(7)
    a.set(9)
    assert a.get() == 9 and b.get() == 0
    assert backend.position("kafka").get() == 9  # another object (process) sees it


def test_message_type_names():
    assert message_type("engine.definition_models:JourneyDefinition.Published") == "definition.journey.published"
    assert message_type("engine.definition_models:ApiKey.Revoked") == "definition.api_key.revoked"
    assert message_type("engine.definition_models:WorkspaceIndex.KeyAdded") == "definition.workspace.key_added"
    assert message_type("engine.offers:QrOffer.Redeemed") == "definition.qr_offer.redeemed"


def test_batch_size_must_be_positive(tmp_path):
    defs = Definitions()
    try:
        with pytest.raises(ValueError):
            DefinitionRelay(defs, Collector(), SqlitePosition(tmp_path / "p.sqlite"), batch_size=0)
    finally:
        defs.close()


@pytest.mark.services
def test_relay_through_a_real_kafka_broker(tmp_path):
    kafka_broker = pytest.importorskip("kafka_broker", reason="tests/kafka_broker.py (Tansu harness) is missing")
    kafka = pytest.importorskip("kafka")
    defs = Definitions(sqlite_path=tmp_path / "definitions.sqlite")
    position = SqlitePosition(tmp_path / "relay.sqlite")
    try:
        fill(defs, templates=2)
        with kafka_broker.KafkaBroker() as broker:
            producer = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            try:
                relay = DefinitionRelay(defs, kafka_send(producer, "switchback.definitions"), position, batch_size=4)
                assert relay.run_until_idle() == defs.changes()
            finally:
                producer.close()
            consumer = kafka.KafkaConsumer(
                "switchback.definitions", bootstrap_servers=broker.bootstrap,
                auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=5000,
            )
            try:
                received = []
                for record in consumer:
                    received.append((record.key.decode(), json.loads(record.value)))
                    if len(received) == defs.changes():
                        break
            finally:
                consumer.close()
        assert sorted(m["notification_id"] for _, m in received) == list(range(1, defs.changes() + 1))
        assert all(key == m["originator_id"] for key, m in received)
        assert position.get() == defs.changes()
    finally:
        position.close()
        defs.close()
