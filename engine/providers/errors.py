"""What a provider's failure means: worth retrying (``TransientError``) or not
(``PermanentError``), with a short readable reason that names the provider's own code.

Pure functions from the exceptions the client libraries raise (botocore for SES,
smtplib for SMTP, the twilio SDK and requests for Twilio) to one of our two error
types. Transient: throttling, HTTP 429, 5xx, timeouts, broken connections, SMTP 4xx.
Permanent: everything else (invalid address, rejected content, SMTP 5xx, Twilio 4xx
such as 21211 "invalid To number", bad configuration). Reasons quote the provider's
code and message, never credentials (messages are cut to ``MAX_REASON`` characters).
"""

from __future__ import annotations

import smtplib
import ssl

from engine.providers.base import PermanentError, TransientError

MAX_REASON = 300

# SES v2 (and v1) error codes that clear up by themselves after a while.
SES_TRANSIENT_CODES = frozenset({
    "Throttling", "ThrottlingException", "TooManyRequestsException", "LimitExceededException",
    "RequestTimeout", "RequestTimeoutException", "ServiceUnavailable", "ServiceUnavailableException",
    "InternalFailure", "InternalServerError", "InternalError",
})


def _short(text: object) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def _error(transient: bool, reason: str) -> TransientError | PermanentError:
    return (TransientError if transient else PermanentError)(_short(reason))


def classify_ses_error(exc: BaseException) -> TransientError | PermanentError:
    """A botocore ``ClientError`` (service answered) or ``BotoCoreError`` (no usable answer)."""
    from botocore import exceptions as boto

    if isinstance(exc, boto.ClientError):
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "Unknown")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        transient = code in SES_TRANSIENT_CODES or status == 429 or status >= 500
        reason = f"ses {code}"
        if status:
            reason += f" (HTTP {status})"
        message = error.get("Message")
        return _error(transient, f"{reason}: {message}" if message else reason)
    if isinstance(exc, (boto.ConnectionError, boto.HTTPClientError)):  # timeouts, refused, reset
        return TransientError(_short(f"ses connection problem: {type(exc).__name__}: {exc}"))
    if isinstance(exc, boto.NoCredentialsError):
        return PermanentError("ses: no AWS credentials (set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a role)")
    if isinstance(exc, boto.BotoCoreError):
        return PermanentError(_short(f"ses {type(exc).__name__}: {exc}"))
    return classify_network_error("ses", exc)


def classify_smtp_error(exc: BaseException) -> TransientError | PermanentError:
    """An ``smtplib`` exception, or a socket/TLS error raised while talking SMTP."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        details = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        return _error(transient, f"smtp recipient refused: {details}")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientError(_short(f"smtp server disconnected: {exc}"))
    if isinstance(exc, smtplib.SMTPResponseException):  # sender refused, data error, auth, connect, helo
        code = exc.smtp_code
        transient = 400 <= code < 500
        kind = {smtplib.SMTPAuthenticationError: "authentication failed",
                smtplib.SMTPSenderRefused: "sender refused"}.get(type(exc), "error")
        return _error(transient, f"smtp {kind}: {code} {_text(exc.smtp_error)}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentError(_short(f"smtp server does not support it: {exc}"))
    if isinstance(exc, smtplib.SMTPException):
        return PermanentError(_short(f"smtp error: {exc}"))
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentError(_short(f"smtp TLS certificate rejected: {getattr(exc, 'verify_message', None) or exc}"))
    return classify_network_error("smtp", exc)


def classify_twilio_error(exc: BaseException) -> TransientError | PermanentError:
    """A twilio SDK exception (REST or RFC 9457 shape) or a ``requests`` transport error."""
    from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

    if isinstance(exc, (TwilioRestException, TwilioServiceException)):
        status = int(exc.status or 0)
        if isinstance(exc, TwilioRestException):
            message = exc.msg
        else:
            message = f"{exc.title}: {exc.detail}" if exc.detail else exc.title
        transient = status == 429 or status >= 500
        reason = f"twilio error {exc.code}" if exc.code is not None else "twilio error"
        return _error(transient, f"{reason} (HTTP {status}): {message}")
    import requests  # the twilio SDK's transport

    if isinstance(exc, requests.RequestException):
        transient = isinstance(exc, (requests.ConnectionError, requests.Timeout))
        return _error(transient, f"twilio connection problem: {type(exc).__name__}: {exc}")
    if isinstance(exc, TwilioException):
        return PermanentError(_short(f"twilio: {exc}"))
    return classify_network_error("twilio", exc)


def classify_network_error(provider: str, exc: BaseException) -> TransientError | PermanentError:
    """Socket-level failures: timeouts and connection problems are transient, the rest permanent."""
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return TransientError(_short(f"{provider} connection problem: {type(exc).__name__}: {exc}"))
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLCertVerificationError):
        return TransientError(_short(f"{provider} TLS problem: {exc}"))
    if isinstance(exc, OSError):  # name resolution, unreachable network
        return TransientError(_short(f"{provider} network problem: {type(exc).__name__}: {exc}"))
    return PermanentError(_short(f"{provider} {type(exc).__name__}: {exc}"))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
