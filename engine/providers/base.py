"""The provider port and the message it sends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class OutgoingMessage:
    message_id: str
    workspace: str
    contact_id: str
    channel: str
    to: str
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    journey_id: str | None = None
    node_id: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Receipt:
    provider: str
    provider_message_id: str
    duplicate: bool = False


class TransientError(Exception):
    """Worth retrying (throttling, 5xx, network)."""


class PermanentError(Exception):
    """Retrying will not help (invalid address, rejected content)."""


class Provider(Protocol):
    name: str

    def send(self, message: OutgoingMessage) -> Receipt: ...
