"""Fixtures for the read-model tests: a real SQLite event log, a read db, an event factory."""

from __future__ import annotations

import itertools
import sqlite3
from typing import Any, Callable

import pytest

from engine.log import EventLog
from projections import Projector

_ids = itertools.count(1)


def make_event(type: str, contact_id: str | None = "c1", *, at: str = "2026-01-01T10:00:00Z",
               workspace: str = "acme", source: str = "api", **data: Any) -> dict[str, Any]:
    return {"id": f"ev-{next(_ids):06d}", "type": type, "workspace": workspace, "contact_id": contact_id,
            "occurred_at": at, "received_at": at, "source": source, "data": data}


@pytest.fixture
def ev() -> Callable[..., dict[str, Any]]:
    """``ev("order.placed", "c1", at=..., amount="10")`` builds an envelope with a fresh id."""
    return make_event


@pytest.fixture
def log(tmp_path) -> EventLog:
    return EventLog(tmp_path / "events.db")


@pytest.fixture
def read_path(tmp_path):
    return tmp_path / "read.db"


@pytest.fixture
def project(log, read_path):
    """Append events to the log and project them; returns the read connection."""
    projector = Projector(log.path, read_path)

    def run(*events: dict[str, Any]) -> sqlite3.Connection:
        if events:
            log.append(list(events))
        projector.catch_up()
        return projector.conn

    run.projector = projector
    yield run
    projector.close()
