"""A read-only PostgreSQL role for analysts (``switchback analyst-role create``).

The role may log in, use the read model's schema and SELECT its tables
(``schema.TABLES``) and nothing else: no INSERT, UPDATE, DELETE or DDL, and no access to
the engine's state tables that live in the same schema (journey state, outbox, offer
book, definitions, ``projection_offsets``) — those are explicitly revoked each time the
command runs. Default privileges give it SELECT on tables that the role running the
command creates in the schema later (read-model tables added by an upgrade); since
PostgreSQL cannot limit default privileges by table name, run the command again after
an upgrade: it revokes the role's access to every table that is not a read-model table.
A rebuild keeps the grants (``projections.pg_rebuild``).

Idempotent: creating an existing role updates its password (when one is given) and
grants again. The password is sent as a SCRAM-SHA-256 verifier computed here, so the
plain text never reaches the server (nor its statement log).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata

import psycopg
from psycopg import sql

from engine.pgconfig import check_schema, ensure_schema
from projections import schema as read_schema

ROLE_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
ITERATIONS = 4096


def check_role(name: str) -> str:
    if not isinstance(name, str) or not ROLE_PATTERN.match(name) or name.startswith("pg_"):
        raise ValueError(f"role name {name!r} is not usable: use 1-63 lower-case letters, digits or '_',"
                         " starting with a letter or '_' (not 'pg_'), e.g. 'analyst'")
    return name


def saslprep(password: str) -> str:
    """RFC 4013 SASLprep as PostgreSQL applies it to passwords: the prepared text, or the
    password unchanged where the profile refuses it (PostgreSQL then uses the raw bytes)."""
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6, stringprep.in_table_c7,
                  stringprep.in_table_c8, stringprep.in_table_c9, stringprep.in_table_a1)
    if not prepared or any(check(c) for c in prepared for check in prohibited):
        return password
    if any(stringprep.in_table_d1(c) for c in prepared):  # right-to-left text: RFC 3454 section 6
        if any(stringprep.in_table_d2(c) for c in prepared) or not (
                stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            return password
    return prepared


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """The ``SCRAM-SHA-256$...`` form PostgreSQL stores for ``password`` (RFC 5802/7677)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _tables(raw: psycopg.Connection, schema_name: str) -> list[str]:
    return [r[0] for r in raw.execute("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s"
                                      " ORDER BY tablename", (schema_name,))]


def create_analyst_role(dsn: str, schema_name: str = "switchback", name: str = "analyst",
                        password: str | None = None) -> dict[str, list[str] | bool]:
    """Create (or update) the read-only role; returns ``{"created", "granted", "revoked"}``.

    The read model must exist in ``schema_name`` (``PgReadModel`` creates it)."""
    check_schema(schema_name)
    check_role(name)
    ensure_schema(dsn, schema_name)
    role, where = sql.Identifier(name), sql.Identifier(schema_name)
    with psycopg.connect(dsn, autocommit=True) as raw:
        with raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"switchback.analyst_role.{name}",))
            exists = raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is not None
            options = sql.SQL("LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT NOREPLICATION NOBYPASSRLS")
            if password:
                options = sql.SQL("{} PASSWORD {}").format(options, sql.Literal(scram_verifier(password)))
            statement = "ALTER ROLE {} WITH {}" if exists else "CREATE ROLE {} WITH {}"
            raw.execute(sql.SQL(statement).format(role, options))
            present = _tables(raw, schema_name)
            granted = [t for t in read_schema.TABLES if t in present]
            revoked = [t for t in present if t not in read_schema.TABLES]
            raw.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(where, role))
            raw.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(where, role))
            for table in granted:
                target = sql.SQL("{}.{}").format(where, sql.Identifier(table))
                raw.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(target, role))
                raw.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(target, role))
            for table in revoked:
                raw.execute(sql.SQL("REVOKE ALL ON {}.{} FROM {}").format(where, sql.Identifier(table), role))
            raw.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
                        .format(where, role))
    return {"created": not exists, "granted": granted, "revoked": revoked}


def drop_analyst_role(dsn: str, name: str = "analyst") -> bool:
    """Drop the role with its grants and default privileges in this database; False if absent.
    (A role that holds privileges in other databases must be cleaned there first.)"""
    check_role(name)
    with psycopg.connect(dsn, autocommit=True) as raw:
        if raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone() is None:
            return False
        with raw.transaction():
            raw.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            raw.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))
    return True
