"""SES events through SNS: the pure mapping of every SES body shape (event publishing and
the older notifications, saved in ses_samples/ in the shapes of the AWS SES guide) and
``POST /webhooks/ses`` end to end: signed envelopes become events, anything forged,
altered, replayed or pointing at an untrusted host is refused with nothing appended,
retries are duplicates, subscriptions are confirmed, and a hard bounce suppresses the
next send to the contact."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import orjson
import pytest

from api.webhooks.lookup import SentMessage
from api.webhooks.ses_events import message_keys, parse_notification, to_events
from journeys.events import Event
from tests.channels.ses_samples.sns_signing import (OUR_MESSAGE_ID, SES_MESSAGE_ID, TOPIC, forger, sample,
                                                    signer)
from tests.support import ADMIN, settle

MESSAGE = SentMessage(workspace="default", message_id=OUR_MESSAGE_ID, contact_id="ann", channel="email",
                      journey_id="abandoned-cart")


# -- the mapping (pure) --------------------------------------------------------------------
@pytest.mark.parametrize("name, kind, data, at", [
    ("event-bounce", "message.bounced", {"bounce_type": "hard", "diagnostic": "smtp; 550 5.1.1 user unknown"},
     "2024-04-25T09:00:02.731Z"),
    ("event-bounce-transient", "message.bounced", {"bounce_type": "soft", "ses_bounce_subtype": "MailboxFull"},
     "2024-04-25T09:00:03.100Z"),
    ("event-complaint", "message.complained", {"feedback_type": "abuse"}, "2024-04-25T10:15:41.002Z"),
    ("event-delivery", "message.delivered", {}, "2024-04-25T09:00:01.804Z"),
    ("event-open", "message.opened", {}, "2024-04-25T12:30:05.250Z"),
    ("event-click", "message.clicked", {"url": "https://shop.example.com/cart/k-ann"}, "2024-04-25T12:31:10.020Z"),
    ("event-reject", "message.failed", {"reason": "rejected by SES: Bad content"}, "2024-04-25T09:00:00.512Z"),
    ("event-rendering-failure", "message.failed",
     {"reason": "rendering failed: Attribute 'first_name' is not present in the rendering data."},
     "2024-04-25T09:00:00.512Z"),
    ("event-delivery-delay", "message.delayed", {"delay_type": "TransientCommunicationFailure",
                                                 "expires_at": "2024-04-25T21:00:00.000Z"}, "2024-04-25T09:10:00.095Z"),
    ("event-subscription", "contact.unsubscribed", {"reason": "SES list management (UnsubscribeHeader)"},
     "2024-04-25T13:00:17.910Z"),
    ("notification-bounce", "message.bounced", {"bounce_type": "hard"}, "2024-04-25T09:00:02.731Z"),
    ("notification-complaint", "message.complained", {}, "2024-04-25T10:15:41.002Z"),
    ("notification-delivery", "message.delivered", {}, "2024-04-25T09:00:01.804Z"),
])
def test_each_ses_body_becomes_one_event_about_our_message(name, kind, data, at):
    [event] = to_events(sample(name), MESSAGE, "sns-1", "2024-04-25T23:59:59.000Z")
    assert (event["id"], event["type"], event["workspace"], event["contact_id"], event["source"]) == \
        ("ses:sns-1:0", kind, "default", "ann", "ses")
    assert event["occurred_at"] == at
    expected = {"message_id": OUR_MESSAGE_ID, "channel": "email", "provider": "ses", "journey_id": "abandoned-cart",
                "provider_message_id": SES_MESSAGE_ID, **data}
    assert event["data"].items() >= expected.items(), event["data"]
    Event.model_validate(event)  # a valid envelope


def test_send_events_and_not_spam_reports_give_nothing():
    assert to_events(sample("event-send"), MESSAGE, "sns-1", "2024-04-25T00:00:00Z") == []
    not_spam = sample("event-complaint")
    not_spam["complaint"]["complaintFeedbackType"] = "not-spam"
    assert to_events(not_spam, MESSAGE, "sns-1", "2024-04-25T00:00:00Z") == []
    topic_only = sample("event-subscription")
    topic_only["subscription"]["newTopicPreferences"]["unsubscribeAll"] = False
    assert to_events(topic_only, MESSAGE, "sns-1", "2024-04-25T00:00:00Z") == []


def test_resubscribing_to_everything_subscribes_the_contact_again():
    body = sample("event-subscription")
    body["subscription"]["oldTopicPreferences"]["unsubscribeAll"] = True
    body["subscription"]["newTopicPreferences"]["unsubscribeAll"] = False
    [event] = to_events(body, MESSAGE, "sns-1", "2024-04-25T00:00:00Z")
    assert event["type"] == "contact.subscribed" and event["data"]["channel"] == "email"


def test_a_missing_or_odd_ses_timestamp_falls_back_to_the_mail_then_the_sns_time():
    body = sample("event-delivery")
    body["delivery"]["timestamp"] = "yesterday"
    assert to_events(body, MESSAGE, "s", "2024-05-01T00:00:00Z")[0]["occurred_at"] == "2024-04-25T09:00:00.512Z"
    del body["mail"]["timestamp"]
    assert to_events(body, MESSAGE, "s", "2024-05-01T00:00:00Z")[0]["occurred_at"] == "2024-05-01T00:00:00Z"


def test_the_message_is_named_by_our_tag_or_by_the_ses_message_id():
    tagged = message_keys(sample("event-open"))
    assert (tagged.message_id, tagged.workspace, tagged.provider_message_id) == \
        (OUR_MESSAGE_ID, "default", SES_MESSAGE_ID)
    untagged = message_keys(sample("notification-bounce"))
    assert (untagged.message_id, untagged.provider_message_id) == (None, SES_MESSAGE_ID)


@pytest.mark.parametrize("text", ["not json", "[]", '{"eventType": "Bounce"}', '{"mail": {}}',
                                  '{"Records": [{"eventSource": "aws:s3"}]}'])
def test_messages_that_are_not_ses_bodies_are_recognised(text):
    assert parse_notification(text) is None


# -- POST /webhooks/ses ----------------------------------------------------------------------
@pytest.fixture
def ses_client(tmp_path):
    """The app with a trusted test certificate, an SNS topic allow-list and an in-memory
    transport that records what the webhook fetches (SubscribeURLs)."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.services import Services
    from api.settings import Settings

    settings = Settings(data_dir=tmp_path / "data", admin_key=ADMIN, test_clock=True, port=8000,
                        sns_cert_dir=signer().write(tmp_path / "certs"), sns_topic_arns=[TOPIC])
    services = Services(settings)
    services.ensure_admin_key()
    app = create_app(services)
    fetched: list[str] = []
    app.state.webhook_http = httpx.Client(transport=httpx.MockTransport(
        lambda request: fetched.append(str(request.url)) or httpx.Response(200, text="<ConfirmSubscriptionResponse/>")))
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN}"}) as client:
        client.services, client.fetched = services, fetched
        yield client


