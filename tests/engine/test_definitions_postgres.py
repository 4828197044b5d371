"""The definitions store on PostgreSQL (``Definitions.from_postgres``): the key behaviours
of ``test_definitions.py`` against a real server, each test in its own schema (dropped
afterwards). Tests that need the server are skipped, with the reason, when
``SWITCHBACK_TEST_PG`` is unreachable."""

from __future__ import annotations

import hashlib
import logging

import pytest

psycopg = pytest.importorskip("psycopg")

from test_definitions import WELCOME, WS, graph  # noqa: E402

from engine.definitions import DefinitionError, Definitions  # noqa: E402
from engine.pgconfig import drop_schema, postgres_env  # noqa: E402
from tests.support import PG

DSN = PG


@pytest.fixture
def schema(pg_schema):
    return pg_schema


@pytest.fixture
def defs(schema):
    store = Definitions.from_postgres(DSN, schema)
    yield store
    store.close()


@pytest.fixture
def ready(defs):
    defs.save_template(WS, WELCOME)
    defs.save_draft(WS, graph())
    return defs


def _stored_state(schema: str) -> bytes:
    with psycopg.connect(DSN) as conn:
        rows = conn.execute(f"SELECT state FROM {schema}.definitions_events").fetchall()
    return b"".join(bytes(r[0]) for r in rows)


def test_schema_is_created_and_holds_the_tables(defs, schema):
    defs.save_template(WS, WELCOME)
    with psycopg.connect(DSN) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}
    assert "definitions_events" in tables


def test_draft_publish_and_immutable_versions(defs):
    result = defs.save_draft(WS, graph())
    assert {p["code"] for p in result["problems"]} == {"SB-010"}
    with pytest.raises(DefinitionError) as err:
        defs.publish(WS, "welcome-series")
    assert err.value.code == "invalid" and defs.published() == []

    defs.save_template(WS, WELCOME)
    assert defs.validate(WS, "welcome-series") == []
    v1 = defs.publish(WS, "welcome-series")
    assert v1["version"] == 1 and v1["status"] == "published"
    frozen = defs.get_version(WS, "welcome-series", 1)
    defs.save_draft(WS, graph(name="Take two"))
    assert defs.get_version(WS, "welcome-series", 1) == frozen
    v2 = defs.publish(WS, "welcome-series")
    assert v2["version"] == 2 and v2["name"] == "Take two"
    assert defs.get_version(WS, "welcome-series", 1)["name"] == "Welcome series"
    journey = defs.get_journey(WS, "welcome-series")
    assert journey["current_version"] == 2 and [v["version"] for v in journey["versions"]] == [1, 2]
    assert [(ws, g["version"]) for ws, g in defs.all_versions()] == [(WS, 1), (WS, 2)]
    assert [(ws, g["version"], s) for ws, g, s in defs.published()] == [(WS, 2, "published")]


def test_pause_resume_archive(ready):
    with pytest.raises(DefinitionError) as err:
        ready.pause(WS, "welcome-series")
    assert err.value.code == "conflict" and "publish it first" in err.value.message
    ready.publish(WS, "welcome-series")
    assert ready.pause(WS, "welcome-series")["status"] == "paused"
    assert [s for _, _, s in ready.published()] == ["paused"]
    assert ready.resume(WS, "welcome-series")["status"] == "published"
    assert ready.archive(WS, "welcome-series")["status"] == "archived"
    assert ready.published() == [] and len(ready.all_versions()) == 1


def test_templates(defs):
    defs.save_template(WS, WELCOME)
    defs.save_template(WS, {"id": "sms-hi", "channel": "sms", "text": "Hi {{ contact.first_name }}"})
    assert [t["id"] for t in defs.list_templates(WS)] == ["welcome", "sms-hi"]
    defs.save_template(WS, WELCOME | {"subject": "Hello"})
    assert defs.get_template(WS, "welcome")["subject"] == "Hello"
    defs.delete_template(WS, "welcome")
    assert [t["id"] for t in defs.list_templates(WS)] == ["sms-hi"]
    with pytest.raises(DefinitionError) as err:
        defs.get_template(WS, "welcome")
    assert err.value.code == "not_found"


def test_keys_check_and_revoke_and_the_secret_is_never_stored(defs, schema):
    secret, info = defs.create_key(WS, "analyst", "Ana")
    other, _ = defs.create_key(WS, "marketer")
    assert defs.check_key(secret) == info and defs.check_key(secret + "x") is None
    defs.revoke_key(info["id"])
    defs.revoke_key(info["id"])  # idempotent
    assert defs.check_key(secret) is None
    assert defs.check_key(other)["role"] == "marketer"
    assert {k["name"]: k["revoked"] for k in defs.list_keys(WS)} == {"Ana": True, "": False}
    stored = _stored_state(schema)
    assert b"Ana" in stored  # the key was written ...
    assert secret.encode() not in stored and secret[3:].encode() not in stored  # ... its secret never
    assert hashlib.sha256(secret.encode()).hexdigest().encode() in stored  # only the hash


