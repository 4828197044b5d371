"""What an Amazon SES report becomes in our event log (pure; no I/O).

SES publishes two body shapes through SNS: configuration-set *event publishing* (field
``eventType``, with our message tags in ``mail.tags``) and the older identity *feedback
notifications* (field ``notificationType``, no tags). Both map the same way:

- Send: nothing (the sender already recorded ``message.sent`` when SES took the message);
- Delivery: ``message.delivered``;
- Bounce: ``message.bounced``, ``bounce_type`` ``hard`` for Permanent (it suppresses),
  ``soft`` for Transient and Undetermined;
- Complaint: ``message.complained`` (it suppresses); a ``not-spam`` report: nothing;
- Reject, Rendering Failure: ``message.failed`` with a ``reason``;
- Open: ``message.opened``; Click: ``message.clicked`` with ``url``;
- DeliveryDelay: ``message.delayed`` (informational: the message's status does not change);
- Subscription: ``contact.unsubscribed`` / ``contact.subscribed`` (``email``) when
  "unsubscribe from all" changed; topic-only changes give nothing.

One report is about one of our messages (we send one message per contact), so it gives
at most one event, even when a bounce lists several recipients. Ids are
``ses:<SNS MessageId>:<n>``: SNS retrying the same notification gives the same ids, and
the log drops the duplicates. ``occurred_at`` is the time SES gives for the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from api.webhooks.lookup import SentMessage

SOURCE = "ses"
MAX_TEXT = 1000  # characters kept of a diagnostic or reason
# where each kind keeps its own timestamp (the others use mail.timestamp)
_DETAIL = {"Bounce": "bounce", "Complaint": "complaint", "Delivery": "delivery", "Open": "open", "Click": "click",
           "DeliveryDelay": "deliveryDelay", "Subscription": "subscription", "Reject": "reject",
           "Rendering Failure": "failure", "RenderingFailure": "failure", "Send": "send"}


@dataclass(frozen=True)
class MessageKeys:
    """How a report names its message: our id (SES message tag ``message_id``), the
    workspace (tag ``workspace``, when the provider sets it) and SES's ``mail.messageId``."""

    message_id: str | None
    workspace: str | None
    provider_message_id: str | None


def parse_notification(text: str) -> dict[str, Any] | None:
    """The SES body inside an SNS ``Message``, or None when it is not one."""
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("mail"), dict):
        return None
    if not isinstance(kind_of(body), str):
        return None
    return body


def kind_of(body: dict[str, Any]) -> Any:
    """``eventType`` (event publishing) or ``notificationType`` (feedback notifications)."""
    return body.get("eventType", body.get("notificationType"))


def _tag(mail: dict[str, Any], name: str) -> str | None:
    values = (mail.get("tags") or {}).get(name) if isinstance(mail.get("tags"), dict) else None
    if isinstance(values, list) and values and isinstance(values[0], str) and values[0]:
        return values[0]
    return values if isinstance(values, str) and values else None


def message_keys(body: dict[str, Any]) -> MessageKeys:
    mail = body["mail"]
    provider_id = mail.get("messageId")
    return MessageKeys(_tag(mail, "message_id"), _tag(mail, "workspace"),
                       provider_id if isinstance(provider_id, str) and provider_id else None)


def _iso(value: Any) -> str | None:
    """``value`` if it is an ISO 8601 time with a zone (SES's own text is kept)."""
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        return None
    return value if stamp.tzinfo is not None else None


def occurred_at(body: dict[str, Any], fallback: str) -> str:
    """The time SES gives for this event, else the mail's time, else ``fallback``."""
    detail = body.get(_DETAIL.get(kind_of(body), ""))
    own = detail.get("timestamp") if isinstance(detail, dict) else None
    candidates = [own, body["mail"].get("timestamp"), fallback]
    return next((t for t in map(_iso, candidates) if t), fallback)


def _text(value: Any) -> str | None:
    return value[:MAX_TEXT] if isinstance(value, str) and value else None


def _section(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}


def _first(items: Any) -> dict[str, Any]:
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def _bounce(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    bounce = _section(body, "bounce")
    recipient = _first(bounce.get("bouncedRecipients"))
    data = {"bounce_type": "hard" if bounce.get("bounceType") == "Permanent" else "soft",
            "ses_bounce_type": _text(bounce.get("bounceType")),
            "ses_bounce_subtype": _text(bounce.get("bounceSubType")),
            "diagnostic": _text(recipient.get("diagnosticCode") or recipient.get("status"))}
    return "message.bounced", data


def _complaint(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    feedback = _text(_section(body, "complaint").get("complaintFeedbackType"))
    if feedback == "not-spam":
        return None
    return "message.complained", {"feedback_type": feedback}


def _delay(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    delay = _section(body, "deliveryDelay")
    recipient = _first(delay.get("delayedRecipients"))
    return "message.delayed", {"delay_type": _text(delay.get("delayType")),
                               "diagnostic": _text(recipient.get("diagnosticCode") or recipient.get("status")),
                               "expires_at": _iso(delay.get("expirationTime"))}


def _subscription(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    change = _section(body, "subscription")
    new = _section(change, "newTopicPreferences").get("unsubscribeAll")
    old = _section(change, "oldTopicPreferences").get("unsubscribeAll")
    source = change.get("source")
    data = {"reason": f"SES list management ({source})" if source else "SES list management"}
    if new is True and old is not True:
        return "contact.unsubscribed", data
    if new is False and old is True:
        return "contact.subscribed", data
    return None  # a topic-level change: SES topics are not mapped to our channels


def classify(body: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Our event type and its extra data for an SES body, or None when it gives no event."""
    kind = kind_of(body)
    if kind == "Bounce":
        return _bounce(body)
    if kind == "Complaint":
        return _complaint(body)
    if kind == "Delivery":
        return "message.delivered", {}
    if kind == "Reject":
        reason = _text(_section(body, "reject").get("reason")) or "unknown"
        return "message.failed", {"reason": f"rejected by SES: {reason}"}
    if kind in ("Rendering Failure", "RenderingFailure"):
        reason = _text(_section(body, "failure").get("errorMessage")) or "unknown"
        return "message.failed", {"reason": f"rendering failed: {reason}"}
    if kind == "Open":
        return "message.opened", {}
    if kind == "Click":
        return "message.clicked", {"url": _text(_section(body, "click").get("link"))}
    if kind == "DeliveryDelay":
        return _delay(body)
    if kind == "Subscription":
        return _subscription(body)
    return None  # Send (already recorded by the sender), Received, and kinds SES adds later


def to_events(body: dict[str, Any], message: SentMessage, sns_message_id: str,
              sns_timestamp: str) -> list[dict[str, Any]]:
    """The events an SES body gives for ``message`` (zero or one), ready for validation."""
    found = classify(body)
    if found is None:
        return []
    kind, extra = found
    data = {k: v for k, v in extra.items() if v is not None}
    provider_id = message_keys(body).provider_message_id
    if provider_id:
        data["provider_message_id"] = provider_id
    at = occurred_at(body, sns_timestamp)
    return [message.event(f"{SOURCE}:{sns_message_id}:0", kind, at, SOURCE, "email", data)]
