"""Where broadcasts find their audience: the engine's contact states, embedded (SQLite
``contact_state``) and distributed (PostgreSQL ``<schema>.contact_state``), one
workspace at a time, erased contacts included as states (the matcher skips them)."""

from __future__ import annotations

import sqlite3

import orjson
import pytest

from api.broadcasts import pg_contact_states, sqlite_contact_states
from engine import state
from engine.pg_state import DDL
from journeys.broadcasts import Audience, select
from journeys.contact import apply_event, new_contact
from tests.support import PG

NOW = 1_900_000_000.0


def states() -> dict[str, dict]:
    """Contact states keyed like the engine keys them; a look-alike workspace prefix too."""
    found = {}
    for workspace, contact_id, tags in [("acme", "ann", ["vip"]), ("acme", "bob", []), ("acme", "b\x1fx", ["vip"]),
                                        ("acme-eu", "eve", ["vip"]), ("acm", "zed", ["vip"])]:
        body = apply_event(new_contact(contact_id, workspace),
                           {"type": "contact.created", "occurred_at": NOW, "data": {"email": "a@example.com", "tags": tags}})
        found[state.key_of(workspace, contact_id)] = body
    erased = apply_event(found[state.key_of("acme", "bob")], {"type": "contact.deleted", "occurred_at": NOW, "data": {}})
    found[state.key_of("acme", "bob")] = erased
    return found


def test_embedded_states_are_read_per_workspace(tmp_path):
    conn = sqlite3.connect(tmp_path / "events.db", isolation_level=None)
    conn.executescript(state.SCHEMA)
    state.save_contacts(conn, states())
    read = list(sqlite_contact_states(conn, "acme"))
    assert sorted(s["id"] for s in read) == ["ann", "b\x1fx", "bob"]
    assert sorted(select(Audience(tags=["vip"]), read, NOW)) == ["ann", "b\x1fx"]
    assert list(sqlite_contact_states(conn, "nobody")) == []


def test_distributed_states_are_read_per_workspace(pg_schema):
    psycopg = pytest.importorskip("psycopg")
    from psycopg import sql

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(pg_schema)))
        for statement in DDL.split(";"):
            if statement.strip():
                conn.execute(sql.SQL(statement).format(s=sql.Identifier(pg_schema)))
        with conn.cursor() as cur:
            cur.executemany(sql.SQL("INSERT INTO {}.contact_state(key, partition, body) VALUES (%s, 0, %s)")
                            .format(sql.Identifier(pg_schema)),
                            [(key, orjson.dumps(body)) for key, body in states().items()])
    read = list(pg_contact_states(PG, pg_schema, "acme", batch=2))
    assert sorted(s["id"] for s in read) == ["ann", "b\x1fx", "bob"]
    assert sorted(select(Audience(all=True), read, NOW)) == ["ann", "b\x1fx"]
    assert list(pg_contact_states(PG, pg_schema, "nobody")) == []
