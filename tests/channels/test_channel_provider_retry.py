"""Retries with exponential backoff and full jitter (driven by an injected sleep), and
how each provider's errors are classified as transient or permanent."""

from __future__ import annotations

import smtplib
import socket
import ssl

import pytest

from engine.providers.base import OutgoingMessage, PermanentError, Receipt, TransientError
from engine.providers.errors import classify_ses_error, classify_smtp_error, classify_twilio_error
from engine.providers.retry import DeliveryFailed, backoff_cap, send_with_retry

MESSAGE = OutgoingMessage(message_id="m_1", workspace="acme", contact_id="c1", channel="email", to="a@b.c",
                          text="hi")


class Flaky:
    """Fails the first calls with the given errors, then succeeds."""

    name = "flaky"

    def __init__(self, *errors: Exception):
        self.errors, self.calls = list(errors), 0

    def send(self, message: OutgoingMessage) -> Receipt:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Receipt("flaky", f"p-{self.calls}")


def run(provider, **options):
    sleeps: list[float] = []
    options.setdefault("random", lambda: 1.0)  # the top of each jitter range
    return sleeps, lambda: send_with_retry(provider, MESSAGE, sleep=sleeps.append, **options)


def test_transient_errors_then_success():
    provider = Flaky(TransientError("ses Throttling"), TransientError("ses Throttling"))
    sleeps, send = run(provider)
    assert send() == Receipt("flaky", "p-3")
    assert provider.calls == 3
    assert sleeps == [1.0, 2.0]  # caps 1 and 2 seconds (random() = 1.0)


def test_three_attempts_means_three_calls_in_total():
    provider = Flaky(*[TransientError("twilio error 20429 (HTTP 429): Too Many Requests")] * 5)
    sleeps, send = run(provider, base_delay=0.5)
    with pytest.raises(DeliveryFailed) as failure:
        send()
    assert provider.calls == 3 and failure.value.attempts == 3
    assert failure.value.permanent is False
    assert str(failure.value) == failure.value.reason == \
        "twilio error 20429 (HTTP 429): Too Many Requests (gave up after 3 attempts)"
    assert sleeps == [0.5, 1.0]


def test_permanent_error_fails_at_once():
    provider = Flaky(TransientError("busy"), PermanentError("smtp recipient refused: 550 No such user"))
    sleeps, send = run(provider)
    with pytest.raises(DeliveryFailed) as failure:
        send()
    assert (failure.value.permanent, failure.value.attempts, provider.calls) == (True, 2, 2)
    assert failure.value.reason == "smtp recipient refused: 550 No such user"
    assert len(sleeps) == 1


def test_delays_are_jittered_within_exponential_caps():
    draws = iter([0.25, 0.5, 0.75, 0.1, 0.9])
    provider = Flaky(*[TransientError("x")] * 10)
    sleeps, send = run(provider, attempts=6, base_delay=2.0, max_delay=10.0, random=lambda: next(draws))
    with pytest.raises(DeliveryFailed):
        send()
    caps = [backoff_cap(n, 2.0, 10.0) for n in range(1, 6)]
    assert caps == [2.0, 4.0, 8.0, 10.0, 10.0]
    assert sleeps == [0.5, 2.0, 6.0, 1.0, 9.0]
    assert all(0 <= s <= cap for s, cap in zip(sleeps, caps))


def test_single_attempt_and_unknown_errors():
    sleeps, send = run(Flaky(TransientError("x")), attempts=1)
    with pytest.raises(DeliveryFailed, match=r"^x \(gave up after 1 attempt\)$"):
        send()
    assert sleeps == []
    _, send = run(Flaky(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):  # not ours to interpret
        send()
    with pytest.raises(ValueError):
        send_with_retry(Flaky(), MESSAGE, attempts=0)


# -- classification ---------------------------------------------------------------------

def ses_client_error(code: str, status: int, message: str = "m"):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "SendEmail")