def records(client) -> list[dict[str, Any]]:
    conn = client.services.log.connection()
    return [orjson.loads(row[0]) for row in conn.execute("SELECT body FROM log ORDER BY position")]


def from_ses(client) -> list[dict[str, Any]]:
    return [r for r in records(client) if r["source"] == "ses"]


def seed_message(client, contact_id: str = "ann", message_id: str = OUR_MESSAGE_ID,
                 provider_message_id: str = SES_MESSAGE_ID, workspace: str = "default") -> None:
    """A contact and a message the sender reported as sent through SES (in the read model)."""
    now = dt.datetime.now(dt.UTC)
    envelopes = [
        {"id": f"seed:{workspace}:{contact_id}", "type": "contact.created", "contact_id": contact_id,
         "workspace": workspace, "data": {"email": f"{contact_id}@example.com"}},
        {"id": f"{workspace}:{message_id}:sent", "type": "message.sent", "contact_id": contact_id,
         "workspace": workspace, "source": "engine",
         "data": {"message_id": message_id, "channel": "email", "journey_id": "abandoned-cart", "provider": "ses",
                  "provider_message_id": provider_message_id, "to": f"{contact_id}@example.com"}},
    ]
    client.services.append([Event.model_validate(e).to_record(received_at=now) for e in envelopes])
    settle(client)


def post(client, envelope: Any, raw: bytes | None = None):
    """POST as SNS does: JSON as text/plain, the type in a header, no API key."""
    kind = envelope.get("Type", "") if isinstance(envelope, dict) else ""
    return client.post("/webhooks/ses", content=raw if raw is not None else orjson.dumps(envelope),
                       headers={"Content-Type": "text/plain; charset=UTF-8", "Authorization": "",
                                "x-amz-sns-message-type": kind})


def test_signed_ses_events_become_events_in_the_log(ses_client):
    seed_message(ses_client)
    expected = {"event-delivery": "message.delivered", "event-open": "message.opened",
                "event-click": "message.clicked", "event-complaint": "message.complained",
                "event-bounce": "message.bounced"}
    for n, name in enumerate(expected):
        envelope = signer().notification(sample(name), version="1" if n % 2 else "2", subject="Amazon SES Email Event")
        response = post(ses_client, envelope)
        assert response.status_code == 200, response.text
        assert response.json() == {"recorded": [f"ses:{envelope['MessageId']}:0"], "duplicates": []}
    events = from_ses(ses_client)
    assert [e["type"] for e in events] == list(expected.values())
    assert all((e["workspace"], e["contact_id"], e["data"]["message_id"], e["data"]["channel"],
                e["data"]["provider"]) == ("default", "ann", OUR_MESSAGE_ID, "email", "ses") for e in events)
    assert events[2]["data"]["url"] == "https://shop.example.com/cart/k-ann"
    assert events[4]["data"]["bounce_type"] == "hard"
    settle(ses_client)
    row = ses_client.services.read_db().execute(
        "SELECT status, delivered_at, bounced_at FROM messages WHERE message_id = ?", (OUR_MESSAGE_ID,)).fetchone()
    assert row == ("complained", "2024-04-25T09:00:01.804000Z", "2024-04-25T09:00:02.731000Z")


