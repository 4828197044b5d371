"""Reading the analytics tables from a route or a service: one context manager for both
deployments."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator


@contextmanager
def reading(services) -> Iterator[Any]:
    """The read model; distributed mode hands out a new connection per call, closed here."""
    conn = services.read_db()
    try:
        yield conn
    finally:
        if not isinstance(conn, sqlite3.Connection):
            conn.close()
