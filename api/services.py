"""The embedded deployment wired together: one process, SQLite files under the data
directory, and background threads for the journey runtime, the sender and the
projector. The HTTP routes only talk to this object.

Files: ``events.db`` (event log + runtime state), ``outbox.db`` (captured messages), ``read.db`` (projection
tables for analysts), ``definitions.db`` (journeys, templates, API keys via
eventsourcing), ``offers.db`` (QR offer tokens, eventsourcing), ``users.db`` (people who sign in,
eventsourcing), ``admin-key`` (first-start
admin key, mode 0600), ``secret-key`` (signs tracking links, mode 0600).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from typing import Any

from api.settings import Settings
from api.signing_key import signing_key
from api.users import UserDirectory
from engine import state
from engine.clock import SystemClock, VirtualClock
from engine.definitions import Definitions
from engine.log import EventLog, connect
from engine.offers import OfferBook
from engine.providers import OutboxProvider
from engine.providers.registry import ProviderRegistry
from engine.runtime import JourneyRuntime
from engine.sender import Sender
from engine.tracking import Tracker
from engine.worker import Worker
from projections import Projector
from projections.commerce import attribution_window
from projections.segment_sql import prepare as prepare_segment_sql

logger = logging.getLogger("switchback")


def ensure_admin_key(definitions, settings: Settings) -> str | None:
    """Register SWITCHBACK_ADMIN_KEY, or create one on first start and write it to
    ``<data-dir>/admin-key`` (0600). Returns a newly generated secret, else None."""
    secret, created = definitions.ensure_admin_key(settings.workspace, settings.admin_key)
    if created and secret:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        path = settings.data_dir / "admin-key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secret + "\n")
        os.chmod(path, 0o600)
        return secret
    return None


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        data = settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.data_dir = data
        self.clock = VirtualClock(data / "test-clock-offset") if settings.test_clock else SystemClock()
        self.log = EventLog(data / "events.db")
        self.definitions = Definitions(data / "definitions.db")
        self.outbox = OutboxProvider(data / "outbox.db")
        self.runtime = JourneyRuntime(self.log, self.definitions, self.clock)
        attribution_window()  # a bad SWITCHBACK_ATTRIBUTION_WINDOW stops the start, naming the variable
        self.providers = ProviderRegistry(None, self.outbox, settings.public_url())  # SWITCHBACK_*_PROVIDER
        self.tracker = Tracker(signing_key(settings), settings.public_url())
        self.offers = OfferBook(data / "offers.db", base_url=settings.public_url())
        self.users = UserDirectory(data / "users.db")
        self.sender = Sender(self.log, self.definitions, self.providers, self.clock, base_url=settings.public_url(),
                             wait_for_commands=self._wait_commands, tracker=self.tracker,
                             postal_address=settings.postal_address, offers=self.offers)
        self.projector = Projector(data / "events.db", data / "read.db")
        self._read = threading.local()
        self.projected = threading.Condition()
        self.project_worker = Worker("projector", self._project_once, lambda: self.log.wait(0.2), wake=self.log.notify)
        self.started_at = time.time()

    def ensure_admin_key(self) -> str | None:
        return ensure_admin_key(self.definitions, self.settings)

    # -- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        self.log.start_checkpointer()
        self.runtime.start()
        self.sender.start()
        self.project_worker.start()

    def stop(self) -> None:
        self.runtime.stop()
        self.sender.stop()
        self.project_worker.stop()
        self.log.stop_checkpointer()
        self.offers.close()
        self.users.close()

    def _wait_commands(self, timeout: float) -> None:
        with self.runtime.commands_ready:
            self.runtime.commands_ready.wait(timeout)

    def _project_once(self) -> int:
        handled = self.projector.run_once()
        if handled:
            with self.projected:
                self.projected.notify_all()
        return handled

    # -- the interface the routes use (shared with api.distributed.DistributedServices) --
    def append(self, records: list[dict[str, Any]]) -> list[int | None]:
        """Append validated envelopes; a position per record, None for a duplicate id."""
        return self.log.append(records)

    def wait_visible(self, records: list[dict[str, Any]], positions: list[int | None], timeout: float = 5.0) -> bool:
        """Wait until the read model shows the appended events (read-your-writes)."""
        last = max((p for p in positions if p), default=0)
        return self.wait_projected(last, timeout) if last else True

    def notify(self) -> None:
        """Definitions changed (publish, pause, resume) or the clock moved: wake the runtime
        and the sender (queued sends may have fallen due)."""
        self.log.notify()
        with self.runtime.commands_ready:
            self.runtime.commands_ready.notify_all()

    def health(self) -> dict[str, Any]:
        error = self.runtime.last_error or self.sender.worker.last_error or self.project_worker.last_error
        return {"status": "ok" if error is None else "degraded", "mode": "embedded", "error": error}

    def contact_state(self, workspace: str, contact_id: str) -> dict[str, Any] | None:
        """The engine's state of a contact (what templates and rules see)."""
        found = state.load_contacts(self.log.connection(), [state.key_of(workspace, contact_id)])
        return next(iter(found.values()), None)

    # -- reads --------------------------------------------------------------------
    def read_db(self) -> sqlite3.Connection:
        """A read-only connection to the projection tables (one per thread)."""
        conn = getattr(self._read, "conn", None)
        if conn is None:
            conn = connect(self.data_dir / "read.db")
            conn.execute("PRAGMA query_only = ON")
            prepare_segment_sql(conn)  # segment rules compiled to SQL call switchback_attr on SQLite
            self._read.conn = conn
        return conn

    def wait_projected(self, position: int, timeout: float = 5.0) -> bool:
        """Block until the projector has processed ``position`` (read-your-writes)."""
        deadline = time.monotonic() + timeout
        with self.projected:
            while self.projector.position() < position:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.projected.wait(min(left, 0.05))
        return True

    def status(self) -> dict[str, Any]:
        conn = self.log.connection()
        head = self.log.head()
        runtime = state.position(conn, "runtime")
        commands = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commands").fetchone()[0]
        sender = state.position(conn, "sender")
        now = self.clock.now()
        due, waiting = conn.execute("SELECT COALESCE(SUM(send_at <= ?), 0), COUNT(*) FROM scheduled_sends",
                                    (now,)).fetchone()
        projected = self.projector.position()
        return {
            "log_head": head,
            "runtime": {"position": runtime, "lag": head - runtime, "error": self.runtime.last_error},
            # pending: commands not yet queued + queued ones that are due; rate_limited: queued for later
            "sender": {"position": sender, "pending": commands - sender + due, "rate_limited": waiting - due},
            "projector": {"position": projected, "lag": head - projected},
            "due_timers": conn.execute("SELECT COUNT(*) FROM journey_state WHERE wake_at IS NOT NULL AND wake_at <= ?",
                                       (self.clock.now(),)).fetchone()[0],
            "clock": {"now": self.clock.now(), "virtual": self.clock.virtual},
        }
