"""PostgreSQL settings from a DSN: the ``eventsourcing`` environment, schemas, safe display.

``eventsourcing.postgres`` is configured by environment keys (``POSTGRES_DBNAME``,
``POSTGRES_HOST``, ``POSTGRES_PORT``, ``POSTGRES_USER``, ``POSTGRES_PASSWORD``,
``POSTGRES_SCHEMA``, ...), not by a DSN. ``postgres_env`` turns one DSN (URL or
``key=value`` form, parsed by ``psycopg.conninfo.conninfo_to_dict``) into those keys,
prefixed with the application's name (``DEFINITIONS_POSTGRES_HOST``) so that stray
process variables cannot redirect the store. DSN options the backend cannot pass on
(``sslmode``, ``application_name``, ...) are refused rather than silently dropped: set
them as libpq variables (``PGSSLMODE=require``), which every connection still reads.

The password goes into the environment dict only; ``describe`` gives the DSN without it
for logs and messages. eventsourcing does not create schemas: ``ensure_schema`` does.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["SCHEMA_PATTERN", "check_schema", "describe", "drop_schema", "ensure_schema", "postgres_env"]

# Lower case, unquoted-safe: eventsourcing looks up its composite types as "<schema>.<name>".
SCHEMA_PATTERN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PASSED = {"dbname": "DBNAME", "host": "HOST", "port": "PORT", "user": "USER", "password": "PASSWORD",
           "connect_timeout": "CONNECT_TIMEOUT"}
_LIBPQ_VARIABLES = {"sslmode": "PGSSLMODE", "sslrootcert": "PGSSLROOTCERT", "application_name": "PGAPPNAME",
                    "options": "PGOPTIONS", "target_session_attrs": "PGTARGETSESSIONATTRS"}


def check_schema(schema: str) -> str:
    if not isinstance(schema, str) or not SCHEMA_PATTERN.match(schema):
        raise ValueError(
            f"schema {schema!r} is not usable: use 1-63 lower-case letters, digits or '_',"
            " starting with a letter or '_' (e.g. 'switchback')"
        )
    return schema


def describe(dsn: str) -> str:
    """The DSN as ``key=value`` text without its password (for logs and error messages)."""
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    params.pop("password", None)
    return make_conninfo(**{k: v for k, v in params.items() if v is not None})


def postgres_env(dsn: str, schema: str, prefix: str = "") -> dict[str, str]:
    """eventsourcing settings for ``dsn`` and ``schema`` (keys prefixed ``<PREFIX>_``, if given)."""
    check_schema(schema)
    try:
        params = {k: v for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except psycopg.ProgrammingError:
        # psycopg's message may quote the DSN, password included: never pass it on.
        raise ValueError(
            "the PostgreSQL DSN does not parse; use postgresql://user:password@host:5432/dbname"
            " or 'host=... dbname=... user=...'"
        ) from None
    unsupported = sorted(set(params) - set(_PASSED))
    if unsupported:
        hints = ", ".join(f"{k} -> {_LIBPQ_VARIABLES.get(k, 'PG' + k.upper().replace('_', ''))}" for k in unsupported)
        raise ValueError(
            f"DSN option(s) {', '.join(unsupported)} cannot be passed to the eventsourcing PostgreSQL backend;"
            f" set them as libpq environment variables instead ({hints})"
        )
    pre = f"{prefix.upper()}_" if prefix else ""
    env = {
        f"{pre}PERSISTENCE_MODULE": "eventsourcing.postgres",
        # libpq defaults apply to empty values (local socket, the OS user, .pgpass)
        f"{pre}POSTGRES_DBNAME": params.get("dbname", params.get("user", "")),
        f"{pre}POSTGRES_HOST": params.get("host", ""),
        f"{pre}POSTGRES_PORT": params.get("port", "5432"),
        f"{pre}POSTGRES_USER": params.get("user", ""),
        f"{pre}POSTGRES_PASSWORD": params.get("password", ""),
        f"{pre}POSTGRES_SCHEMA": schema,
        f"{pre}POSTGRES_CONNECT_TIMEOUT": params.get("connect_timeout", "10"),
        f"{pre}POSTGRES_POOL_SIZE": "2",
        f"{pre}POSTGRES_MAX_OVERFLOW": "8",
        f"{pre}CREATE_TABLE": "yes",
    }
    return env


def ensure_schema(dsn: str, schema: str) -> None:
    """Create ``schema`` if it does not exist yet (safe when several processes race)."""
    check_schema(schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateSchema):
            pass  # created by someone else between the check and the insert


@contextmanager
def ddl_lock(dsn: str, schema: str) -> Iterator[None]:
    """Hold the schema's DDL lock (the advisory lock every Switchback process takes before
    creating tables in ``schema``) while the block runs: two processes starting together
    would otherwise both run eventsourcing's CREATE TABLE IF NOT EXISTS and one would fail
    with 'type ... already exists'."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"switchback-ddl:{schema}",))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (f"switchback-ddl:{schema}",))


def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it (tests, ``reset``); no error if it is absent."""
    check_schema(schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