def test_notifications_without_tags_are_found_by_the_ses_message_id(ses_client):
    seed_message(ses_client, message_id="m_other", provider_message_id=SES_MESSAGE_ID)
    response = post(ses_client, signer().notification(sample("notification-delivery")))
    assert response.status_code == 200 and len(response.json()["recorded"]) == 1
    [event] = from_ses(ses_client)
    assert (event["type"], event["contact_id"], event["data"]["message_id"]) == ("message.delivered", "ann", "m_other")


def test_the_workspace_tag_finds_the_message_in_its_workspace(ses_client):
    seed_message(ses_client, contact_id="ann", provider_message_id="ses-default-1")
    seed_message(ses_client, contact_id="zed", provider_message_id="ses-acme-1", workspace="acme")
    body = sample("event-delivery")
    body["mail"]["tags"]["workspace"] = ["acme"]
    body["mail"]["messageId"] = "ses-id-unknown-here"  # only the tags name it
    assert post(ses_client, signer().notification(body)).json()["recorded"]
    [event] = from_ses(ses_client)
    assert (event["workspace"], event["contact_id"], event["data"]["message_id"]) == ("acme", "zed", OUR_MESSAGE_ID)


def test_a_retried_notification_is_recorded_once(ses_client):
    seed_message(ses_client)
    envelope = signer().notification(sample("event-bounce"))
    first, second = post(ses_client, envelope), post(ses_client, envelope)
    assert first.json()["recorded"] and second.json() == {"recorded": [], "duplicates": first.json()["recorded"]}
    assert [e["type"] for e in from_ses(ses_client)] == ["message.bounced"]


def _forged():
    return forger().notification(sample("event-bounce"))


def _altered():
    envelope = signer().notification(sample("event-delivery"))
    body = orjson.loads(envelope["Message"])
    body["eventType"] = "Bounce"
    body["bounce"] = sample("event-bounce")["bounce"]
    return {**envelope, "Message": orjson.dumps(body).decode()}


def _unsigned():
    envelope = signer().notification(sample("event-bounce"))
    del envelope["Signature"]
    return envelope


@pytest.mark.parametrize("make, status, code", [
    (_forged, 403, "bad_signature"),
    (_altered, 403, "bad_signature"),
    (_unsigned, 400, "malformed_sns"),
    (lambda: signer().notification(sample("event-bounce"),
                                   cert_url="https://sns.eu-west-1.amazonaws.com.evil.io/x.pem"), 403, "untrusted_url"),
    (lambda: signer().notification(sample("event-bounce"), cert_url="https://evil.io/x.pem"), 403, "untrusted_url"),
    (lambda: signer().notification(sample("event-bounce"),
                                   cert_url="http://sns.eu-west-1.amazonaws.com/x.pem"), 403, "untrusted_url"),
    (lambda: signer().notification(sample("event-bounce"), topic="arn:aws:sns:eu-west-1:999999999999:theirs"),
     403, "topic_not_allowed"),
    (lambda: signer().notification(sample("event-bounce"),
                                   timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)), 403, "stale_message"),
])
def test_untrusted_envelopes_are_refused_and_nothing_is_appended(ses_client, make, status, code):
    seed_message(ses_client)
    before = len(records(ses_client))
    response = post(ses_client, make())
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and error["details"][0]["loc"]
    assert len(records(ses_client)) == before


def test_a_body_that_is_not_json_is_a_bad_request(ses_client):
    response = post(ses_client, None, raw=b"Type=Notification")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_json"
    response = post(ses_client, None, raw=b"[1, 2]")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_sns"


def test_a_subscription_confirmation_is_confirmed_by_visiting_the_subscribe_url(ses_client):
    envelope = signer().envelope("SubscriptionConfirmation")
    response = post(ses_client, envelope)
    assert response.status_code == 200 and response.json() == {"confirmed": True, "topic": TOPIC}
    assert ses_client.fetched == [envelope["SubscribeURL"]]


