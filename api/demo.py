"""``switchback up --demo``: publish the ready-made journeys, add 200 sample contacts and
feed a stream of sample events (carts, orders, segment entries) so that the outbox and
the journey stats fill up within a minute. A small part of sent emails is "opened" so
that engagement branches have something to branch on."""

from __future__ import annotations

import hashlib
import logging
import threading
from typing import Any

from engine.definitions import DefinitionError
from engine.demo import demo_contacts, demo_stream
from journeys.events import iso_from_epoch, new_event_id
from journeys.library import library_journeys, library_templates

logger = logging.getLogger("switchback.demo")


def load_library(services, workspace: str) -> list[str]:
    """Save and publish every library journey (and its templates) not yet published."""
    definitions = services.definitions
    for template in library_templates():
        definitions.save_template(workspace, template)
    published = []
    for graph in library_journeys():
        try:
            current = definitions.get_journey(workspace, graph["id"])
            if current.get("current_version"):
                continue
        except DefinitionError:
            pass
        definitions.save_draft(workspace, graph)
        definitions.publish(workspace, graph["id"])
        published.append(graph["id"])
    return published


class DemoFeed:
    """A background thread appending sample events at a few per second."""

    def __init__(self, services, workspace: str = "default", contacts: int = 200, seed: int = 7):
        self.services, self.workspace, self.contacts, self.seed = services, workspace, contacts, seed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened_after = 0.0

    def start(self) -> None:
        clock = self.services.clock
        people = demo_contacts(self.contacts, self.seed, self.workspace)
        self.services.append([self._stamp(e, clock.now()) for e in people])
        self._thread = threading.Thread(target=self._run, args=([p["contact_id"] for p in people],),
                                        name="demo-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(2)

    def _stamp(self, event: dict[str, Any], now: float) -> dict[str, Any]:
        stamp = iso_from_epoch(now)
        return {"id": event.get("id") or new_event_id(), "source": "api", **event,
                "workspace": self.workspace, "occurred_at": event.get("occurred_at") or stamp, "received_at": stamp}

    def _run(self, contact_ids: list[str]) -> None:
        stream = demo_stream(contact_ids, self.seed, self.workspace)
        while not self._stop.is_set():
            delay, event = next(stream)
            if self._stop.wait(delay):
                return
            try:
                self.services.append([self._stamp(event, self.services.clock.now())] + self._opens())
            except Exception:
                logger.exception("demo event failed")

    def _opens(self) -> list[dict[str, Any]]:
        """Open ~40% of newly captured emails (chosen by a stable hash of the message id)."""
        rows = self.services.outbox.list(self.workspace, limit=50)
        fresh = [r for r in rows if r["created_at"] > self._opened_after and r["channel"] == "email"]
        if rows:
            self._opened_after = max(self._opened_after, rows[0]["created_at"])
        opens = []
        for row in fresh:
            if hashlib.blake2b(row["message_id"].encode(), digest_size=1).digest()[0] < 102:
                opens.append({"id": f"{row['message_id']}:demo-open", "type": "message.opened",
                              "contact_id": row["contact_id"],
                              "data": {"message_id": row["message_id"], "journey_id": row["journey_id"]}})
        return [self._stamp(o, self.services.clock.now()) for o in opens]
