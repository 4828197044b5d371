"""The Twilio provider with the real twilio SDK against a local HTTP server that records
requests and answers like Twilio (201, 429, 500, 400 with Twilio's error body)."""

from __future__ import annotations

import base64

import pytest

from engine.providers.base import OutgoingMessage, PermanentError, TransientError
from engine.providers.twilio import TwilioProvider, status_callback_url
from tests.support import free_port

SID, TOKEN = "AC" + "1" * 32, "twilio-test-token"


def message(channel: str = "sms", **extra) -> OutgoingMessage:
    fields = dict(message_id="m_77aa", workspace="acme", contact_id="c1", channel=channel, to="+4915112345678",
                  text="Your code: 1234")
    fields.update(extra)
    return OutgoingMessage(**fields)


def provider(url: str, **extra) -> TwilioProvider:
    options = dict(sms_from="+15005550006", whatsapp_from="+14155238886", public_url="https://sb.example/",
                   api_base_url=url)
    options.update(extra)
    return TwilioProvider(SID, TOKEN, **options)


def test_sms_is_created_with_status_callback(stub_http):
    receipt = provider(stub_http.url).send(message())

    (request,) = stub_http.requests
    assert receipt.provider == "twilio"
    assert receipt.provider_message_id == "SM" + f"{1:032x}"
    assert request.method == "POST"
    assert request.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert request.form == {"To": ["+4915112345678"], "From": ["+15005550006"], "Body": ["Your code: 1234"],
                            "StatusCallback": ["https://sb.example/webhooks/twilio/status?m=m_77aa"]}
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_whatsapp_prefixes_both_numbers(stub_http):
    provider(stub_http.url).send(message("whatsapp"))
    form = stub_http.requests[0].form
    assert form["To"] == ["whatsapp:+4915112345678"]
    assert form["From"] == ["whatsapp:+14155238886"]
    provider(stub_http.url, whatsapp_from="whatsapp:+14155238886").send(message("whatsapp", to="whatsapp:+491"))
    assert stub_http.requests[1].form["To"] == ["whatsapp:+491"]
    assert stub_http.requests[1].form["From"] == ["whatsapp:+14155238886"]


def test_messaging_service_and_no_public_url(stub_http):
    provider(stub_http.url, sms_from=None, messaging_service_sid="MG" + "2" * 32, public_url=None).send(message())
    form = stub_http.requests[0].form
    assert form["MessagingServiceSid"] == ["MG" + "2" * 32]
    assert "From" not in form and "StatusCallback" not in form


def test_rate_limited_and_server_errors_are_transient(stub_http):
    sms = provider(stub_http.url)
    stub_http.reply(429, {"code": 20429, "message": "Too Many Requests", "more_info":
                          "https://www.twilio.com/docs/errors/20429", "status": 429})
    with pytest.raises(TransientError, match=r"twilio error 20429 \(HTTP 429\): .*Too Many Requests"):
        sms.send(message())
    stub_http.reply(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
    with pytest.raises(TransientError, match=r"HTTP 500"):
        sms.send(message())
    stub_http.reply(503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"})
    with pytest.raises(TransientError, match=r"HTTP 503"):
        sms.send(message())


def test_invalid_number_is_permanent_without_leaking_the_token(stub_http):
    stub_http.reply(400, {"code": 21211, "message": "The 'To' number +49 is not a valid phone number.",
                          "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})
    with pytest.raises(PermanentError, match=r"twilio error 21211 \(HTTP 400\): .*not a valid phone number") as error:
        provider(stub_http.url).send(message(to="+49"))
    assert TOKEN not in str(error.value)
    assert "\x1b[" not in str(error.value)  # no terminal colours from the SDK's __str__


def test_rfc9457_error_shape_is_classified(stub_http):
    stub_http.reply(400, {"type": "https://www.twilio.com/docs/errors/21610", "title": "Unsubscribed recipient",
                          "status": 400, "code": 21610, "detail": "The recipient replied STOP"})
    with pytest.raises(PermanentError, match=r"21610 \(HTTP 400\): Unsubscribed recipient: The recipient replied STOP"):
        provider(stub_http.url).send(message())


def test_unreachable_api_is_transient():
    with pytest.raises(TransientError, match="twilio connection problem"):
        provider(f"http://127.0.0.1:{free_port()}", timeout=2).send(message())


def test_messages_twilio_cannot_send_fail_before_calling(stub_http):
    with pytest.raises(PermanentError, match="no text"):
        provider(stub_http.url).send(message(text=None))
    with pytest.raises(PermanentError, match="no WhatsApp sender"):
        provider(stub_http.url, whatsapp_from=None).send(message("whatsapp"))
    with pytest.raises(PermanentError, match="no SMS sender"):
        provider(stub_http.url, sms_from=None).send(message())
    with pytest.raises(PermanentError, match="does not send 'email'"):
        provider(stub_http.url).send(message("email"))
    assert stub_http.requests == []
    assert TOKEN not in repr(provider(stub_http.url))


def test_status_callback_url_quotes_the_message_id():
    assert status_callback_url("https://sb.example/", "m_1") == "https://sb.example/webhooks/twilio/status?m=m_1"
    assert status_callback_url("https://sb.example", "a&b c") == "https://sb.example/webhooks/twilio/status?m=a%26b+c"