def test_changes_grow_with_every_save(defs):
    assert defs.changes() == 0
    defs.save_template(WS, WELCOME)
    after_template = defs.changes()
    assert after_template > 0
    defs.save_draft(WS, graph())
    after_draft = defs.changes()
    assert after_draft > after_template
    defs.save_draft(WS, graph())  # unchanged: nothing recorded
    assert defs.changes() == after_draft


def test_everything_survives_a_restart(ready, schema):
    ready.publish(WS, "welcome-series")
    ready.pause(WS, "welcome-series")
    secret, info = ready.create_key(WS, "marketer", "Mia")
    changes = ready.changes()
    ready.close()
    reopened = Definitions.from_postgres(DSN, schema)
    try:
        journey = reopened.get_journey(WS, "welcome-series")
        assert journey["status"] == "paused" and journey["current_version"] == 1
        assert reopened.get_template(WS, "welcome")["subject"] == WELCOME["subject"]
        assert reopened.check_key(secret) == info
        assert [(ws, s) for ws, _, s in reopened.published()] == [(WS, "paused")]
        assert reopened.changes() == changes
    finally:
        reopened.close()


def test_schemas_are_separate(defs, schema):
    defs.save_template(WS, WELCOME)
    other_schema = f"{schema}_b"
    other = Definitions.from_postgres(DSN, other_schema)
    try:
        assert other.list_templates(WS) == [] and other.changes() == 0
    finally:
        other.close()
        drop_schema(DSN, other_schema)


def test_write_from_another_process_is_a_conflict(ready, schema):
    other = Definitions.from_postgres(DSN, schema)
    try:
        stale = ready._journey(WS, "welcome-series")
        other.publish(WS, "welcome-series")
        stale.publish()
        with pytest.raises(DefinitionError) as err:
            ready._save(stale)
        assert err.value.code == "conflict"
        assert ready.get_journey(WS, "welcome-series")["current_version"] == 1
    finally:
        other.close()


# -- configuration ----------------------------------------------------------------------

def test_dsn_becomes_the_eventsourcing_environment():
    env = postgres_env("postgresql://sb:s3cret-pw@db.example:5433/switchback?connect_timeout=4", "tenant_a",
                       prefix="definitions")
    assert env["DEFINITIONS_PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["DEFINITIONS_POSTGRES_HOST"], env["DEFINITIONS_POSTGRES_PORT"]) == ("db.example", "5433")
    assert (env["DEFINITIONS_POSTGRES_DBNAME"], env["DEFINITIONS_POSTGRES_USER"]) == ("switchback", "sb")
    assert env["DEFINITIONS_POSTGRES_PASSWORD"] == "s3cret-pw"
    assert env["DEFINITIONS_POSTGRES_SCHEMA"] == "tenant_a"
    assert env["DEFINITIONS_POSTGRES_CONNECT_TIMEOUT"] == "4"
    keyword_form = postgres_env("host=db.example dbname=x user=u", "s")
    assert keyword_form["POSTGRES_DBNAME"] == "x" and keyword_form["POSTGRES_PASSWORD"] == ""


@pytest.mark.parametrize("dsn, words", [
    ("postgresql://u:s3cret-pw@h/db?sslmode=require", ["sslmode", "PGSSLMODE"]),
    ("postgresql://u:s3cret-pw@h/db?bogus=1&&", ["does not parse"]),
])
def test_unusable_dsn_is_refused_without_showing_the_password(dsn, words):
    with pytest.raises(ValueError) as err:
        postgres_env(dsn, "switchback")
    assert all(w in str(err.value) for w in words)
    assert "s3cret-pw" not in str(err.value)


@pytest.mark.parametrize("bad", ["", "Upper", "has-dash", "1digit", "a" * 64, 'x"; drop'])
def test_bad_schema_names_are_refused(bad):
    with pytest.raises(ValueError):
        Definitions.from_postgres(DSN, bad)


def test_the_password_is_never_logged(schema, caplog):
    params = psycopg.conninfo.conninfo_to_dict(DSN) | {"password": "pw-that-must-not-leak"}
    dsn = psycopg.conninfo.make_conninfo(**params)  # trust auth: the server ignores it
    with caplog.at_level(logging.DEBUG):
        store = Definitions.from_postgres(dsn, schema)
        try:
            store.save_template(WS, WELCOME)
        finally:
            store.close()
    assert schema in caplog.text  # the store did log where it is
    assert "pw-that-must-not-leak" not in caplog.text
