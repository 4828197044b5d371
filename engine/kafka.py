"""Kafka plumbing for the distributed deployment: topic names, topic creation, the
event producer, the reachability check and the dead-letter record.

Topics (``<namespace>`` defaults to ``switchback``; two deployments sharing a Kafka
cluster use different namespaces and never share a topic):

- ``<namespace>.events``: every contact event; key = contact_id (UTF-8), value = the
  JSON envelope (docs/events.md). Same contact, same partition, so one worker sees a
  contact's events in order.
- ``<namespace>.commands``: send requests, key = contact_id.
- ``<namespace>.deadletter``: input that could not be decoded or was rejected, with the
  reason and where it came from (see :func:`dead_letter`).

The contract for other Kafka clients is in docs/kafka.md. The embedded deployment does
not use this module (engine/log.py is its log).
"""

from __future__ import annotations

import base64
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError

NAMESPACE_RE = re.compile(r"^[a-z0-9_.\-]+$")
WEEK_MS = 7 * 24 * 3600 * 1000
MAX_DEADLETTER_RAW = 512 * 1024  # bytes of the original message kept in a dead-letter record
_TOPIC_EXISTS = 36  # Kafka error code TOPIC_ALREADY_EXISTS


class ServiceUnavailable(RuntimeError):
    """A service the distributed deployment needs (Kafka, PostgreSQL) cannot be reached."""


class DeliveryFailed(RuntimeError):
    """Kafka did not acknowledge some records (they may or may not have been written)."""


@dataclass(frozen=True)
class TopicNames:
    """The topic names of one deployment: ``TopicNames("acme").events == "acme.events"``."""

    namespace: str = "switchback"

    def __post_init__(self) -> None:
        if not NAMESPACE_RE.match(self.namespace) or len(self.namespace) > 200:
            raise ValueError(f"namespace {self.namespace!r} must be 1-200 characters of a-z, 0-9, '_', '.', '-'")

    @property
    def events(self) -> str:
        return f"{self.namespace}.events"

    @property
    def commands(self) -> str:
        return f"{self.namespace}.commands"

    @property
    def deadletter(self) -> str:
        return f"{self.namespace}.deadletter"

    @property
    def engine(self) -> str:
        """The engine's bookkeeping events (``journey.*``, ``message.queued``) that no
        journey reacts to: read by the projector, not by the journey workers."""
        return f"{self.namespace}.engine"

    def all(self) -> tuple[str, str, str, str]:
        return (self.events, self.commands, self.deadletter, self.engine)


def _servers(bootstrap: str | Iterable[str]) -> list[str]:
    items = bootstrap.split(",") if isinstance(bootstrap, str) else list(bootstrap)
    servers = [s.strip() for s in items if s and s.strip()]
    if not servers:
        raise ValueError("the Kafka bootstrap is empty; give host:port such as kafka:9092")
    return servers


def _label(bootstrap: str | Iterable[str]) -> str:
    return bootstrap if isinstance(bootstrap, str) else ",".join(bootstrap)


def _unreachable(bootstrap: str | Iterable[str], reason: object) -> ServiceUnavailable:
    return ServiceUnavailable(f"Kafka at {_label(bootstrap)} is unreachable: {reason}; start it or set SWITCHBACK_KAFKA")


def check_kafka(bootstrap: str | Iterable[str], timeout: float = 5) -> None:
    """Raise :class:`ServiceUnavailable` unless a Kafka broker answers at ``bootstrap``."""
    servers = _servers(bootstrap)
    reason: object = "no address answered"
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout):
                break
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
    else:
        raise _unreachable(bootstrap, reason)
    try:  # the port is open; make sure a Kafka broker is behind it
        admin = KafkaAdminClient(bootstrap_servers=servers, client_id="switchback-check",
                                 bootstrap_timeout_ms=int(timeout * 1000), request_timeout_ms=int(timeout * 1000))
    except (KafkaError, OSError) as exc:
        raise _unreachable(bootstrap, exc) from None
    try:
        admin.describe_cluster()
    except (KafkaError, OSError) as exc:
        raise _unreachable(bootstrap, exc) from None
    finally:
        admin.close()


def ensure_topics(bootstrap: str | Iterable[str], names: TopicNames | Iterable[str], partitions: int = 12,
                  replication: int = 1, retention_ms: int = WEEK_MS, timeout: float = 10) -> dict[str, list[str]]:
    """Create the missing topics with explicit ``retention.ms`` and ``cleanup.policy=delete``.

    Existing topics are left alone (their partitions and settings are not changed).
    Returns ``{"created": [...], "existing": [...]}``. Safe to call from several
    processes at start-up: a topic another process created meanwhile counts as existing.
    """
    topics = list(names.all() if isinstance(names, TopicNames) else names)
    if partitions < 1 or replication < 1:
        raise ValueError("partitions and replication must be at least 1")
    try:
        admin = KafkaAdminClient(bootstrap_servers=_servers(bootstrap), client_id="switchback-admin",
                                 bootstrap_timeout_ms=int(timeout * 1000), request_timeout_ms=int(timeout * 1000))
    except (KafkaError, OSError) as exc:
        raise _unreachable(bootstrap, exc) from None
    try:
        present = set(admin.list_topics())
        missing = [t for t in topics if t not in present]
        created: list[str] = []
        if missing:
            config = {"retention.ms": str(int(retention_ms)), "cleanup.policy": "delete"}
            answer = admin.create_topics([NewTopic(t, partitions, replication, topic_configs=config) for t in missing],
                                         raise_errors=False, wait_for_metadata=True)
            problems = []
            for result in answer.get("topics", []):
                if result["error_code"] == 0:
                    created.append(result["name"])
                elif result["error_code"] != _TOPIC_EXISTS:
                    problems.append(f"{result['name']}: {result.get('error_message') or result['error_code']}")
            if problems:
                raise RuntimeError(f"Kafka at {_label(bootstrap)} refused to create topics: {'; '.join(problems)}")
        return {"created": [t for t in topics if t in created], "existing": [t for t in topics if t not in created]}
    except KafkaError as exc:
        raise _unreachable(bootstrap, exc) from None
    finally:
        admin.close()


