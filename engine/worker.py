"""A background worker: a daemon thread that repeats one unit of work until stopped.

``work()`` returns how much it did; when it did nothing, the worker calls
``idle()`` (which waits for a signal or a timeout). An exception is logged, kept in
``last_error`` (shown by ``/healthz``) and retried after a pause: a bad batch never
kills the process, and nothing is skipped, because the work is read again.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

logger = logging.getLogger("switchback")


class Worker:
    def __init__(self, name: str, work: Callable[[], int], idle: Callable[[], None],
                 wake: Callable[[], None] | None = None, retry_after: float = 1.0):
        self.name, self.work, self.idle, self.wake, self.retry_after = name, work, idle, wake, retry_after
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self.wake:
            self.wake()
        if self._thread:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                done = self.work()
                self.last_error = None
            except Exception as exc:  # keep running; the same work is tried again
                logger.exception("%s failed", self.name)
                self.last_error = f"{type(exc).__name__}: {exc}"
                self._stop.wait(self.retry_after)
                continue
            if not done:
                self.idle()
