"""Which of our messages, or which contacts, a provider's report is about: read-model look-ups.

Queries use ``?`` placeholders and portable SQL, so they run on the embedded SQLite read
model and on the PostgreSQL adapter of the distributed deployment alike. Every query
can use an index: ``messages`` by ``(workspace, message_id)`` or ``provider_message_id``,
``contacts`` by ``(workspace, phone)`` (the part of one workspace, read in full to compare
numbers however they were typed).

:class:`SentMessage` is the part of a ``messages`` row the webhook mappers need; its
:meth:`SentMessage.event` builds an envelope about that message.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Protocol


class ReadConnection(Protocol):
    def execute(self, statement: str, params: Any = ...) -> Any: ...


@dataclass(frozen=True)
class SentMessage:
    workspace: str
    message_id: str
    contact_id: str
    channel: str | None = None
    journey_id: str | None = None
    broadcast_id: str | None = None

    def event(self, event_id: str, kind: str, occurred_at: str, source: str, channel: str,
              data: dict[str, Any]) -> dict[str, Any]:
        """An envelope about this message: ``data`` plus message_id, channel, provider (= source)
        and the journey or broadcast it belongs to (so opens and clicks count for them)."""
        base: dict[str, Any] = {"message_id": self.message_id, "channel": channel, "provider": source}
        if self.journey_id:
            base["journey_id"] = self.journey_id
        if self.broadcast_id:
            base["broadcast_id"] = self.broadcast_id
        return {"id": event_id, "type": kind, "workspace": self.workspace, "contact_id": self.contact_id,
                "occurred_at": occurred_at, "source": source, "data": {**base, **data}}


_COLUMNS = "workspace, message_id, contact_id, channel, journey_id, broadcast_id"


def _message(row: tuple | None) -> SentMessage | None:
    if row is None or not row[2]:
        return None
    return SentMessage(*row)


def find_message(conn: ReadConnection, *, message_id: str | None = None, workspace: str | None = None,
                 provider_message_id: str | None = None, default_workspace: str = "default") -> SentMessage | None:
    """The message a report is about, tried in this order: our ``message_id`` in the named
    ``workspace``; the provider's id (``provider_message_id``, also checked against
    ``message_id`` when both are known); our ``message_id`` in ``default_workspace``."""
    if message_id and workspace:
        row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE workspace = ? AND message_id = ?",
                           (workspace, message_id)).fetchone()
        if row is not None:
            return _message(row)
    if provider_message_id:
        sql = f"SELECT {_COLUMNS} FROM messages WHERE provider_message_id = ?"
        params: tuple = (provider_message_id,)
        if message_id:
            sql, params = sql + " AND message_id = ?", (provider_message_id, message_id)
        row = conn.execute(sql + " ORDER BY workspace LIMIT 1", params).fetchone()
        if row is not None:
            return _message(row)
    if message_id and workspace != default_workspace:
        row = conn.execute(f"SELECT {_COLUMNS} FROM messages WHERE workspace = ? AND message_id = ?",
                           (default_workspace, message_id)).fetchone()
        return _message(row)
    return None


# phone numbers as people type them: spaces, dashes, dots, parentheses, a leading +
_PHONE_NOISE = ("REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(phone, ' ', ''), '-', ''), '.', ''),"
                " '(', ''), ')', ''), '+', '')")


def digits(phone: str) -> str:
    return re.sub(r"[^0-9]", "", phone)


def find_contacts_by_phone(conn: ReadConnection, workspace: str, phone: str) -> list[str]:
    """Contact ids whose ``phone`` is ``phone`` (E.164, as Twilio sends it), sorted; numbers
    stored with spaces, dashes, dots, parentheses or without the ``+`` match too, so an
    opt-out reaches every contact with that number. (This reads the workspace's part of
    the ``(workspace, phone)`` index; opt-outs are rare.)"""
    number = digits(phone)
    if len(number) < 6:
        return []
    rows = conn.execute(f"SELECT contact_id FROM contacts WHERE workspace = ? AND phone IS NOT NULL"
                        f" AND (phone = ? OR {_PHONE_NOISE} = ?) ORDER BY contact_id",
                        (workspace, phone, number)).fetchall()
    return [row[0] for row in rows]


def short_hash(value: str) -> str:
    """A short stable tag of ``value`` for event ids (ids stay under 128 characters)."""
    return hashlib.blake2b(value.encode(), digest_size=6).hexdigest()