class EventProducer:
    """Writes envelopes to Kafka: key = contact_id (UTF-8), value = orjson of the envelope.

    acks=all with the idempotent producer, a few milliseconds of lingering and large
    batches. Thread-safe (the API calls it from its thread pool).
    """

    def __init__(self, bootstrap: str | Iterable[str], names: TopicNames | None = None, *,
                 client_id: str = "switchback", linger_ms: int = 5, batch_size: int = 1024 * 1024,
                 timeout: float = 30, **options: Any):
        self.bootstrap = _label(bootstrap)
        self.names = names or TopicNames()
        self.timeout = timeout
        try:
            self.producer = KafkaProducer(
                bootstrap_servers=_servers(bootstrap), client_id=client_id, acks="all", enable_idempotence=True,
                linger_ms=linger_ms, batch_size=batch_size, max_request_size=max(batch_size, 1024 * 1024),
                bootstrap_timeout_ms=int(timeout * 1000), max_block_ms=int(timeout * 1000), **options)
        except (KafkaError, OSError) as exc:
            raise _unreachable(bootstrap, exc) from None

    def send(self, record: dict[str, Any], topic: str | None = None):
        """Queue one envelope; returns the kafka-python future (``.get()`` waits for the ack)."""
        key = record.get("contact_id")
        return self.send_raw(topic or self.names.events, key.encode() if key else None, orjson.dumps(record))

    def send_raw(self, topic: str, key: bytes | None, value: bytes):
        try:
            return self.producer.send(topic, key=key, value=value)
        except KafkaError as exc:
            raise DeliveryFailed(f"Kafka at {self.bootstrap} did not take a record for {topic}: {exc}") from None

    def send_many(self, records: Iterable[dict[str, Any]], topic: str | None = None) -> None:
        """Send envelopes and wait until Kafka acknowledged all of them (or raise DeliveryFailed)."""
        futures = [self.send(record, topic) for record in records]
        wait_all(futures, self.timeout, f"Kafka at {self.bootstrap} ({topic or self.names.events})")

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout if timeout is not None else self.timeout)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued, then release the connections."""
        self.producer.close(timeout if timeout is not None else self.timeout)

    def __enter__(self) -> EventProducer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_all(futures: list, timeout: float, where: str) -> None:
    """Wait for every send future; raise :class:`DeliveryFailed` naming the first error."""
    failed, first = 0, None
    for future in futures:
        try:
            future.get(timeout=timeout)
        except Exception as exc:  # noqa: BLE001 - kafka-python raises KafkaError subclasses and timeouts
            failed += 1
            first = first or exc
    if failed:
        raise DeliveryFailed(f"{failed} of {len(futures)} record(s) were not acknowledged by {where}: {first!r}")


def dead_letter_record(raw: bytes | None, reason: str, source: dict[str, Any] | None = None) -> dict[str, Any]:
    """The dead-letter value for a rejected input (pure; async producers use it too).

    ``source`` says where it came from (``topic``, ``partition``, ``offset``, ``key``).
    ``{"reason", "raw", "encoding": "utf-8"|"base64", "truncated", "topic", "partition",
    "offset", "key", "at"}``: ``raw`` is the original bytes as text when they are UTF-8,
    else base64; at most 512 KiB of it is kept.
    """
    source = source or {}
    raw = raw or b""
    kept = bytes(raw[:MAX_DEADLETTER_RAW])
    try:
        text, encoding = kept.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(kept).decode("ascii"), "base64"
    key = source.get("key")
    if isinstance(key, bytes):
        key = key.decode("utf-8", errors="replace")
    return {
        "reason": reason,
        "raw": text,
        "encoding": encoding,
        "truncated": len(raw) > MAX_DEADLETTER_RAW,
        "topic": source.get("topic"),
        "partition": source.get("partition"),
        "offset": source.get("offset"),
        "key": key,
        "at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


def dead_letter(producer: EventProducer, names: TopicNames, raw: bytes | None, reason: str,
                source: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write a rejected input to ``<namespace>.deadletter`` (key = the original key) and
    wait for the ack. Returns the record (see :func:`dead_letter_record`)."""
    record = dead_letter_record(raw, reason, source)
    key = record["key"]
    future = producer.send_raw(names.deadletter, key.encode() if key else None, orjson.dumps(record))
    wait_all([future], producer.timeout, f"Kafka at {producer.bootstrap} ({names.deadletter})")
    return record
