"""The event envelope (journeys/events.py): what the ingestion edge accepts and how it
turns an envelope into the plain record the runtimes carry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from journeys.events import CATALOGUE, Event, iso_from_epoch, parse_time

BASE = {"type": "order.placed", "contact_id": "c_1",
        "data": {"order_id": "o_9", "amount": "59.90", "currency": "EUR"}}


def envelope(**changes):
    return {**BASE, **changes}


def errors_of(payload) -> str:
    with pytest.raises(ValidationError) as info:
        Event.model_validate(payload)
    return str(info.value)


def test_a_full_envelope_is_accepted_as_written():
    event = Event.model_validate(envelope(
        id="01JABC", workspace="acme", occurred_at="2026-11-21T10:00:00Z",
        received_at="2026-11-21T10:00:01Z", source="kafka"))
    assert event.id == "01JABC"
    assert event.workspace == "acme"
    assert event.source == "kafka"
    assert event.occurred_at == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    assert event.data["amount"] == "59.90"


def test_defaults_are_filled():
    event = Event.model_validate({"type": "cart.updated", "contact_id": "c_1"})
    assert event.id and len(event.id) == 26  # a ULID
    assert event.workspace == "default"
    assert event.source == "api"
    assert event.data == {}
    assert event.received_at is None
    assert event.occurred_at.tzinfo is not None
    assert Event.model_validate({"type": "cart.updated", "contact_id": "c_1"}).id != event.id


def test_unknown_top_level_field_is_rejected_as_a_typo():
    assert "contactid" in errors_of(envelope(contactid="c_1"))


@pytest.mark.parametrize("bad", ["", "order placed", "order..placed", ".order", "order.", "ordér.placed",
                                 "order/placed", "x" * 101])
def test_bad_type_names_are_rejected(bad):
    errors_of(envelope(type=bad))


@pytest.mark.parametrize("good", ["order.placed", "my_app.video-watched", "signup", "Custom.Event.v2"])
def test_dotted_and_custom_type_names_are_accepted(good):
    data = BASE["data"] if good == "order.placed" else {}
    assert Event.model_validate(envelope(type=good, data=data)).type == good


def test_custom_track_events_are_kept_not_rejected():
    assert "video.watched" not in CATALOGUE
    event = Event.model_validate({"type": "video.watched", "contact_id": "c_1", "data": {"seconds": 30}})
    assert event.data == {"seconds": 30}


def test_contact_id_is_required_for_contact_events():
    assert "contact_id is required" in errors_of({"type": "cart.updated"})
    errors_of({"type": "cart.updated", "contact_id": ""})


def test_workspace_events_need_no_contact():
    assert Event.model_validate({"type": "workspace.settings_changed"}).contact_id is None


@pytest.mark.parametrize("workspace", ["Acme", "ac me", "", "a" * 65])
def test_bad_workspace_names_are_rejected(workspace):
    errors_of(envelope(workspace=workspace))


def test_unknown_source_is_rejected():
    errors_of(envelope(source="webhook"))


def test_naive_timestamps_are_rejected():
    errors_of(envelope(occurred_at="2026-11-21T10:00:00"))


@pytest.mark.parametrize("amount", ["59.90", "0", "-5", 12, 12.5, "1e3"])
def test_order_amount_accepts_decimals(amount):
    Event.model_validate(envelope(data={"order_id": "o_1", "amount": amount}))


@pytest.mark.parametrize("amount", ["abc", "59,90", "", "12 EUR", "NaN", "Infinity", "-inf"])
def test_order_amount_must_be_a_decimal(amount):
    assert "data.amount" in errors_of(envelope(data={"order_id": "o_1", "amount": amount}))


def test_order_without_amount_is_accepted_but_needs_an_order_id():
    Event.model_validate(envelope(data={"order_id": "o_1"}))
    assert "data.order_id" in errors_of(envelope(data={"amount": "5"}))


@pytest.mark.parametrize("kind", ["contact.tagged", "contact.untagged"])
@pytest.mark.parametrize("data", [{}, {"tag": ""}, {"tag": None}, {"tags": []}, {"tags": ["vip", 3]},
                                  {"tags": "vip"}, {"tag": 5}])
def test_tag_events_need_a_tag(kind, data):
    assert "data.tag" in errors_of({"type": kind, "contact_id": "c_1", "data": data})


@pytest.mark.parametrize("data", [{"tag": "vip"}, {"tags": ["vip", "b2b"]}])
def test_tag_events_with_a_tag(data):
    Event.model_validate({"type": "contact.tagged", "contact_id": "c_1", "data": data})


@pytest.mark.parametrize("kind", ["contact.subscribed", "contact.unsubscribed"])
def test_subscription_channel_is_checked(kind):
    for channel in ("email", "sms", "whatsapp", "all"):
        Event.model_validate({"type": kind, "contact_id": "c", "data": {"channel": channel}})
    Event.model_validate({"type": kind, "contact_id": "c"})  # all channels by default
    assert "data.channel" in errors_of({"type": kind, "contact_id": "c", "data": {"channel": "fax"}})


@pytest.mark.parametrize("kind", ["segment.entered", "segment.exited"])
def test_segment_events_need_a_segment_id(kind):
    Event.model_validate({"type": kind, "contact_id": "c", "data": {"segment_id": "vip"}})
    assert "data.segment_id" in errors_of({"type": kind, "contact_id": "c"})


def test_data_must_be_an_object():
    errors_of(envelope(data=["a"]))


def test_to_record_has_the_public_field_names_and_utc_timestamps():
    cet = timezone(timedelta(hours=1))
    event = Event.model_validate(envelope(id="e1", workspace="acme",
                                          occurred_at=datetime(2026, 11, 21, 11, 0, tzinfo=cet)))
    record = event.to_record(received_at=datetime(2026, 11, 21, 10, 0, 1, tzinfo=UTC))
    assert record == {
        "id": "e1", "type": "order.placed", "workspace": "acme", "contact_id": "c_1",
        "occurred_at": "2026-11-21T10:00:00Z", "received_at": "2026-11-21T10:00:01Z",
        "source": "api", "data": {"order_id": "o_9", "amount": "59.90", "currency": "EUR"},
    }


def test_to_record_keeps_an_existing_received_at():
    event = Event.model_validate(envelope(occurred_at="2026-11-21T10:00:00Z",
                                          received_at="2026-11-21T10:00:05+00:00"))
    assert event.to_record()["received_at"] == "2026-11-21T10:00:05Z"


def test_to_record_fills_received_at_when_missing():
    record = Event.model_validate(envelope()).to_record()
    assert record["received_at"].endswith("Z")
    assert parse_time(record["received_at"]) > 0


def test_parse_time_and_iso_from_epoch_round_trip():
    assert parse_time("2026-11-21T10:00:00Z") == datetime(2026, 11, 21, 10, tzinfo=UTC).timestamp()
    assert parse_time("2026-11-21T11:00:00+01:00") == parse_time("2026-11-21T10:00:00Z")
    assert parse_time(None) == 0.0
    assert parse_time(12) == 12.0
    assert iso_from_epoch(parse_time("2026-11-21T10:00:00Z")) == "2026-11-21T10:00:00Z"
