"""The outbox relay: definition events, from the notification log to Kafka, in batches.

Every change of a journey, template or API key is an event in the ``Definitions``
application's notification log (ids 1, 2, 3, ... in commit order; on PostgreSQL
eventsourcing locks the table while inserting, so a later id is never visible before
an earlier one). ``DefinitionRelay`` reads the log after the position it recorded,
turns each notification into a JSON-able message and hands a batch to ``send``::

    {"id": "def-42", "type": "definition.journey.published", "workspace": "acme",
     "originator_id": "…uuid…", "originator_version": 3, "occurred_at": "2026-…Z",
     "state": {"graph": {...}}, "notification_id": 42}

``type`` is ``definition.<aggregate>.<event>`` in snake case, the aggregates being
``journey``, ``template``, ``api_key``, ``workspace`` (one workspace's index) and
``workspaces`` (the registry); e.g. ``definition.journey.draft_saved``,
``definition.api_key.revoked``. ``state`` is the event's decoded attributes (``None``
if the event can no longer be decoded). API key events carry only ``role``,
``workspace`` and ``revoked``: never the secret's hash nor the key's name.

Delivery is at least once. The position is recorded only after ``send`` returned, so
``send`` must return only once the broker has the whole batch (``kafka_send`` waits for
every acknowledgement). A crash, or an exception from ``send``, between the two sends
the batch again on the next run: consumers drop duplicates by ``id`` (one id per
notification, the same on every resend). Run one relay per position name; two would
both send everything.

Positions live apart from the events (Kafka cannot share a transaction with the store):
``SqlitePosition`` for the embedded deployment, ``PgPosition`` (table
``<schema>.relay_positions(name PK, position)``) for the distributed one. Anything
with ``get() -> int`` and ``set(int)`` will do.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from engine.definition_models import iso

__all__ = [
    "DEFAULT_TOPIC",
    "DefinitionRelay",
    "PgPosition",
    "PositionStore",
    "SqlitePosition",
    "kafka_send",
    "message_type",
]

logger = logging.getLogger("switchback.relay")

DEFAULT_TOPIC = "switchback.definitions"
DEFAULT_BATCH = 500
# Class name in the stored topic -> the short name used in message types.
AGGREGATE_NAMES = {
    "JourneyDefinition": "journey",
    "MessageTemplate": "template",
    "ApiKey": "api_key",
    "WorkspaceIndex": "workspace",
    "Workspaces": "workspaces",
}
# Aggregates whose events may carry secrets: only these fields (from the event or the
# aggregate) are relayed. Add new sensitive aggregates here (e.g. offers with codes).
ALLOWED_FIELDS = {"ApiKey": ("role", "workspace", "revoked")}
_HIDDEN = frozenset({"originator_id", "originator_version", "originator_topic", "timestamp"})
_FACTS = ("workspace", "role")
_MAX_CACHED = 50_000


class PositionStore(Protocol):
    def get(self) -> int: ...

    def set(self, position: int) -> None: ...


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def message_type(topic: str) -> str:
    """``engine.definition_models:JourneyDefinition.Published`` -> ``definition.journey.published``."""
    qualname = topic.rpartition(":")[2]
    aggregate, _, event_name = qualname.rpartition(".")
    kind = AGGREGATE_NAMES.get(aggregate) or _snake(aggregate.rpartition(".")[2] or "unknown")
    return f"definition.{kind}.{_snake(event_name)}"


def _aggregate_class(topic: str) -> str:
    return topic.rpartition(":")[2].rpartition(".")[0].rpartition(".")[2]


def jsonable(value: Any) -> Any:
    """Plain JSON types only: datetimes as ISO-8601 UTC, UUIDs and decimals as text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (UUID, Decimal)):
        return str(value)
    return str(value)


