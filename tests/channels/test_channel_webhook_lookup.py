"""Which message or contacts a provider report is about (api/webhooks/lookup.py), on the
SQLite read model and on PostgreSQL (skipped when ``SWITCHBACK_TEST_PG`` is unreachable):
the same portable queries give the same answers."""

from __future__ import annotations

from typing import Any

import pytest

from api.webhooks.lookup import SentMessage, find_contacts_by_phone, find_message
from engine.log import EventLog
from projections import Projector
from tests.support import PG


def event(n: int, kind: str, contact_id: str, workspace: str = "default", **data: Any) -> dict[str, Any]:
    at = "2026-01-01T10:00:00Z"
    return {"id": f"ev-{n}", "type": kind, "workspace": workspace, "contact_id": contact_id, "occurred_at": at,
            "received_at": at, "source": "engine", "data": data}


EVENTS = [
    event(1, "contact.created", "ann", phone="+15550001"),
    event(2, "contact.created", "ann-2", phone="+1 555-000-1"),
    event(3, "contact.created", "bo", phone="(555) 000.2222"),
    event(4, "contact.created", "cy", "acme", phone="+15550001"),
    event(5, "message.sent", "ann", message_id="m1", channel="email", journey_id="j1", provider="ses",
          provider_message_id="ses-1"),
    event(6, "message.queued", "bo", message_id="m2", channel="sms", broadcast_id="b1"),
    event(7, "message.sent", "cy", "acme", message_id="m3", channel="sms", provider="twilio",
          provider_message_id="SM3"),
    event(8, "message.sent", "cy", "acme", message_id="m1", channel="email", provider="ses",
          provider_message_id="ses-acme-1"),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def read_db(request, tmp_path):
    if request.param == "sqlite":
        log = EventLog(tmp_path / "events.db")
        log.append(EVENTS)
        projector = Projector(log.path, tmp_path / "read.db")
        projector.catch_up()
        yield projector.conn
        projector.close()
        return
    pytest.importorskip("psycopg")
    from projections.postgres import PgReadModel

    schema = request.getfixturevalue("pg_schema")
    model = PgReadModel(PG, schema)
    model.apply(0, list(enumerate(EVENTS)))
    conn = model.connect()
    yield conn
    conn.close()
    model.close()


def test_a_message_is_found_by_our_id_in_its_workspace(read_db):
    assert find_message(read_db, message_id="m3", workspace="acme") == \
        SentMessage("acme", "m3", "cy", "sms", None, None)
    assert find_message(read_db, message_id="m1", workspace="acme").contact_id == "cy"
    assert find_message(read_db, message_id="m2") == SentMessage("default", "m2", "bo", "sms", None, "b1")


def test_a_message_is_found_by_the_provider_id_across_workspaces(read_db):
    assert find_message(read_db, provider_message_id="SM3") == SentMessage("acme", "m3", "cy", "sms")
    assert find_message(read_db, provider_message_id="ses-1") == SentMessage("default", "m1", "ann", "email", "j1")
    # with our id too, both must agree; otherwise the default workspace is asked for our id
    assert find_message(read_db, message_id="m1", provider_message_id="ses-acme-1").workspace == "acme"
    assert find_message(read_db, message_id="m1", provider_message_id="SM3").workspace == "default"


def test_unknown_messages_are_none(read_db):
    assert find_message(read_db, message_id="m3") is None  # m3 is not in the default workspace
    assert find_message(read_db, provider_message_id="nope") is None
    assert find_message(read_db, message_id="nope", workspace="acme", provider_message_id="nope") is None
    assert find_message(read_db) is None


def test_contacts_are_found_by_phone_as_twilio_sends_it(read_db):
    assert find_contacts_by_phone(read_db, "default", "+15550001") == ["ann", "ann-2"]  # however it was typed
    assert find_contacts_by_phone(read_db, "default", "+15550002222") == []  # stored without the country code
    assert find_contacts_by_phone(read_db, "default", "+5550002222") == ["bo"]  # spaces, dots, parentheses
    assert find_contacts_by_phone(read_db, "acme", "+15550001") == ["cy"]
    assert find_contacts_by_phone(read_db, "default", "+15550009") == []
    assert find_contacts_by_phone(read_db, "default", "+1") == []
