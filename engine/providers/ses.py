"""The ``ses`` email provider: Amazon SES v2 ``SendEmail`` through boto3.

One simple-content email per message: subject, text and HTML parts, our headers
(List-Unsubscribe and List-Unsubscribe-Post for one-click unsubscribe) in
``Content.Simple.Headers``, the configuration set that routes delivery, bounce,
complaint, open and click notifications to SNS, and ``EmailTags`` carrying our
``message_id`` (plus workspace and journey) so those notifications lead back to the
message. The receipt's ``provider_message_id`` is SES's MessageId, which SNS
notifications quote as ``mail.messageId``.

boto3's own retries are switched off: retrying is the job of
``engine.providers.retry.send_with_retry``, so an attempt here is one HTTP call.
SES has no idempotency key, so the sender must not hand the same message twice
(it records every attempt by ``message_id``). Credentials come from the standard
AWS chain (environment variables, shared config, instance role).
"""

from __future__ import annotations

import re
from email.header import Header
from typing import Any

from engine.providers.base import OutgoingMessage, PermanentError, Receipt
from engine.providers.errors import classify_ses_error

TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
HEADER_NAME = re.compile(r"^[!-9;-~]{1,126}$")  # printable ASCII without colon (SES's rule)
MAX_TAG = 256
MAX_HEADERS = 15


def tag_value(value: object) -> str:
    """A value SES accepts as a tag: ASCII letters, digits, ``_`` and ``-`` only, at most
    256 characters; anything else becomes ``_`` (an empty value becomes ``_`` too)."""
    return TAG_UNSAFE.sub("_", str(value))[:MAX_TAG] or "_"


def email_tags(message: OutgoingMessage) -> list[dict[str, str]]:
    """The SES tags of a message: ``message_id``, ``workspace``, ``journey_id`` when
    present, then the message's own tags (sanitized names and values)."""
    tags: dict[str, object] = {"message_id": message.message_id, "workspace": message.workspace}
    if message.journey_id:
        tags["journey_id"] = message.journey_id
    for name, value in message.tags.items():
        if value is not None:
            tags.setdefault(tag_value(name), value)
    return [{"Name": tag_value(name), "Value": tag_value(value)} for name, value in tags.items()]


def header_list(headers: dict[str, str]) -> list[dict[str, str]]:
    """Our headers in SES's shape; non-ASCII values are RFC 2047 encoded."""
    if len(headers) > MAX_HEADERS:
        raise PermanentError(f"ses accepts at most {MAX_HEADERS} custom headers, got {len(headers)}")
    result = []
    for name, value in headers.items():
        if not HEADER_NAME.match(name):
            raise PermanentError(f"ses: invalid header name {name!r}")
        value = str(value)
        if "\r" in value or "\n" in value:
            raise PermanentError(f"ses: header {name} contains a line break")
        if not value.isascii():
            value = Header(value, "utf-8").encode()
        result.append({"Name": name, "Value": value})
    return result


def email_content(message: OutgoingMessage) -> dict[str, Any]:
    """``Content.Simple`` for SendEmail: subject, text and/or HTML body, headers."""
    body: dict[str, Any] = {}
    if message.text:
        body["Text"] = {"Data": message.text, "Charset": "UTF-8"}
    if message.html:
        body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
    if not body:
        raise PermanentError("email has neither a text nor an HTML part")
    simple: dict[str, Any] = {"Subject": {"Data": message.subject or "", "Charset": "UTF-8"}, "Body": body}
    if message.headers:
        simple["Headers"] = header_list(message.headers)
    return {"Simple": simple}


class SesProvider:
    name = "ses"

    def __init__(self, from_address: str, *, region: str | None = None, configuration_set: str | None = None,
                 endpoint_url: str | None = None, client: Any = None, timeout: float = 10.0):
        """``client``: a ready ``boto3.client("sesv2")`` (region and endpoint are then
        ignored); otherwise one is made for ``region`` (and ``endpoint_url``, e.g. a local
        moto server in tests), with boto3's retries off and ``timeout`` seconds to connect
        and to read."""
        if not from_address:
            raise ValueError("SesProvider needs a from address")
        self.from_address, self.configuration_set = from_address, configuration_set
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                            connect_timeout=timeout, read_timeout=timeout)
            client = boto3.client("sesv2", region_name=region, endpoint_url=endpoint_url, config=config)
        self.client = client

    def request(self, message: OutgoingMessage) -> dict[str, Any]:
        """The SendEmail parameters for a message (pure; raises PermanentError for a
        message SES could never accept)."""
        params: dict[str, Any] = {
            "FromEmailAddress": self.from_address,
            "Destination": {"ToAddresses": [message.to]},
            "Content": email_content(message),
            "EmailTags": email_tags(message),
        }
        if self.configuration_set:
            params["ConfigurationSetName"] = self.configuration_set
        return params

    def send(self, message: OutgoingMessage) -> Receipt:
        params = self.request(message)
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.send_email(**params)
        except (ClientError, BotoCoreError) as exc:
            raise classify_ses_error(exc) from exc
        return Receipt(provider=self.name, provider_message_id=response["MessageId"])
