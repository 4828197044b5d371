"""The SES provider through real boto3: against moto in server mode (accepted and
rejected mail), a local server that throttles or fails, and a closed port."""

from __future__ import annotations

import json
import uuid
from email.header import decode_header, make_header

import pytest

from engine.providers.base import OutgoingMessage, PermanentError, TransientError
from engine.providers.ses import SesProvider, email_tags, header_list, tag_value
from tests.support import free_port

SENDER = "news@acme.test"


def message(to: str, **extra) -> OutgoingMessage:
    fields = dict(message_id="m_0123abcd", workspace="acme", contact_id="c1", channel="email", to=to,
                  subject="Your cart misses you", text="Hello Ann", html="<p>Hello <b>Ann</b></p>",
                  journey_id="abandoned cart/v2", node_id="s1",
                  headers={"List-Unsubscribe": "<https://sb.example/u/m_0123abcd>",
                           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
                  tags={"message_id": "m_0123abcd"})
    fields.update(extra)
    return OutgoingMessage(**fields)


def record_requests(client) -> list[dict]:
    """The SendEmail request bodies boto3 puts on the wire."""
    bodies: list[dict] = []
    client.meta.events.register("before-send.sesv2.SendEmail",
                                lambda request, **_: bodies.append(json.loads(request.body)))
    return bodies


@pytest.fixture
def verified(moto_ses):
    client = moto_ses.client()
    client.create_email_identity(EmailIdentity=SENDER)
    name = f"cs-{uuid.uuid4().hex[:8]}"
    client.create_configuration_set(ConfigurationSetName=name)
    return client, name


def test_ses_sends_both_parts_our_headers_tags_and_configuration_set(moto_ses, verified, monkeypatch):
    _, configuration_set = verified
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    provider = SesProvider(f"Acme <{SENDER}>", region=moto_ses.region, configuration_set=configuration_set,
                           endpoint_url=moto_ses.url)
    wire = record_requests(provider.client)
    to = f"ann-{uuid.uuid4().hex[:8]}@example.com"

    receipt = provider.send(message(to))

    assert receipt.provider == "ses"
    stored = [m for m in moto_ses.sent() if m["destinations"] == {"ToAddresses": [to]}]
    assert len(stored) == 1
    assert stored[0]["id"] == receipt.provider_message_id
    assert stored[0]["source"] == f"Acme <{SENDER}>"
    assert stored[0]["subject"] == "Your cart misses you"
    assert stored[0]["body"] == "<p>Hello <b>Ann</b></p>"  # moto keeps the HTML part

    (sent,) = wire  # what reached the server: moto drops headers, tags and the text part
    simple = sent["Content"]["Simple"]
    assert simple["Body"]["Text"]["Data"] == "Hello Ann"
    assert simple["Body"]["Html"]["Data"] == "<p>Hello <b>Ann</b></p>"
    assert {h["Name"]: h["Value"] for h in simple["Headers"]} == {
        "List-Unsubscribe": "<https://sb.example/u/m_0123abcd>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert sent["ConfigurationSetName"] == configuration_set
    assert {t["Name"]: t["Value"] for t in sent["EmailTags"]} == {
        "message_id": "m_0123abcd", "workspace": "acme", "journey_id": "abandoned_cart_v2"}


def test_ses_text_only_email_and_no_configuration_set(moto_ses, verified):
    client, _ = verified
    wire = record_requests(client)
    to = f"bob-{uuid.uuid4().hex[:8]}@example.com"
    receipt = SesProvider(SENDER, client=client).send(message(to, html=None, headers={}, journey_id=None))
    stored = [m for m in moto_ses.sent() if m["destinations"] == {"ToAddresses": [to]}]
    assert [m["id"] for m in stored] == [receipt.provider_message_id]
    assert stored[0]["body"] == "Hello Ann"
    assert "ConfigurationSetName" not in wire[0]
    assert "Headers" not in wire[0]["Content"]["Simple"]
    assert [t["Name"] for t in wire[0]["EmailTags"]] == ["message_id", "workspace"]


def test_ses_unverified_sender_is_a_permanent_error(moto_ses):
    provider = SesProvider(f"nobody-{uuid.uuid4().hex[:6]}@unverified.test", client=moto_ses.client())
    with pytest.raises(PermanentError, match=r"ses MessageRejected \(HTTP 400\): Email address not verified"):
        provider.send(message("ann@example.com"))


def test_ses_throttling_and_server_errors_are_transient(stub_http):
    import boto3
    from botocore.config import Config

    client = boto3.client("sesv2", region_name="eu-west-1", endpoint_url=stub_http.url,
                          aws_access_key_id="testing", aws_secret_access_key="testing",
                          config=Config(retries={"total_max_attempts": 1}))
    provider = SesProvider(SENDER, client=client)
    stub_http.reply(429, {"message": "Maximum sending rate exceeded."},
                    {"x-amzn-ErrorType": "TooManyRequestsException"})
    with pytest.raises(TransientError, match=r"TooManyRequestsException \(HTTP 429\): Maximum sending rate"):
        provider.send(message("ann@example.com"))
    stub_http.reply(503, {"message": "Service unavailable"}, {"x-amzn-ErrorType": "ServiceUnavailable"})
    with pytest.raises(TransientError, match="HTTP 503"):
        provider.send(message("ann@example.com"))
    stub_http.reply(400, {"message": "Illegal address"}, {"x-amzn-ErrorType": "BadRequestException"})
    with pytest.raises(PermanentError, match="BadRequestException"):
        provider.send(message("not-an-address"))
    assert [r.path for r in stub_http.requests] == ["/v2/email/outbound-emails"] * 3


def test_ses_provider_made_from_settings_does_not_retry_by_itself(stub_http, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    provider = SesProvider(SENDER, region="eu-west-1", endpoint_url=stub_http.url)
    stub_http.reply(500, {"message": "boom"}, {"x-amzn-ErrorType": "InternalFailure"})
    with pytest.raises(TransientError, match="InternalFailure"):
        provider.send(message("ann@example.com"))
    assert len(stub_http.requests) == 1  # retrying is send_with_retry's job


def test_ses_unreachable_endpoint_is_transient(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    provider = SesProvider(SENDER, region="eu-west-1", endpoint_url=f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(TransientError, match="ses connection problem"):
        provider.send(message("ann@example.com"))


def test_ses_message_without_body_fails_before_calling_ses():
    class Unused:
        def send_email(self, **_):
            raise AssertionError("SES must not be called")

    with pytest.raises(PermanentError, match="neither a text nor an HTML part"):
        SesProvider(SENDER, client=Unused()).send(message("ann@example.com", text=None, html=""))


def test_ses_tags_and_headers_are_made_acceptable():
    assert tag_value("abandoned cart/v2:ü") == "abandoned_cart_v2__"
    assert tag_value("") == "_"
    assert len(tag_value("x" * 400)) == 256
    tags = email_tags(message("a@b.c", tags={"message_id": "other", "campaign name": "Spring sale!", "none": None}))
    assert tags == [{"Name": "message_id", "Value": "m_0123abcd"}, {"Name": "workspace", "Value": "acme"},
                    {"Name": "journey_id", "Value": "abandoned_cart_v2"},
                    {"Name": "campaign_name", "Value": "Spring_sale_"}]
    (encoded,) = header_list({"X-Campaign": "Früh"})
    assert encoded["Name"] == "X-Campaign" and encoded["Value"].isascii()
    assert str(make_header(decode_header(encoded["Value"]))) == "Früh"
    with pytest.raises(PermanentError, match="line break"):
        header_list({"X-Evil": "a\r\nBcc: everyone@example.com"})
    with pytest.raises(PermanentError, match="invalid header name"):
        header_list({"Bad:Name": "x"})
