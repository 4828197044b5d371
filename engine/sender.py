"""The sender: turns send commands into rendered messages and hands them to the
channel's provider, then records ``message.sent`` (or ``message.failed``) in the log.

Commands are read in order after the sender's stored position. Each command is
delivered at most once in effect: providers are idempotent by ``message_id``, and the
resulting events have deterministic ids, so a batch replayed after a crash neither
sends twice nor records twice.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable, Protocol

import orjson

from engine import log as eventlog
from engine import state
from engine.providers.base import OutgoingMessage, PermanentError, Provider, TransientError
from engine.worker import Worker
from engine.templates import TemplateError, render, template_context
from journeys.contact import address, new_contact
from journeys.events import iso_from_epoch

logger = logging.getLogger("switchback.sender")
POSITION = "sender"


class TemplateSource(Protocol):
    def get_template(self, workspace: str, template_id: str) -> dict[str, Any]: ...


class Sender:
    def __init__(self, log: eventlog.EventLog, templates: TemplateSource, providers: dict[str, Provider],
                 clock, base_url: str = "http://127.0.0.1:8000",
                 wait_for_commands: Callable[[float], None] | None = None):
        self.log, self.templates, self.providers, self.clock = log, templates, providers, clock
        self.base_url = base_url.rstrip("/")
        wait = wait_for_commands or time.sleep
        self.worker = Worker("sender", self.run_once, lambda: wait(0.2))
        self.sent = 0
        self.failed = 0

    def run_once(self, limit: int = 200) -> int:
        conn = self.log.connection()
        after = state.position(conn, POSITION)
        rows = conn.execute("SELECT seq, body FROM commands WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)).fetchall()
        if not rows:
            return 0
        keys = sorted({state.key_of(*_ws_contact(orjson.loads(b))) for _, b in rows})
        contacts = state.load_contacts(conn, keys)
        events = []
        for _, body in rows:
            command = orjson.loads(body)
            key = state.key_of(command["workspace"], command["contact_id"])
            contact = contacts.get(key) or new_contact(command["contact_id"], command["workspace"])
            events.append(self.deliver(command, contact))
        with self.log.transaction(conn):
            eventlog.append_many(conn, events)
            state.set_position(conn, POSITION, rows[-1][0])
        self.log.notify()
        return len(rows)

    def deliver(self, command: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
        """Render and send one command; returns the resulting message.sent/failed event."""
        mid, channel = command["message_id"], command["channel"]
        base = {k: command.get(k) for k in ("message_id", "journey_id", "version", "node_id", "channel")}
        base["template"] = command["template"] if isinstance(command["template"], str) else "inline"
        to = address(contact, channel)
        if to is None:
            return self._event(command, "message.failed", {**base, "reason": "no_address"})
        try:
            template = command["template"]
            if isinstance(template, str):
                template = self.templates.get_template(command["workspace"], template)
            extra = dict(command.get("context") or {})
            extra["offer"] = command.get("offer")
            extra["unsubscribe_url"] = f"{self.base_url}/u/{mid}"
            rendered = render(template, template_context(contact, extra), strict=False)
        except TemplateError as exc:
            return self._event(command, "message.failed", {**base, "reason": f"template: {exc}"})
        except Exception as exc:  # template missing or unreadable
            return self._event(command, "message.failed", {**base, "reason": f"template: {exc}"})
        provider = self.providers.get(channel)
        if provider is None:
            return self._event(command, "message.failed", {**base, "reason": f"no provider for channel {channel}"})
        message = OutgoingMessage(
            message_id=mid, workspace=command["workspace"], contact_id=command["contact_id"], channel=channel,
            to=to, subject=rendered.get("subject"), html=rendered.get("html"), text=rendered.get("text"),
            journey_id=command.get("journey_id"), node_id=command.get("node_id"),
            headers={"List-Unsubscribe": f"<{self.base_url}/u/{mid}>",
                     "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"} if channel == "email" else {},
            tags={"message_id": mid},
        )
        try:
            receipt = provider.send(message)
        except (TransientError, PermanentError) as exc:
            self.failed += 1
            return self._event(command, "message.failed", {**base, "reason": str(exc), "provider": provider.name})
        self.sent += 1
        return self._event(command, "message.sent", {**base, "provider": receipt.provider,
                                                     "provider_message_id": receipt.provider_message_id, "to": to})

    def _event(self, command: dict[str, Any], kind: str, data: dict[str, Any]) -> dict[str, Any]:
        stamp = iso_from_epoch(self.clock.now())
        return {"id": f"{command['message_id']}:{kind.split('.')[1]}", "type": kind,
                "workspace": command["workspace"], "contact_id": command["contact_id"],
                "occurred_at": stamp, "received_at": stamp, "source": "engine", "data": data}

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)


def _ws_contact(command: dict[str, Any]) -> tuple[str, str]:
    return command["workspace"], command["contact_id"]
