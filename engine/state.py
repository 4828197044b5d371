"""The embedded runtime's durable state, in the same SQLite file as the event log so
that one transaction covers: contact states, journey instances (with their due
timers), send commands, the events the engine emits, and the consumer positions.

Tables::

    contact_state(key PK, body)                 key = workspace + US + contact_id
    journey_state(key, journey_id, body, wake_at, held, PK(key, journey_id))
    commands(seq PK, message_id UNIQUE, workspace, contact_id, body, created_at)
    positions(name PK, position)                the runtime's and the sender's progress
    outbox(message_id PK, ...)                  what the ``outbox`` provider captured
"""

from __future__ import annotations

import sqlite3
from typing import Any, Iterable

import orjson

SEP = "\x1f"

SCHEMA = """
CREATE TABLE IF NOT EXISTS contact_state (key TEXT PRIMARY KEY, body BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS journey_state (
    key TEXT NOT NULL, journey_id TEXT NOT NULL, body BLOB NOT NULL,
    wake_at REAL, held INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (key, journey_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS journey_state_wake ON journey_state(wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS journey_state_held ON journey_state(journey_id) WHERE held = 1;
CREATE TABLE IF NOT EXISTS commands (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE,
    workspace TEXT NOT NULL, contact_id TEXT NOT NULL, body BLOB NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (name TEXT PRIMARY KEY, position INTEGER NOT NULL) WITHOUT ROWID;
"""


def key_of(workspace: str, contact_id: str) -> str:
    return f"{workspace}{SEP}{contact_id}"


def split_key(key: str) -> tuple[str, str]:
    workspace, contact_id = key.split(SEP, 1)
    return workspace, contact_id


def position(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT position FROM positions WHERE name = ?", (name,)).fetchone()
    return row[0] if row else 0


def set_position(conn: sqlite3.Connection, name: str, value: int) -> None:
    conn.execute("INSERT INTO positions(name, position) VALUES (?, ?) "
                 "ON CONFLICT(name) DO UPDATE SET position = excluded.position", (name, value))


def _chunks(items: list[str], size: int = 900) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def load_contacts(conn: sqlite3.Connection, keys: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        for key, body in conn.execute(f"SELECT key, body FROM contact_state WHERE key IN ({marks})", chunk):
            found[key] = orjson.loads(body)
    return found


def load_instances(conn: sqlite3.Connection, keys: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for chunk in _chunks(keys):
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT key, journey_id, body FROM journey_state WHERE key IN ({marks})", chunk)
        for key, journey_id, body in rows:
            found.setdefault(key, {})[journey_id] = orjson.loads(body)
    return found


def due_timers(conn: sqlite3.Connection, now: float, limit: int) -> list[tuple[str, str]]:
    return conn.execute("SELECT key, journey_id FROM journey_state WHERE wake_at IS NOT NULL AND wake_at <= ? "
                        "ORDER BY wake_at LIMIT ?", (now, limit)).fetchall()


def next_wake(conn: sqlite3.Connection) -> float | None:
    return conn.execute("SELECT MIN(wake_at) FROM journey_state WHERE wake_at IS NOT NULL").fetchone()[0]


def save_contacts(conn: sqlite3.Connection, contacts: dict[str, dict[str, Any]]) -> None:
    conn.executemany("INSERT INTO contact_state(key, body) VALUES (?, ?) "
                     "ON CONFLICT(key) DO UPDATE SET body = excluded.body",
                     [(k, orjson.dumps(v)) for k, v in contacts.items()])


def save_instances(conn: sqlite3.Connection, instances: dict[tuple[str, str], dict[str, Any]]) -> None:
    conn.executemany(
        "INSERT INTO journey_state(key, journey_id, body, wake_at, held, active) VALUES (?,?,?,?,?,?) "
        "ON CONFLICT(key, journey_id) DO UPDATE SET body = excluded.body, wake_at = excluded.wake_at, "
        "held = excluded.held, active = excluded.active",
        [(k, j, orjson.dumps(v), v["wake_at"], int(bool(v.get("held"))), int(v["state"] == "active"))
         for (k, j), v in instances.items()],
    )


def held_instances(conn: sqlite3.Connection, journey_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = conn.execute("SELECT key, body FROM journey_state WHERE held = 1 AND journey_id = ?", (journey_id,))
    return [(key, orjson.loads(body)) for key, body in rows]


def add_commands(conn: sqlite3.Connection, commands: list[dict[str, Any]], now: float) -> None:
    conn.executemany("INSERT OR IGNORE INTO commands(message_id, workspace, contact_id, body, created_at) "
                     "VALUES (?,?,?,?,?)",
                     [(c["message_id"], c["workspace"], c["contact_id"], orjson.dumps(c), now) for c in commands])
