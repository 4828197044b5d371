"""The ``twilio`` provider for SMS and WhatsApp, through the official twilio SDK
(``Client(...).messages.create``).

SMS goes from the configured number (or a Messaging Service); WhatsApp messages have
both ends prefixed ``whatsapp:``. Every message asks Twilio to report its status to
``<public url>/webhooks/twilio/status?m=<message_id>``, which is how delivery and
failure come back to the message. The receipt's ``provider_message_id`` is the
message SID.

``api_base_url`` points the SDK's ``api`` domain somewhere else than
``https://api.twilio.com`` (a local test server). The SDK's own retries stay off:
retrying is the job of ``engine.providers.retry.send_with_retry``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from engine.providers.base import OutgoingMessage, PermanentError, Receipt
from engine.providers.errors import classify_twilio_error

WHATSAPP = "whatsapp:"


def status_callback_url(public_url: str, message_id: str) -> str:
    """Where Twilio reports this message's status (the webhook route verifies the
    signature against exactly this URL)."""
    return f"{public_url.rstrip('/')}/webhooks/twilio/status?{urlencode({'m': message_id})}"


def whatsapp_address(number: str) -> str:
    return number if number.startswith(WHATSAPP) else WHATSAPP + number


class TwilioProvider:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, *, sms_from: str | None = None,
                 whatsapp_from: str | None = None, messaging_service_sid: str | None = None,
                 public_url: str | None = None, api_base_url: str | None = None, timeout: float = 10.0,
                 client: Any = None):
        """``sms_from``/``whatsapp_from``: sender numbers in E.164 (``+4915…``);
        ``messaging_service_sid`` may replace ``sms_from``. ``public_url``: this
        deployment's public base URL, for status callbacks (none: no callbacks).
        ``client``: a ready ``twilio.rest.Client`` (account and token are then ignored)."""
        if client is None:
            if not (account_sid and auth_token):
                raise ValueError("TwilioProvider needs an account SID and an auth token")
            from twilio.http.http_client import TwilioHttpClient
            from twilio.rest import Client

            client = Client(account_sid, auth_token, http_client=TwilioHttpClient(timeout=timeout))
        if api_base_url:
            client.api.base_url = api_base_url.rstrip("/")
        self.client = client
        self.sms_from, self.whatsapp_from = sms_from, whatsapp_from
        self.messaging_service_sid, self.public_url = messaging_service_sid, public_url

    def __repr__(self) -> str:  # never shows the auth token
        return f"TwilioProvider(sms_from={self.sms_from!r}, whatsapp_from={self.whatsapp_from!r})"

    def request(self, message: OutgoingMessage) -> dict[str, Any]:
        """The ``messages.create`` arguments for a message (pure; PermanentError when the
        message cannot be sent: no text, no sender number for the channel)."""
        body = message.text
        if not body:
            raise PermanentError(f"{message.channel} message has no text")
        params: dict[str, Any] = {"body": body}
        if message.channel == "whatsapp":
            if not self.whatsapp_from:
                raise PermanentError("twilio: no WhatsApp sender number configured")
            params.update(to=whatsapp_address(message.to), from_=whatsapp_address(self.whatsapp_from))
        elif message.channel == "sms":
            if self.sms_from:
                params.update(to=message.to, from_=self.sms_from)
            elif self.messaging_service_sid:
                params.update(to=message.to, messaging_service_sid=self.messaging_service_sid)
            else:
                raise PermanentError("twilio: no SMS sender number or messaging service configured")
        else:
            raise PermanentError(f"twilio does not send {message.channel!r} messages")
        if self.public_url:
            params["status_callback"] = status_callback_url(self.public_url, message.message_id)
        return params

    def send(self, message: OutgoingMessage) -> Receipt:
        params = self.request(message)
        import requests  # the twilio SDK's transport
        from twilio.base.exceptions import TwilioException

        try:
            sent = self.client.messages.create(**params)
        except (TwilioException, requests.RequestException, OSError) as exc:
            raise classify_twilio_error(exc) from exc
        return Receipt(provider=self.name, provider_message_id=sent.sid)
