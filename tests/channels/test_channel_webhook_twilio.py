"""Twilio webhooks: the pure mapping of status callbacks and STOP/START keywords, and
``POST /webhooks/twilio/status`` / ``/webhooks/twilio/inbound`` signed with the real
``RequestValidator`` against the public URL: valid callbacks become events, bad or
missing signatures are refused with nothing appended, STOP unsubscribes the contact with
that number, and a permanent error suppresses the next SMS."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from twilio.request_validator import RequestValidator

from api.webhooks.lookup import SentMessage
from api.webhooks.twilio_events import classify_status, inbound_events, keyword, status_events
from journeys.events import Event
from tests.support import ADMIN, settle

TOKEN = "twilio-test-auth-token-0123456789ab"
PUBLIC = "https://hooks.example.com"
SID = "SM0123456789abcdef0123456789abcdef"
MESSAGE = SentMessage(workspace="default", message_id="m_sms1", contact_id="ann", channel="sms", journey_id="j1")


# -- the mapping (pure) --------------------------------------------------------------------
@pytest.mark.parametrize("status, code, expected", [
    ("queued", "", None), ("sending", "", None), ("sent", "", None), ("accepted", "", None),
    ("delivered", "", ("message.delivered", {})),
    ("read", "", ("message.opened", {})),
    ("undelivered", "30003", ("message.failed", {"reason": "twilio 30003: undelivered", "error_code": "30003"})),
    ("failed", "", ("message.failed", {"reason": "twilio: failed"})),
    ("undelivered", "21211", ("message.bounced", {"bounce_type": "hard", "error_code": "21211",
                                                  "diagnostic": "invalid 'To' phone number"})),
    ("failed", "21610", ("message.bounced", {"bounce_type": "hard", "error_code": "21610",
                                             "diagnostic": "the recipient unsubscribed (replied STOP)"})),
])
def test_status_callbacks_map_to_message_events(status, code, expected):
    assert classify_status({"MessageStatus": status, "ErrorCode": code}) == expected


def test_a_status_event_names_the_message_and_the_whatsapp_channel():
    form = {"MessageSid": SID, "MessageStatus": "read", "From": "whatsapp:+14155238886", "To": "whatsapp:+15550001"}
    [event] = status_events(form, SentMessage("default", "m_wa", "ann"), "2024-05-01T10:00:00Z")
    assert event == {"id": f"twilio:{SID}:read", "type": "message.opened", "workspace": "default", "contact_id": "ann",
                     "occurred_at": "2024-05-01T10:00:00Z", "source": "twilio",
                     "data": {"message_id": "m_wa", "channel": "whatsapp", "provider": "twilio",
                              "provider_message_id": SID}}
    Event.model_validate(event)


@pytest.mark.parametrize("text, kind", [
    ("STOP", "contact.unsubscribed"), ("  stop\n", "contact.unsubscribed"), ("StopAll", "contact.unsubscribed"),
    ("unsubscribe", "contact.unsubscribed"), ("Cancel", "contact.unsubscribed"), ("END", "contact.unsubscribed"),
    ("quit", "contact.unsubscribed"), ("START", "contact.subscribed"), ("unstop", "contact.subscribed"),
    ("stop it please", None), ("Hello", None), ("", None), (None, None),
])
def test_opt_out_and_opt_in_keywords(text, kind):
    assert keyword(text) == kind


def test_inbound_keywords_give_one_event_per_contact_with_that_number():
    form = {"MessageSid": SID, "Body": "Stop", "From": "whatsapp:+15550001", "To": "whatsapp:+14155238886"}
    events = inbound_events(form, "default", ["ann", "ann-2"], "2024-05-01T10:00:00Z")
    assert [(e["type"], e["contact_id"], e["data"]["channel"]) for e in events] == \
        [("contact.unsubscribed", "ann", "whatsapp"), ("contact.unsubscribed", "ann-2", "whatsapp")]
    assert len({e["id"] for e in events}) == 2
    assert events == inbound_events(form, "default", ["ann", "ann-2"], "2024-05-01T10:00:00Z")  # deterministic ids


# -- the routes ------------------------------------------------------------------------------
def make_client(tmp_path, **settings_overrides: Any):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import Services
    from api.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", admin_key=ADMIN, test_clock=True, port=8000,
                        base_url=PUBLIC, **{"twilio_auth_token": TOKEN, **settings_overrides})
    services = Services(settings)
    services.ensure_admin_key()
    client = TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN}"})
    client.services = services
    return client


@pytest.fixture
def twilio_client(tmp_path):
    with make_client(tmp_path) as client:
        yield client


def signed_post(client, path: str, form: dict[str, str], query: str = "", *, token: str = TOKEN,
                signed_url: str | None = None, signature: str | None = None):
    url = f"{PUBLIC}{path}" + (f"?{query}" if query else "")
    signature = signature if signature is not None else RequestValidator(token).compute_signature(
        signed_url or url, form)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": ""}
    if signature:
        headers["X-Twilio-Signature"] = signature
    return client.post(path + (f"?{query}" if query else ""), content=urlencode(form), headers=headers)


def records(client) -> list[dict[str, Any]]:
    conn = client.services.log.connection()
    return [orjson.loads(row[0]) for row in conn.execute("SELECT body FROM log ORDER BY position")]


def from_twilio(client) -> list[dict[str, Any]]:
    return [r for r in records(client) if r["source"] == "twilio"]


def seed(client, envelopes: list[dict[str, Any]]) -> None:
    now = dt.datetime.now(dt.UTC)
    client.services.append([Event.model_validate(e).to_record(received_at=now) for e in envelopes])
    settle(client)


def seed_sms(client, contact_id: str = "ann", message_id: str = "m_sms1", sid: str = SID, phone: str = "+15550001",
             channel: str = "sms") -> None:
    seed(client, [
        {"id": f"seed:{contact_id}", "type": "contact.created", "contact_id": contact_id, "data": {"phone": phone}},
        {"id": f"{message_id}:sent", "type": "message.sent", "contact_id": contact_id, "source": "engine",
         "data": {"message_id": message_id, "channel": channel, "journey_id": "j1", "provider": "twilio",
                  "provider_message_id": sid, "to": phone}},
    ])


def status_form(status: str, code: str = "", sid: str = SID) -> dict[str, str]:
    form = {"AccountSid": "AC0123456789abcdef0123456789abcdef", "ApiVersion": "2010-04-01", "MessageSid": sid,
            "SmsSid": sid, "SmsStatus": status, "MessageStatus": status, "From": "+15559990000", "To": "+15550001"}
    if code:
        form["ErrorCode"] = code
    return form


def test_signed_status_callbacks_become_events(twilio_client):
    seed_sms(twilio_client)
    path = "/webhooks/twilio/status"
    assert signed_post(twilio_client, path, status_form("sent"), "m=m_sms1").json()["recorded"] == []
    response = signed_post(twilio_client, path, status_form("delivered"), "m=m_sms1")
    assert response.status_code == 200 and response.json() == {"recorded": [f"twilio:{SID}:delivered"],
                                                               "duplicates": []}
    [event] = from_twilio(twilio_client)
    assert (event["type"], event["contact_id"], event["workspace"]) == ("message.delivered", "ann", "default")
    assert event["data"] == {"message_id": "m_sms1", "channel": "sms", "provider": "twilio", "journey_id": "j1",
                             "provider_message_id": SID}
    again = signed_post(twilio_client, path, status_form("delivered"), "m=m_sms1")
    assert again.json() == {"recorded": [], "duplicates": [f"twilio:{SID}:delivered"]}
    assert len(from_twilio(twilio_client)) == 1


def test_failures_carry_the_error_code_and_permanent_ones_bounce(twilio_client):
    seed_sms(twilio_client)
    seed_sms(twilio_client, "bo", "m_sms2", "SM2", "+15550002")
    path = "/webhooks/twilio/status"
    assert signed_post(twilio_client, path, status_form("undelivered", "30003"), "m=m_sms1").status_code == 200
    assert signed_post(twilio_client, path, status_form("failed", "21211", "SM2"), "m=m_sms2").status_code == 200
    failed, bounced = from_twilio(twilio_client)
    assert (failed["type"], failed["data"]["error_code"], failed["data"]["reason"]) == \
        ("message.failed", "30003", "twilio 30003: undelivered")
    assert (bounced["type"], bounced["contact_id"], bounced["data"]["bounce_type"], bounced["data"]["channel"]) == \
        ("message.bounced", "bo", "hard", "sms")


def test_a_message_is_found_by_its_sid_without_the_query_and_unknown_ones_are_ignored(twilio_client):
    seed_sms(twilio_client)
    path = "/webhooks/twilio/status"
    assert signed_post(twilio_client, path, status_form("delivered")).json()["recorded"] == [f"twilio:{SID}:delivered"]
    unknown = signed_post(twilio_client, path, status_form("delivered", sid="SMunknown"), "m=m_nope")
    assert unknown.status_code == 200 and unknown.json()["ignored"] == "unknown message"
    assert len(from_twilio(twilio_client)) == 1


@pytest.mark.parametrize("tamper", [
    {"token": "another-auth-token"},                                  # signed with another account's token
    {"signed_url": f"{PUBLIC}/webhooks/twilio/status?m=m_other"},     # signed for another message
    {"signed_url": "http://127.0.0.1:8000/webhooks/twilio/status?m=m_sms1"},  # not the public URL
    {"signature": "bm90IHRoZSBzaWduYXR1cmU="},
])
def test_bad_signatures_are_refused_and_nothing_is_appended(twilio_client, tamper):
    seed_sms(twilio_client)
    before = len(records(twilio_client))
    response = signed_post(twilio_client, "/webhooks/twilio/status", status_form("delivered"), "m=m_sms1", **tamper)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "bad_signature"
    assert response.json()["error"]["details"] == [{"loc": "headers.X-Twilio-Signature", "message": "does not match"}]
    assert len(records(twilio_client)) == before


def test_an_altered_form_fails_the_signature(twilio_client):
    seed_sms(twilio_client)
    form = status_form("delivered")
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC}/webhooks/twilio/status?m=m_sms1", form)
    response = signed_post(twilio_client, "/webhooks/twilio/status", {**form, "MessageStatus": "failed",
                                                                      "ErrorCode": "21211"}, "m=m_sms1",
                           signature=signature)
    assert response.status_code == 403 and from_twilio(twilio_client) == []


def test_a_missing_signature_is_refused(twilio_client):
    response = signed_post(twilio_client, "/webhooks/twilio/inbound", {"Body": "STOP", "From": "+15550001"},
                           signature="")
    assert response.status_code == 403 and response.json()["error"]["code"] == "missing_signature"


def test_without_an_auth_token_the_twilio_webhooks_are_off(tmp_path):
    with make_client(tmp_path, twilio_auth_token=None) as client:
        response = signed_post(client, "/webhooks/twilio/status", status_form("delivered"), "m=m_sms1")
    assert response.status_code == 503
    assert "SWITCHBACK_TWILIO_AUTH_TOKEN" in response.json()["error"]["message"]


def inbound(client, body: str, sender: str = "+15550001", sid: str = "SMin1", query: str = ""):
    form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": "AC0123456789abcdef0123456789abcdef", "Body": body,
            "From": sender, "To": "+15559990000", "NumMedia": "0"}
    return signed_post(client, "/webhooks/twilio/inbound", form, query)


def test_stop_unsubscribes_the_contact_with_that_number_and_answers_empty_twiml(twilio_client):
    seed(twilio_client, [
        {"id": "c1", "type": "contact.created", "contact_id": "ann", "data": {"phone": "+15550001"}},
        {"id": "c2", "type": "contact.created", "contact_id": "bo", "data": {"phone": "+1 (555) 000-2222"}},
        {"id": "c3", "type": "contact.created", "contact_id": "cy", "data": {"phone": "+15550003"}},
    ])
    response = inbound(twilio_client, " stop ")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/xml")
    assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert inbound(twilio_client, "Quit", sender="whatsapp:+15550002222", sid="SMin2").status_code == 200
    assert inbound(twilio_client, "what time do you open?", sender="+15550003", sid="SMin3").status_code == 200
    assert inbound(twilio_client, "STOP", sender="+15559999999", sid="SMin4").status_code == 200  # nobody's number
    events = from_twilio(twilio_client)
    assert [(e["type"], e["contact_id"], e["data"]["channel"]) for e in events] == \
        [("contact.unsubscribed", "ann", "sms"), ("contact.unsubscribed", "bo", "whatsapp")]
    settle(twilio_client)
    assert twilio_client.get("/v1/contacts/ann").json()["unsubscribed"] == ["sms"]


def test_start_subscribes_again_and_a_workspace_can_be_named_in_the_url(twilio_client):
    seed(twilio_client, [{"id": "c1", "type": "contact.created", "contact_id": "ann", "data": {"phone": "+15550001"}}])
    assert inbound(twilio_client, "STOP", sid="SMa").status_code == 200
    assert inbound(twilio_client, "start", sid="SMb").status_code == 200
    assert inbound(twilio_client, "STOP", sid="SMc", query="w=other").status_code == 200  # no such contact there
    assert [e["type"] for e in from_twilio(twilio_client)] == ["contact.unsubscribed", "contact.subscribed"]
    settle(twilio_client)
    assert twilio_client.get("/v1/contacts/ann").json()["unsubscribed"] == []


# -- suppression, end to end ----------------------------------------------------------------
SMS_JOURNEY = {
    "id": "ping-sms", "name": "Ping by SMS", "settings": {"reentry": "always"},
    "nodes": [
        {"id": "start", "type": "entry", "position": {"x": 0, "y": 0}, "data": {"trigger": {"event": "ping"}}},
        {"id": "hello", "type": "send", "position": {"x": 0, "y": 100}, "data": {"channel": "sms", "template": "hi"}},
        {"id": "done", "type": "end", "position": {"x": 0, "y": 200}, "data": {}},
    ],
    "edges": [{"id": "e1", "source": "start", "target": "hello"}, {"id": "e2", "source": "hello", "target": "done"}],
}


def test_after_an_invalid_number_error_the_next_sms_is_suppressed(twilio_client):
    client = twilio_client
    assert client.put("/v1/templates/hi", json={"channel": "sms", "text": "Hi!"}).status_code == 200
    assert client.put("/v1/journeys/ping-sms", json=SMS_JOURNEY).json()["problems"] == []
    assert client.post("/v1/journeys/ping-sms/publish").status_code == 200
    seed(client, [{"id": "c1", "type": "contact.created", "contact_id": "dee", "data": {"phone": "+15550004"}}])
    client.post("/v1/events", json={"id": "ping-1", "type": "ping", "contact_id": "dee"})
    settle(client)
    [sent] = client.get("/v1/outbox").json()["items"]
    response = signed_post(client, "/webhooks/twilio/status", status_form("undelivered", "21211", "SMdee"),
                           f"m={sent['message_id']}")
    assert response.status_code == 200 and len(response.json()["recorded"]) == 1, response.text
    settle(client)

    client.post("/v1/events", json={"id": "ping-2", "type": "ping", "contact_id": "dee"})
    settle(client)
    assert len(client.get("/v1/outbox").json()["items"]) == 1
    suppressed = [r for r in records(client) if r["type"] == "message.suppressed"]
    assert [(r["contact_id"], r["data"]["channel"], r["data"]["reason"]) for r in suppressed] == \
        [("dee", "sms", "suppressed")]