@pytest.mark.parametrize("code,status,transient", [
    ("Throttling", 400, True), ("TooManyRequestsException", 429, True), ("LimitExceededException", 400, True),
    ("InternalFailure", 500, True), ("ServiceUnavailable", 503, True), ("SomethingNew", 502, True),
    ("MessageRejected", 400, False), ("BadRequestException", 400, False), ("AccountSuspendedException", 400, False),
    ("SendingPausedException", 400, False), ("MailFromDomainNotVerifiedException", 400, False),
    ("NotFoundException", 404, False),
])
def test_ses_client_errors(code, status, transient):
    error = classify_ses_error(ses_client_error(code, status, "details"))
    assert isinstance(error, TransientError if transient else PermanentError)
    assert str(error) == f"ses {code} (HTTP {status}): details"


def test_ses_transport_errors():
    from botocore import exceptions as boto

    url = "https://email.eu-west-1.amazonaws.com"
    for exc in (boto.EndpointConnectionError(endpoint_url=url), boto.ConnectTimeoutError(endpoint_url=url),
                boto.ReadTimeoutError(endpoint_url=url), boto.ConnectionClosedError(endpoint_url=url)):
        assert isinstance(classify_ses_error(exc), TransientError), exc
    assert isinstance(classify_ses_error(boto.NoCredentialsError()), PermanentError)
    assert isinstance(classify_ses_error(boto.ParamValidationError(report="bad")), PermanentError)
    assert len(str(classify_ses_error(ses_client_error("MessageRejected", 400, "x" * 1000)))) <= 300


@pytest.mark.parametrize("exc,transient,text", [
    (smtplib.SMTPRecipientsRefused({"a@b.c": (450, b"4.2.1 Mailbox busy")}), True, "450 4.2.1 Mailbox busy"),
    (smtplib.SMTPRecipientsRefused({"a@b.c": (550, b"5.1.1 Unknown user")}), False, "a@b.c: 550 5.1.1"),
    (smtplib.SMTPSenderRefused(451, b"try later", "news@acme.test"), True, "sender refused: 451 try later"),
    (smtplib.SMTPSenderRefused(553, b"not allowed", "news@acme.test"), False, "sender refused: 553"),
    (smtplib.SMTPDataError(452, b"insufficient storage"), True, "452"),
    (smtplib.SMTPDataError(554, b"spam"), False, "554 spam"),
    (smtplib.SMTPAuthenticationError(535, b"bad credentials"), False, "authentication failed: 535"),
    (smtplib.SMTPAuthenticationError(454, b"temporary auth failure"), True, "454"),
    (smtplib.SMTPConnectError(421, b"too many connections"), True, "421"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True, "disconnected"),
    (smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."), False, "STARTTLS"),
    (ConnectionRefusedError(111, "Connection refused"), True, "connection problem"),
    (socket.timeout("timed out"), True, "timed out"),
    (socket.gaierror(-2, "Name or service not known"), True, "network problem"),
    (ssl.SSLCertVerificationError(1, "certificate verify failed"), False, "certificate"),
])
def test_smtp_errors(exc, transient, text):
    error = classify_smtp_error(exc)
    assert isinstance(error, TransientError if transient else PermanentError)
    assert text in str(error)


def test_twilio_errors():
    import requests
    from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

    uri = "/Accounts/AC1/Messages.json"
    cases = [
        (TwilioRestException(429, uri, "Too Many Requests", 20429, "POST"), True),
        (TwilioRestException(500, uri, "Internal error", 20500, "POST"), True),
        (TwilioRestException(503, uri, "Unable to create record", 503, "POST"), True),
        (TwilioRestException(400, uri, "The 'To' number is not valid", 21211, "POST"), False),
        (TwilioRestException(401, uri, "Authenticate", 20003, "POST"), False),
        (TwilioServiceException("https://x", "Unsubscribed", 400, 21610, "replied STOP"), False),
        (TwilioServiceException("https://x", "Busy", 503, 20503), True),
        (requests.ConnectionError("refused"), True),
        (requests.Timeout("read timed out"), True),
        (requests.exceptions.InvalidURL("bad url"), False),
        (TwilioException("Credentials are required to create a TwilioClient"), False),
    ]
    for exc, transient in cases:
        assert isinstance(classify_twilio_error(exc), TransientError if transient else PermanentError), exc
    assert str(classify_twilio_error(cases[3][0])) == "twilio error 21211 (HTTP 400): The 'To' number is not valid"
