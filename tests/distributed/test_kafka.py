"""Kafka plumbing against a real broker: topic creation (partitions, retention, cleanup
policy), namespace isolation, keying by contact, the SDK over Kafka and HTTP, the
dead-letter record, and the errors for unreachable services."""

from __future__ import annotations

import time

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
from kafka.partitioner.default import murmur2

from api.sdk import EmitError, Emitter
from api.settings import ConfigError, Settings
from engine.kafka import (
    MAX_DEADLETTER_RAW,
    DeliveryFailed,
    EventProducer,
    ServiceUnavailable,
    TopicNames,
    check_kafka,
    dead_letter,
    dead_letter_record,
    ensure_topics,
)
from tests.api.conftest import LiveServer, log_records
from tests.support import ADMIN, free_port

pytestmark = pytest.mark.services


def consume(bootstrap: str, topic: str, count: int, timeout: float = 15) -> list:
    """The first ``count`` records of ``topic`` (all partitions, from the beginning)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, session_timeout_ms=6000, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    try:
        deadline = time.monotonic() + timeout
        partitions = None
        while not partitions:
            partitions = consumer.partitions_for_topic(topic)
            assert partitions or time.monotonic() < deadline, f"topic {topic} not found"
            if not partitions:
                time.sleep(0.05)
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        consumer.seek_to_beginning()
        records = []
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        assert len(records) >= count, f"got {len(records)} of {count} records from {topic}"
        return records
    finally:
        consumer.close()


@pytest.fixture
def admin(kafka_bootstrap):
    client = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    yield client
    client.close()


def envelope(i: int, contact: str, **extra) -> dict:
    return {"id": f"e{i}", "type": "cart.updated", "workspace": "default", "contact_id": contact,
            "occurred_at": "2026-11-21T10:00:00Z", "received_at": "2026-11-21T10:00:01Z", "source": "kafka",
            "data": {"cart_id": f"k{i}"}, **extra}


def test_topic_names_are_prefixed_by_the_namespace():
    assert TopicNames().all() == ("switchback.events", "switchback.commands", "switchback.deadletter", "switchback.engine")
    acme = TopicNames("acme")
    assert (acme.events, acme.commands, acme.deadletter) == ("acme.events", "acme.commands", "acme.deadletter")
    for bad in ("", "Acme", "a b", "a/b"):
        with pytest.raises(ValueError, match="namespace"):
            TopicNames(bad)


def test_ensure_topics_sets_partitions_retention_and_cleanup_policy(kafka_bootstrap, namespace, admin):
    names = TopicNames(namespace)
    report = ensure_topics(kafka_bootstrap, names, partitions=6, retention_ms=3_600_000)
    assert report == {"created": list(names.all()), "existing": []}
    described = {t["name"]: t for t in admin.describe_topics(list(names.all()))}
    assert {name: len(t["partitions"]) for name, t in described.items()} == {name: 6 for name in names.all()}
    configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in names.all()],
                                     config_filter="all")["topic"]
    for topic in names.all():
        assert configs[topic]["retention.ms"]["value"] == "3600000"
        assert configs[topic]["cleanup.policy"]["value"] == "delete"
    # a second start-up creates nothing
    assert ensure_topics(kafka_bootstrap, names) == {"created": [], "existing": list(names.all())}


def test_existing_topics_are_left_alone(kafka_bootstrap, namespace, admin):
    names = TopicNames(namespace)
    admin.create_topics([NewTopic(names.events, 2, 1)])
    report = ensure_topics(kafka_bootstrap, names, partitions=12)
    assert report == {"created": [names.commands, names.deadletter, names.engine], "existing": [names.events]}
    sizes = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(list(names.all()))}
    assert sizes == {names.events: 2, names.commands: 12, names.deadletter: 12, names.engine: 12}


def test_namespaces_isolate_deployments(kafka_bootstrap, namespace):
    acme, globex = TopicNames(namespace + ".acme"), TopicNames(namespace + ".globex")
    for names in (acme, globex):
        ensure_topics(kafka_bootstrap, names, partitions=3)
    with EventProducer(kafka_bootstrap, acme) as producer:
        producer.send_many([envelope(1, "c1")])
    with EventProducer(kafka_bootstrap, globex) as producer:
        producer.send_many([envelope(2, "c1"), envelope(3, "c2")])
    assert [orjson.loads(r.value)["id"] for r in consume(kafka_bootstrap, acme.events, 1)] == ["e1"]
    assert sorted(orjson.loads(r.value)["id"] for r in consume(kafka_bootstrap, globex.events, 2)) == ["e2", "e3"]


def test_producer_keys_by_contact_id(kafka_bootstrap, namespace):
    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=12)
    sent = [envelope(i, f"c{i % 20}") for i in range(400)]
    with EventProducer(kafka_bootstrap, names) as producer:
        producer.send_many(sent)
    records = consume(kafka_bootstrap, names.events, len(sent))
    partitions: dict[str, set[int]] = {}
    for record in records:
        value = orjson.loads(record.value)
        assert record.key == value["contact_id"].encode()
        partitions.setdefault(value["contact_id"], set()).add(record.partition)
    assert all(len(p) == 1 for p in partitions.values()), "a contact's events were split across partitions"
    # the Java client's default partitioner (docs/kafka.md): murmur2(key) mod partitions
    for contact, (partition,) in partitions.items():
        assert partition == (murmur2(contact.encode()) & 0x7FFFFFFF) % 12
    assert len(set().union(*partitions.values())) > 1, "20 contacts should spread over several partitions"
    assert sorted(orjson.loads(r.value)["id"] for r in records) == sorted(e["id"] for e in sent)
    # order is kept per contact
    c3 = [orjson.loads(r.value)["id"] for r in sorted(records, key=lambda r: r.offset) if r.key == b"c3"]
    assert c3 == [e["id"] for e in sent if e["contact_id"] == "c3"]


def test_send_many_raises_a_clear_error_when_kafka_refuses(kafka_bootstrap, namespace):
    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=1)
    with EventProducer(kafka_bootstrap, names, batch_size=64 * 1024) as producer:
        huge = envelope(1, "c1", data={"blob": "x" * (2 * 1024 * 1024)})
        with pytest.raises(DeliveryFailed, match=names.events):
            producer.send_many([huge])


def test_producer_on_a_closed_port_fails_fast():
    started = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="SWITCHBACK_KAFKA"):
        EventProducer(f"127.0.0.1:{free_port()}", timeout=1)
    assert time.monotonic() - started < 10


def test_check_kafka(kafka_bootstrap):
    check_kafka(kafka_bootstrap)
    port = free_port()
    with pytest.raises(ServiceUnavailable) as error:
        check_kafka(f"127.0.0.1:{port}", timeout=1)
    message = str(error.value)
    assert message.startswith(f"Kafka at 127.0.0.1:{port} is unreachable: ")
    assert message.endswith("; start it or set SWITCHBACK_KAFKA")


def test_dead_letter_record(kafka_bootstrap, namespace):
    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=1)
    source = {"topic": names.events, "partition": 4, "offset": 17, "key": b"c9"}
    with EventProducer(kafka_bootstrap, names) as producer:
        text = dead_letter(producer, names, b'{"type": "order.placed"', "not valid JSON", source)
        binary = dead_letter(producer, names, b"\xff\xfe\x00", "not UTF-8", {"topic": names.events})
    assert text["raw"] == '{"type": "order.placed"' and text["encoding"] == "utf-8"
    assert binary["raw"] == "//4A" and binary["encoding"] == "base64"
    records = consume(kafka_bootstrap, names.deadletter, 2)
    first, second = (orjson.loads(r.value) for r in sorted(records, key=lambda r: r.offset))
    assert first == text and second == binary
    assert {k: first[k] for k in ("reason", "topic", "partition", "offset", "key")} == {
        "reason": "not valid JSON", "topic": names.events, "partition": 4, "offset": 17, "key": "c9"}
    assert first["at"].endswith("Z") and first["truncated"] is False
    assert sorted(r.key for r in records if r.key) == [b"c9"]


def test_dead_letter_record_keeps_at_most_512_kib():
    record = dead_letter_record(b"x" * (MAX_DEADLETTER_RAW + 10), "too large")
    assert record["truncated"] is True and len(record["raw"]) == MAX_DEADLETTER_RAW
    assert dead_letter_record(None, "empty")["raw"] == ""


def test_emitter_over_kafka(kafka_bootstrap, namespace):
    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=4)
    with Emitter(kafka_bootstrap, namespace=namespace) as emitter:
        first = emitter.emit("order.placed", "c_1", {"order_id": "o_9", "amount": "59.90", "currency": "EUR"})
        second = emitter.emit("contact.tagged", "c_2", {"tag": "vip"}, id="my-id-1",
                              occurred_at="2026-11-21T10:00:00+01:00")
        emitter.flush()
    records = {r.key: orjson.loads(r.value) for r in consume(kafka_bootstrap, names.events, 2)}
    assert records[b"c_1"]["id"] == first and second == "my-id-1"
    assert records[b"c_1"]["type"] == "order.placed" and records[b"c_1"]["data"]["amount"] == "59.90"
    tagged = records[b"c_2"]
    assert tagged["id"] == "my-id-1" and tagged["occurred_at"] == "2026-11-21T09:00:00Z"
    assert tagged["source"] == "kafka" and tagged["workspace"] == "default" and tagged["received_at"]


def test_emitter_validates_before_sending(kafka_bootstrap, namespace):
    names = TopicNames(namespace)
    ensure_topics(kafka_bootstrap, names, partitions=1)
    with Emitter(kafka_bootstrap, namespace=namespace) as emitter:
        with pytest.raises(ValueError, match="order_id"):
            emitter.emit("order.placed", "c_1", {"amount": "1"})
        with pytest.raises(ValueError, match="contact_id"):
            emitter.emit("cart.updated", None)
        emitter.emit("cart.updated", "c_1", {"cart_id": "k"}, id="only-valid")
    assert [orjson.loads(r.value)["id"] for r in consume(kafka_bootstrap, names.events, 1)] == ["only-valid"]
    with pytest.raises(ValueError, match="bootstrap"):
        Emitter()


def test_emitter_over_http(tmp_path):
    server = LiveServer(tmp_path / "data").start()
    try:
        with Emitter(http_url=server.url, api_key=ADMIN) as emitter:
            event_id = emitter.emit("contact.created", "c_7", {"email": "ada@example.com"})
            again = emitter.emit("contact.created", "c_7", {"email": "ada@example.com"}, id=event_id)
        assert again == event_id
        stored = [r for r in log_records(server.client) if r["id"] == event_id]
        assert len(stored) == 1 and stored[0]["contact_id"] == "c_7" and stored[0]["source"] == "api"
        with Emitter(http_url=server.url, api_key="sb_wrong_key") as emitter:
            with pytest.raises(EmitError, match="401"):
                emitter.emit("contact.created", "c_8")
    finally:
        server.stop()
    with Emitter(http_url=f"http://127.0.0.1:{free_port()}", timeout=2) as emitter:
        with pytest.raises(EmitError, match="unreachable"):
            emitter.emit("contact.created", "c_9")


def test_settings_name_the_missing_and_unreachable_services(kafka_bootstrap, monkeypatch):
    Settings().check_distributed()  # embedded: nothing to check
    with pytest.raises(ConfigError) as error:
        Settings(mode="distributed").check_distributed()
    assert "SWITCHBACK_KAFKA" in str(error.value) and "SWITCHBACK_PG" in str(error.value)
    pg = f"postgresql://switchback:hunter2@127.0.0.1:{free_port()}/switchback"
    with pytest.raises(ConfigError) as error:
        Settings(mode="distributed", kafka=kafka_bootstrap, pg=pg).check_distributed()
    message = str(error.value)
    assert "Kafka" not in message and "PostgreSQL at 127.0.0.1" in message and "SWITCHBACK_PG" in message
    assert "hunter2" not in message
    kafka = f"127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=f"Kafka at {kafka} is unreachable"):
        Settings(mode="distributed", kafka=kafka, pg=pg).check_distributed(timeout=1)
    monkeypatch.setenv("SWITCHBACK_MODE", "distributed")
    monkeypatch.setenv("SWITCHBACK_KAFKA", "kafka:9092")
    monkeypatch.setenv("SWITCHBACK_NAMESPACE", "acme")
    monkeypatch.setenv("SWITCHBACK_PARTITIONS", "24")
    settings = Settings()
    assert (settings.mode, settings.kafka, settings.partitions) == ("distributed", "kafka:9092", 24)
    assert settings.topics().events == "acme.events"
    monkeypatch.setenv("SWITCHBACK_NAMESPACE", "Not Valid")
    with pytest.raises(ValueError):
        Settings()
