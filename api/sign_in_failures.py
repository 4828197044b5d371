"""Failed sign-ins, counted per email: the ledger behind the sign-in lock-out (``api/users.py``).

One row per failure: ``(email_key, failed_at)``, where ``email_key`` is a hash of the
lower-cased email (text an attacker typed is never stored) and ``failed_at`` epoch
seconds. Rows older than the counting window are deleted whenever a failure is added,
so the table stays small however many addresses are tried. A successful sign-in clears
the email's rows.

``SqliteFailures(path)`` keeps the table in the user directory's SQLite file (embedded) or
in memory; ``PgFailures(dsn, schema)`` in ``<schema>.sign_in_failures``, shared by every
API process of a distributed deployment, so the limit holds across all of them.
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["PgFailures", "SqliteFailures"]


class SqliteFailures:
    """The failure ledger in a SQLite file (the directory's own) or in memory."""

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, timeout=10, check_same_thread=False, isolation_level=None)
        self.lock = threading.Lock()
        with self.lock:
            self.conn.execute("CREATE TABLE IF NOT EXISTS sign_in_failures (email_key TEXT NOT NULL, failed_at REAL NOT NULL)")
            self.conn.execute("CREATE INDEX IF NOT EXISTS sign_in_failures_key ON sign_in_failures (email_key, failed_at)")
            self.conn.execute("CREATE INDEX IF NOT EXISTS sign_in_failures_at ON sign_in_failures (failed_at)")

    def _run(self, query: str, args: tuple) -> list[tuple]:
        with self.lock:
            return self.conn.execute(query, args).fetchall()

    def recent(self, key: str, since: float) -> tuple[int, float | None]:
        count, oldest = self._run("SELECT COUNT(*), MIN(failed_at) FROM sign_in_failures WHERE email_key = ? "
                                  "AND failed_at > ?", (key, since))[0]
        return count, oldest

    def add(self, key: str, at: float, forget_before: float) -> None:
        self._run("DELETE FROM sign_in_failures WHERE failed_at <= ?", (forget_before,))
        self._run("INSERT INTO sign_in_failures (email_key, failed_at) VALUES (?, ?)", (key, at))

    def clear(self, key: str) -> None:
        self._run("DELETE FROM sign_in_failures WHERE email_key = ?", (key,))

    def close(self) -> None:
        with self.lock:
            self.conn.close()


class PgFailures:
    """The failure ledger in PostgreSQL (``<schema>.sign_in_failures``), shared by every API process."""

    def __init__(self, dsn: str, schema: str) -> None:
        from psycopg import sql

        self.dsn, self.lock, self.conn = dsn, threading.Lock(), None
        self.table = sql.Identifier(schema, "sign_in_failures")
        self._run("CREATE TABLE IF NOT EXISTS {t} (email_key TEXT NOT NULL, failed_at DOUBLE PRECISION NOT NULL)")
        self._run("CREATE INDEX IF NOT EXISTS sign_in_failures_key ON {t} (email_key, failed_at)")

    def _run(self, query: str, args: tuple = ()) -> list[tuple]:
        import psycopg
        from psycopg import sql

        statement = sql.SQL(query).format(t=self.table)
        with self.lock:
            for attempt in (1, 2):
                try:
                    if self.conn is None or self.conn.closed:
                        self.conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=10)
                    cursor = self.conn.execute(statement, args)
                    return cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    if self.conn is not None:
                        self.conn.close()
                    self.conn = None
                    if attempt == 2:
                        raise
        return []

    def recent(self, key: str, since: float) -> tuple[int, float | None]:
        count, oldest = self._run("SELECT COUNT(*), MIN(failed_at) FROM {t} WHERE email_key = %s AND failed_at > %s",
                                  (key, since))[0]
        return count, oldest

    def add(self, key: str, at: float, forget_before: float) -> None:
        self._run("DELETE FROM {t} WHERE failed_at <= %s", (forget_before,))
        self._run("INSERT INTO {t} (email_key, failed_at) VALUES (%s, %s)", (key, at))

    def clear(self, key: str) -> None:
        self._run("DELETE FROM {t} WHERE email_key = %s", (key,))

    def close(self) -> None:
        with self.lock:
            if self.conn is not None:
                self.conn.close()