class DefinitionRelay:
    """Relays the definitions' notification log to ``send`` (see the module docstring).

    ``definitions`` is an ``engine.definitions.Definitions`` (or any eventsourcing
    ``Application``); ``send(batch)`` gets at most ``batch_size`` messages in log order.
    """

    def __init__(
        self,
        definitions: Any,
        send: Callable[[list[dict[str, Any]]], None],
        position_store: PositionStore,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self.app: Application = getattr(definitions, "app", definitions)
        self.send = send
        self.positions = position_store
        self.batch_size = batch_size
        self._facts: dict[str, dict[str, Any]] = {}  # originator id -> workspace/role (never change)
        self._lock = threading.Lock()

    # -- the loop ---------------------------------------------------------------------

    def run_once(self) -> int:
        """Send the next batch and record its position; returns how many were sent (0: idle).

        If ``send`` raises, the position stays where it was and the exception propagates.
        """
        with self._lock:
            position = self.positions.get()
            notifications = self.app.recorder.select_notifications(
                start=position, limit=self.batch_size, inclusive_of_start=False
            )
            if not notifications:
                return 0
            batch = [self.message(n) for n in notifications]
            self.send(batch)
            self.positions.set(notifications[-1].id)
            logger.debug("relayed definition notifications %d-%d", notifications[0].id, notifications[-1].id)
            return len(batch)

    def run_until_idle(self) -> int:
        """Send batches until the log is exhausted; returns the total sent."""
        total = 0
        while sent := self.run_once():
            total += sent
        return total

    def lag(self) -> int:
        """Notifications recorded but not yet relayed (by id; gaps in ids count too)."""
        return max(0, (self.app.recorder.max_notification_id() or 0) - self.positions.get())

    # -- notifications -> messages ----------------------------------------------------

    def message(self, notification: Notification) -> dict[str, Any]:
        originator_id = str(notification.originator_id)
        aggregate = _aggregate_class(notification.topic)
        occurred_at: str | None = None
        state: dict[str, Any] | None = None
        created = False
        try:
            event = self.app.mapper.to_domain_event(notification)
        except Exception as exc:  # a topic renamed without an alias, say: relay what is known
            logger.warning("definition notification %d (%s) cannot be decoded: %s",
                           notification.id, notification.topic, exc)
        else:
            attributes = vars(event)
            created = "originator_topic" in attributes  # the aggregate's first event
            if isinstance(attributes.get("timestamp"), datetime):
                occurred_at = iso(attributes["timestamp"])
            state = {k: jsonable(v) for k, v in attributes.items() if k not in _HIDDEN}
        facts = self._facts_of(originator_id, state if created else None)
        if aggregate in ALLOWED_FIELDS:
            state = None if state is None else self._restricted(ALLOWED_FIELDS[aggregate], notification, state, facts)
        workspace = state.get("workspace") if state and isinstance(state.get("workspace"), str) else None
        return {
            "id": f"def-{notification.id}",
            "type": message_type(notification.topic),
            "workspace": workspace or facts.get("workspace"),
            "originator_id": originator_id,
            "originator_version": notification.originator_version,
            "occurred_at": occurred_at,
            "state": state,
            "notification_id": notification.id,
        }

    def _facts_of(self, originator_id: str, created_state: dict[str, Any] | None) -> dict[str, Any]:
        """What never changes about an aggregate (its workspace, a key's role): from its
        first event or, for a relay that starts later in the log, from the aggregate."""
        facts = self._facts.get(originator_id)
        if facts is None:
            if created_state is not None:
                facts = {k: created_state[k] for k in _FACTS if isinstance(created_state.get(k), str)}
            else:
                facts = self._load_facts(originator_id)
            if len(self._facts) >= _MAX_CACHED:
                self._facts.clear()
            self._facts[originator_id] = facts
        return facts

    def _load_facts(self, originator_id: str) -> dict[str, Any]:
        try:
            aggregate = self.app.repository.get(UUID(originator_id))
        except Exception:  # gone or undecodable: the message goes out without a workspace
            return {}
        return {k: getattr(aggregate, k) for k in _FACTS if isinstance(getattr(aggregate, k, None), str)}

    @staticmethod
    def _restricted(
        allowed: tuple[str, ...], notification: Notification, state: dict[str, Any], facts: dict[str, Any]
    ) -> dict[str, Any]:
        restricted = {k: state[k] if k in state else facts.get(k) for k in allowed}
        if "revoked" in allowed:
            restricted["revoked"] = bool(state.get("revoked")) or notification.topic.endswith(".Revoked")
        return restricted


# -- senders ----------------------------------------------------------------------------

def kafka_send(producer: Any, topic: str = DEFAULT_TOPIC, timeout: float = 30.0) -> Callable[[list[dict[str, Any]]], None]:
    """A ``send`` for a kafka-python ``KafkaProducer``: key = originator id (one aggregate's
    events stay in order on one partition), value = JSON; returns once every message of the
    batch is acknowledged and raises if any failed (so the position is not recorded)."""
    import orjson

    def send(batch: list[dict[str, Any]]) -> None:
        futures = [
            producer.send(topic, key=m["originator_id"].encode(), value=orjson.dumps(m)) for m in batch
        ]
        producer.flush(timeout=timeout)
        for future in futures:
            future.get(timeout=timeout)

    return send


# -- position stores --------------------------------------------------------------------

class SqlitePosition:
    """The relay position in a SQLite file (table ``relay_positions``), for embedded mode."""

    def __init__(self, path: str | Path, name: str = "definitions") -> None:
        self.name = name
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout = 5000")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS relay_positions (name TEXT PRIMARY KEY, position INTEGER NOT NULL)"
            )

    def get(self) -> int:
        with self._lock:
            row = self._conn.execute("SELECT position FROM relay_positions WHERE name = ?", (self.name,)).fetchone()
        return int(row[0]) if row else 0

    def set(self, position: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO relay_positions (name, position) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                (self.name, int(position)),
            )

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class PgPosition:
    """The relay position in PostgreSQL (``<schema>.relay_positions``), for the distributed
    mode; the schema is created if missing. Reconnects after a lost connection."""

    def __init__(self, dsn: str, schema: str = "switchback", name: str = "definitions") -> None:
        import psycopg
        from psycopg import sql

        from engine.pgconfig import check_schema, ensure_schema

        self.dsn = dsn
        self.name = name
        self._lock = threading.Lock()
        self._conn: Any = None
        table = sql.Identifier(check_schema(schema), "relay_positions")
        self._select = sql.SQL("SELECT position FROM {} WHERE name = %s").format(table)
        self._upsert = sql.SQL(
            "INSERT INTO {} (name, position) VALUES (%s, %s)"
            " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position"
        ).format(table)
        ensure_schema(dsn, schema)
        try:
            self._execute(sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, position bigint NOT NULL)"
            ).format(table))
        except psycopg.errors.UniqueViolation:
            pass  # another process created it at the same moment

    def _execute(self, query: Any, params: tuple[Any, ...] = (), fetch: bool = False) -> Any:
        import psycopg

        with self._lock:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = psycopg.connect(self.dsn, autocommit=True)
            try:
                cursor = self._conn.execute(query, params)
                return cursor.fetchone() if fetch else None
            except psycopg.OperationalError:
                self._conn.close()
                self._conn = None
                raise

    def get(self) -> int:
        row = self._execute(self._select, (self.name,), fetch=True)
        return int(row[0]) if row else 0

    def set(self, position: int) -> None:
        self._execute(self._upsert, (self.name, int(position)))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
