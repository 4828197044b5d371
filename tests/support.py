"""Helpers shared by test modules: free ports, the test admin key, and waiting until the
runtime, sender and projector have caught up with the log."""

from __future__ import annotations

import functools
import os
import socket
import subprocess
import time
from pathlib import Path

ADMIN = "sb_test_admin_key_0123456789abcdefghijklmnop"
PG = os.environ.get("SWITCHBACK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def pg_unreachable() -> str | None:
    """Why the test PostgreSQL cannot be used, or None when it can."""
    try:
        import psycopg

        from engine.pgconfig import describe
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at SWITCHBACK_TEST_PG ({describe(PG)}) is unreachable: {str(exc).strip().splitlines()[0]}"
ROOT = Path(__file__).resolve().parent.parent


def stop_process(process, grace: float = 20.0) -> None:
    """Terminate a subprocess, and kill it if it has not exited after ``grace`` seconds."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settle(client, timeout: float = 15.0) -> dict:
    """Poll /v1/status until every consumer has caught up with the log (twice in a row)."""
    deadline = time.monotonic() + timeout
    calm = 0
    status = {}
    while time.monotonic() < deadline:
        status = client.get("/v1/status").json()
        idle = (status["runtime"]["lag"] == 0 and status["sender"]["pending"] == 0
                and status["projector"]["lag"] == 0 and status["due_timers"] == 0)
        calm = calm + 1 if idle else 0
        if calm >= 2:
            return status
        time.sleep(0.05)
    raise AssertionError(f"not settled after {timeout}s: {status}")


