"""Small helpers shared by the eventsourcing stores (definitions, offers, users)."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

A = TypeVar("A")


def find_aggregate(app: Application, cls: type[A], aggregate_id: UUID) -> A | None:
    """The aggregate of type ``cls`` with this id in ``app``, or None (absent or another type)."""
    try:
        aggregate: Any = app.repository.get(aggregate_id)
    except AggregateNotFoundError:
        return None
    return aggregate if isinstance(aggregate, cls) else None
