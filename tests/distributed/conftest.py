"""Fixtures for the distributed-mode tests: a real Kafka-protocol broker (Tansu, one per
pytest-xdist worker session, or ``SWITCHBACK_TEST_KAFKA``) and a fresh topic namespace
per test, so tests never share topics."""

from __future__ import annotations

import uuid

import pytest

from tests.kafka_broker import KafkaBroker


@pytest.fixture(scope="session")
def kafka_bootstrap():
    """``host:port`` of a running broker for the whole session."""
    broker = KafkaBroker().start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def namespace() -> str:
    """A unique topic namespace for one test (``t<hex>``)."""
    return f"t{uuid.uuid4().hex[:16]}"
