"""Clocks for runtimes: the wall clock in production, a virtual one in tests.

The interpreter never reads a clock; runtimes call ``clock.now()`` once per batch and
pass the instant in. ``VirtualClock`` is the wall clock plus an offset kept in a file,
so a test can move time forward and the offset survives a process restart (enabled by
``SWITCHBACK_TEST_CLOCK=1``; never in production).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


class SystemClock:
    def now(self) -> float:
        return time.time()

    @property
    def virtual(self) -> bool:
        return False


class VirtualClock:
    """Wall time + an offset (seconds) persisted at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: float | None = None
        self.offset = 0.0
        self._reload()

    def _reload(self) -> None:
        """Pick up an offset another process wrote (a test driving a worker process)."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return
        if mtime != self._seen:
            self._seen = mtime
            self.offset = float(self.path.read_text() or 0)

    def now(self) -> float:
        self._reload()
        return time.time() + self.offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a virtual clock only moves forward")
        with self._lock:
            self._reload()
            self.offset += seconds
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(repr(self.offset))
            os.replace(tmp, self.path)
        return self.now()

    @property
    def virtual(self) -> bool:
        return True


def clock_from_env(default_file: Path) -> SystemClock | VirtualClock:
    """The virtual clock when ``SWITCHBACK_TEST_CLOCK=1`` (file: ``SWITCHBACK_TEST_CLOCK_FILE``
    or ``default_file``), else the wall clock."""
    if os.environ.get("SWITCHBACK_TEST_CLOCK") == "1":
        return VirtualClock(os.environ.get("SWITCHBACK_TEST_CLOCK_FILE") or default_file)
    return SystemClock()
