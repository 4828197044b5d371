"""What Twilio's status callbacks and inbound messages become in our event log (pure).

Status callbacks (``MessageStatus``):

- accepted, scheduled, queued, sending, sent: nothing (the sender recorded ``message.sent``);
- delivered: ``message.delivered``; read (WhatsApp): ``message.opened``;
- undelivered or failed with a permanent ``ErrorCode`` (:data:`PERMANENT_ERRORS`):
  ``message.bounced`` with ``bounce_type`` ``hard`` (it suppresses the channel);
- undelivered or failed otherwise: ``message.failed`` with ``reason`` ``twilio <code>: ...``
  and ``error_code``.

Inbound messages whose whole text (trimmed, any case) is an opt-out keyword
(:data:`OPT_OUT`) give ``contact.unsubscribed``, an opt-in keyword (:data:`OPT_IN`)
``contact.subscribed``, for channel ``whatsapp`` when ``From`` is a ``whatsapp:`` address,
else ``sms``; other texts give nothing.

Ids: ``twilio:<MessageSid>:<status>`` and ``twilio:<MessageSid>:<kind>:<contact tag>``, so
Twilio retrying a callback gives the same ids and the log drops the duplicates.
"""

from __future__ import annotations

from typing import Any, Mapping

from api.webhooks.lookup import SentMessage, short_hash

SOURCE = "twilio"
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "UNSTOP"})
# error codes that will fail the same way every time: treated as a hard bounce
PERMANENT_ERRORS: dict[str, str] = {
    "21211": "invalid 'To' phone number",
    "21610": "the recipient unsubscribed (replied STOP)",
    "21612": "the 'To' number cannot be reached on this channel",
    "21614": "the 'To' number is not a mobile number",
    "30005": "unknown destination handset",
    "30006": "landline or unreachable carrier",
}
MAX_TEXT = 500


def channel_of(form: Mapping[str, str]) -> str:
    """``whatsapp`` when either address is a ``whatsapp:`` address, else ``sms``."""
    addresses = (form.get("From") or "", form.get("To") or "")
    return "whatsapp" if any(a.lower().startswith("whatsapp:") for a in addresses) else "sms"


def phone_of(address: str) -> str:
    """The number of a Twilio address (``whatsapp:+15551234567`` -> ``+15551234567``)."""
    address = address.strip()
    return address.split(":", 1)[1].strip() if address.lower().startswith("whatsapp:") else address


def _failure(form: Mapping[str, str], status: str) -> tuple[str, dict[str, Any]]:
    code = (form.get("ErrorCode") or "").strip()
    detail = (form.get("ErrorMessage") or "").strip()[:MAX_TEXT]
    if code in PERMANENT_ERRORS:
        return "message.bounced", {"bounce_type": "hard", "error_code": code,
                                   "diagnostic": detail or PERMANENT_ERRORS[code]}
    reason = f"twilio {code}: {detail or status}" if code else f"twilio: {detail or status}"
    return "message.failed", {"reason": reason, **({"error_code": code} if code else {})}


def classify_status(form: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """Our event type and extra data for a status callback, or None when it gives no event."""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    if status == "delivered":
        return "message.delivered", {}
    if status == "read":
        return "message.opened", {}
    if status in ("undelivered", "failed"):
        return _failure(form, status)
    return None  # queued, sent, ... (the sender recorded message.sent) and statuses Twilio adds later


def status_events(form: Mapping[str, str], message: SentMessage, occurred_at: str) -> list[dict[str, Any]]:
    """The events a status callback gives for ``message`` (zero or one)."""
    found = classify_status(form)
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    if found is None or not sid:
        return []
    kind, data = found
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").strip().lower()
    channel = message.channel if message.channel in ("sms", "whatsapp") else channel_of(form)
    return [message.event(f"{SOURCE}:{sid}:{status}", kind, occurred_at, SOURCE, channel,
                          {"provider_message_id": sid, **data})]


def keyword(text: str | None) -> str | None:
    """``contact.unsubscribed`` / ``contact.subscribed`` for an opt-out / opt-in keyword."""
    word = (text or "").strip().upper()
    if word in OPT_OUT:
        return "contact.unsubscribed"
    if word in OPT_IN:
        return "contact.subscribed"
    return None


def inbound_events(form: Mapping[str, str], workspace: str, contact_ids: list[str],
                   occurred_at: str) -> list[dict[str, Any]]:
    """Opt-out / opt-in events for every contact with the sender's number."""
    kind = keyword(form.get("Body"))
    sid = (form.get("MessageSid") or form.get("SmsSid") or "").strip()
    if kind is None or not sid:
        return []
    channel = channel_of(form)
    reason = f"replied {(form.get('Body') or '').strip().upper()} by {channel}"
    return [{"id": f"{SOURCE}:{sid}:{kind.split('.')[1]}:{short_hash(contact_id)}", "type": kind,
             "workspace": workspace, "contact_id": contact_id, "occurred_at": occurred_at, "source": SOURCE,
             "data": {"channel": channel, "reason": reason, "provider_message_id": sid}}
            for contact_id in contact_ids]
