"""The embedded journey runtime: the SQLite shell around ``engine.processing``.

It reads the event log in batches (only the events some journey needs), takes the
timers that are due, lets the processor interpret them, and commits in one
transaction everything that follows: contact states, instances (with their timers),
send commands, the events it emitted and its log position. A crash loses nothing (the
batch is read again) and duplicates nothing (emitted event ids and message ids are
deterministic, so a replayed batch inserts nothing new).
"""

from __future__ import annotations

import gc
import logging
import threading
from typing import Protocol

from engine import log as eventlog
from engine import state
from engine.interpreter import resume
from engine.processing import Batch, JourneyProcessor, JourneySource
from engine.worker import Worker

logger = logging.getLogger("switchback.runtime")
POSITION = "runtime"


class Clock(Protocol):
    def now(self) -> float: ...


class JourneyRuntime:
    """Drives journeys from the log. ``run_once`` does one batch; ``start`` runs a thread."""

    def __init__(self, log: eventlog.EventLog, source: JourneySource, clock: Clock, batch: int = 2000):
        self.log, self.clock, self.batch_size = log, clock, batch
        self.processor = JourneyProcessor(source)
        log.connection().executescript(state.SCHEMA)
        self.worker = Worker("journey-runtime", self.run_once, lambda: self.log.wait(self._idle_timeout()),
                             wake=self.log.notify)
        self.commands_ready = threading.Condition()

    @property
    def stats(self):
        return self.processor.totals

    @property
    def last_error(self) -> str | None:
        return self.worker.last_error

    def refresh(self) -> None:
        """Reload plans when definitions changed; release contacts of resumed journeys."""
        for _workspace, journey_id in self.processor.refresh():
            conn = self.log.connection()
            now = self.clock.now()
            with self.log.transaction(conn):
                held = state.held_instances(conn, journey_id)
                state.save_instances(conn, {(key, journey_id): resume(inst, now) for key, inst in held})
            logger.info("released %d held contacts of journey %s", len(held), journey_id)

    def run_once(self) -> int:
        """Process one batch of events and due timers; returns how many inputs it handled."""
        self.refresh()
        conn = self.log.connection()
        now = self.clock.now()
        after = state.position(conn, POSITION)
        events, consumed = eventlog.read_relevant(conn, after, self.batch_size, self.processor.catalog.skipped)
        due = state.due_timers(conn, now, self.batch_size)
        if consumed == after and not due:
            return 0
        inputs = [(f"{position:012d}", event) for position, event in events]
        keys = sorted(self.processor.keys_of(inputs) | {key for key, _ in due})
        batch = Batch(state.load_contacts(conn, keys), state.load_instances(conn, keys))
        self.processor.process(batch, inputs, due, now)
        if consumed == after and not batch.timers_fired:
            return 0  # due timers of journeys not loaded yet stay due
        self._commit(conn, batch, consumed, now)
        return max(len(events) + batch.timers_fired, 1)

    def _commit(self, conn, batch: Batch, new_position: int, now: float) -> None:
        with self.log.transaction(conn):
            state.save_contacts(conn, batch.changed_contacts())
            state.save_instances(conn, batch.changed_instances())
            state.add_commands(conn, batch.commands, now)
            eventlog.append_many(conn, batch.emitted)
            state.set_position(conn, POSITION, new_position)
        if batch.emitted:
            self.log.notify()
        if batch.commands:
            with self.commands_ready:
                self.commands_ready.notify_all()

    def start(self) -> None:
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.worker.stop(timeout)

    def _idle_timeout(self) -> float:
        wake = state.next_wake(self.log.connection())
        if wake is None:
            return 0.5
        return max(0.005, min(0.5, wake - self.clock.now()))


def tune_gc() -> None:
    """Garbage-collector settings for a long-running engine process: objects alive after
    start-up are frozen (never scanned again) and young collections run less often.
    Batches allocate many short-lived dicts; with the defaults the collector spends
    a third of the runtime's time walking long-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def drain(runtime: JourneyRuntime, limit: int = 10_000) -> int:
    """Run batches until nothing is left (tests and benchmarks)."""
    total = 0
    for _ in range(limit):
        handled = runtime.run_once()
        if not handled:
            return total
        total += handled
    return total

