"""Composing one message: a send command and the contact it is for become the
``OutgoingMessage`` a provider sends (template rendered, offer filled in, links tracked,
footer and unsubscribe headers added), or a reason why it cannot be sent.

No I/O: the template, the offer and the tracker are handed in by the sender.
"""

from __future__ import annotations

from typing import Any

from engine.providers.base import OutgoingMessage
from engine.templates import TemplateError, render, template_context
from engine.tracking import Tracker, decorate_email
from journeys.contact import address


class NotSendable(Exception):
    """The message cannot be composed; ``str()`` is the reason recorded in message.failed."""


def compose(command: dict[str, Any], contact: dict[str, Any], template: dict[str, Any], *,
            base_url: str, tracker: Tracker | None = None, postal_address: str | None = None,
            offer: dict[str, Any] | None = None) -> OutgoingMessage:
    mid, channel = command["message_id"], command["channel"]
    to = address(contact, channel)
    if to is None:
        raise NotSendable("no_address")
    unsubscribe = tracker.unsubscribe_url(command) if tracker else f"{base_url}/u/{mid}"
    extra = dict(command.get("context") or {})
    extra["offer"] = offer if offer is not None else command.get("offer")
    extra["unsubscribe_url"] = unsubscribe
    try:
        rendered = render(template, template_context(contact, extra), strict=False)
    except TemplateError as exc:
        raise NotSendable(f"template: {exc}") from None
    html, text = rendered.get("html"), rendered.get("text")
    headers = {}
    if channel == "email":
        if tracker is not None:
            html, text = decorate_email(html, text, command, postal_address=postal_address, tracker=tracker)
        headers = {"List-Unsubscribe": f"<{unsubscribe}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    return OutgoingMessage(
        message_id=mid, workspace=command["workspace"], contact_id=command["contact_id"], channel=channel,
        to=to, subject=rendered.get("subject"), html=html, text=text,
        journey_id=command.get("journey_id"), node_id=command.get("node_id"),
        headers=headers, tags={"message_id": mid, **({"journey_id": command["journey_id"]} if command.get("journey_id") else {})},
    )
