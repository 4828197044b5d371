"""Helpers for the segment tests: contacts and events through the API, members as the
read model and as the engine record them."""

from __future__ import annotations

from typing import Any

from journeys.events import iso_from_epoch
from tests.support import settle


def add_contacts(client, *contacts: dict[str, Any]) -> None:
    """``{"contact_id": "ann", "email": ..., "tags": [...], "attributes": {...}}`` each; waits until projected."""
    for contact in contacts:
        response = client.post("/v1/contacts", json=contact, params={"wait": "true"})
        assert response.status_code == 202, response.text
    settle(client)


def events(client, *batch: dict[str, Any]) -> None:
    """Ingest ``batch`` stamped with the (virtual) clock's time, and wait until processed."""
    stamp = iso_from_epoch(client.services.clock.now())
    response = client.post("/v1/events", json={"batch": [{"occurred_at": stamp, **e} for e in batch]})
    assert response.status_code == 202, response.text
    settle(client)


def member_ids(client, segment_id: str) -> list[str]:
    settle(client)
    response = client.get(f"/v1/segments/{segment_id}/members", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [m["contact_id"] for m in response.json()["items"]]


def engine_segments(client, contact_id: str) -> list[str]:
    """What the engine records for the contact (rules and journeys read this)."""
    return client.services.contact_state("default", contact_id)["segments"]