@pytest.mark.parametrize("envelope, code", [
    (lambda: signer().envelope("SubscriptionConfirmation",
                               timestamp=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)), "stale_message"),
    (lambda: signer().envelope("SubscriptionConfirmation",
                               subscribe_url="https://evil.io/?Action=ConfirmSubscription"), "untrusted_url"),
    (lambda: signer().envelope("SubscriptionConfirmation", subscribe_url=(
        "https://sns.eu-west-1.amazonaws.com.evil.io/?Action=ConfirmSubscription")), "untrusted_url"),
    (lambda: forger().envelope("SubscriptionConfirmation"), "bad_signature"),
])
def test_replayed_forged_or_misdirected_confirmations_are_not_followed(ses_client, envelope, code):
    response = post(ses_client, envelope())
    assert response.status_code == 403 and response.json()["error"]["code"] == code
    assert ses_client.fetched == []


def test_an_unsubscribe_confirmation_is_only_acknowledged(ses_client):
    response = post(ses_client, signer().envelope("UnsubscribeConfirmation"))
    assert response.status_code == 200 and response.json()["unsubscribed"] is True
    assert ses_client.fetched == []


def test_reports_about_unknown_messages_are_acknowledged_and_not_recorded(ses_client):
    response = post(ses_client, signer().notification(sample("event-bounce")))
    assert response.status_code == 200 and response.json()["ignored"] == "unknown message"
    response = post(ses_client, signer().envelope("Notification", "plain text from another publisher"))
    assert response.status_code == 200 and response.json()["recorded"] == []
    seed_message(ses_client)
    response = post(ses_client, signer().notification(sample("event-send")))
    assert response.json()["recorded"] == [] and "Send" in response.json()["ignored"]
    assert from_ses(ses_client) == []


# -- suppression, end to end ----------------------------------------------------------------
PING_JOURNEY = {
    "id": "ping", "name": "Ping", "settings": {"reentry": "always"},
    "nodes": [
        {"id": "start", "type": "entry", "position": {"x": 0, "y": 0}, "data": {"trigger": {"event": "ping"}}},
        {"id": "hello", "type": "send", "position": {"x": 0, "y": 100},
         "data": {"channel": "email", "template": "hello"}},
        {"id": "done", "type": "end", "position": {"x": 0, "y": 200}, "data": {}},
    ],
    "edges": [{"id": "e1", "source": "start", "target": "hello"}, {"id": "e2", "source": "hello", "target": "done"}],
}


def publish_ping(client) -> None:
    saved = client.put("/v1/templates/hello", json={"channel": "email", "subject": "Hello", "text": "Hi!"})
    assert saved.status_code == 200, saved.text
    assert client.put("/v1/journeys/ping", json=PING_JOURNEY).json()["problems"] == []
    assert client.post("/v1/journeys/ping/publish").status_code == 200


def ping(client, contact_id: str, n: int) -> None:
    response = client.post("/v1/events", json={"id": f"ping-{contact_id}-{n}", "type": "ping",
                                               "contact_id": contact_id})
    assert response.status_code == 202, response.text
    settle(client)


def test_after_a_hard_bounce_the_next_send_is_suppressed(ses_client):
    publish_ping(ses_client)
    assert ses_client.post("/v1/events", json={"type": "contact.created", "contact_id": "bob",
                                               "data": {"email": "bob@example.com"}}).status_code == 202
    ping(ses_client, "bob", 1)
    [sent] = ses_client.get("/v1/outbox").json()["items"]
    bounce = sample("event-bounce")
    bounce["mail"]["tags"]["message_id"] = [sent["message_id"]]
    bounce["mail"]["messageId"] = "0100018f-unknown-to-the-read-model"
    response = post(ses_client, signer().notification(bounce))
    assert response.status_code == 200 and len(response.json()["recorded"]) == 1, response.text
    settle(ses_client)

    ping(ses_client, "bob", 2)
    assert len(ses_client.get("/v1/outbox").json()["items"]) == 1  # nothing more was sent
    suppressed = [r for r in records(ses_client) if r["type"] == "message.suppressed"]
    assert [(r["contact_id"], r["data"]["channel"], r["data"]["reason"]) for r in suppressed] == \
        [("bob", "email", "suppressed")]


def test_a_soft_bounce_does_not_suppress(ses_client):
    publish_ping(ses_client)
    ses_client.post("/v1/events", json={"type": "contact.created", "contact_id": "cy",
                                        "data": {"email": "cy@example.com"}})
    ping(ses_client, "cy", 1)
    [sent] = ses_client.get("/v1/outbox").json()["items"]
    bounce = sample("event-bounce-transient")
    bounce["mail"]["tags"]["message_id"] = [sent["message_id"]]
    assert post(ses_client, signer().notification(bounce)).json()["recorded"]
    settle(ses_client)
    ping(ses_client, "cy", 2)
    assert len(ses_client.get("/v1/outbox").json()["items"]) == 2
    assert not [r for r in records(ses_client) if r["type"] == "message.suppressed"]
