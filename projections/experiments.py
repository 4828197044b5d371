"""A/B test counts from the read model: per variant of a split node, the contacts who
took it and the contacts among them who converted. Runs on the SQLite read model and,
through ``projections.postgres.PgConnection``, on PostgreSQL (``?`` placeholders; the
only dialect-specific piece is reading a field of the ``events.data`` JSON text).

Which variant a contact took: the interpreter emits ``journey.node_entered`` with
``data = {journey_id, version, node_id, from_node}`` for the node a split sends the
contact to, so ``from_node`` = the split and ``node_id`` = the target of the variant's
out-edge in that version's graph. When two variants lead to the same node, the stable
bucket (``engine.interpreter.split_bucket``) and that version's weights tell them apart.

Converted: a later event (higher log ``position``, so also with several entries) of the
same contact, either the journey's ``journey.goal_reached`` of that version, or any
event of a named type; with a ``window`` only when it occurred within that long after
the contact's first entry into the variant. Each contact counts once per variant.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Iterable

from engine.interpreter import split_bucket
from journeys.events import parse_time
from journeys.experiments import Split, VariantCounts

__all__ = ["Conversion", "dialect_of", "split_counts", "variant_entries"]


@dataclass(frozen=True)
class Conversion:
    """What counts as converting: the journey's goal (``event=None``) or an event type,
    optionally only within ``window`` seconds after entering the variant."""

    event: str | None = None
    window: float | None = None

    def describe(self) -> dict[str, Any]:
        return {"kind": "event" if self.event else "goal", "event": self.event, "window_seconds": self.window}


def dialect_of(conn: Any) -> str:
    """``sqlite`` for a sqlite3 connection, else ``postgres`` (``projections.postgres.PgConnection``)."""
    return "sqlite" if isinstance(conn, sqlite3.Connection) else "postgres"


def _field(dialect: str, alias: str, key: str) -> str:
    # ``key`` is one of the constants below, never user input
    if dialect == "sqlite":
        return f"json_extract({alias}.data, '$.{key}')"
    return f"({alias}.data::jsonb ->> '{key}')"


def _entries_sql(dialect: str, conversion: Conversion) -> str:
    f = lambda alias, key: _field(dialect, alias, key)  # noqa: E731
    if conversion.event is None:
        converts = (f"g.type = 'journey.goal_reached' AND {f('g', 'journey_id')} = ?"
                    f" AND {f('g', 'version')} = v.version")
    else:
        converts = "g.type = ? AND g.occurred_at >= v.entered_at"
    return (
        "SELECT v.node_id, v.contact_id, v.entered_at,"
        " (SELECT MIN(g.occurred_at) FROM events g WHERE g.workspace = ? AND g.contact_id = v.contact_id"
        f" AND g.position > v.position AND {converts}) AS converted_at"
        " FROM (SELECT e.contact_id, " + f("e", "version") + " AS version, " + f("e", "node_id") + " AS node_id,"
        " MIN(e.position) AS position, MIN(e.occurred_at) AS entered_at"
        " FROM events e WHERE e.workspace = ? AND e.type = 'journey.node_entered'"
        f" AND {f('e', 'journey_id')} = ? AND {f('e', 'from_node')} = ? AND {f('e', 'version')} = ?"
        " GROUP BY e.contact_id, " + f("e", "version") + ", " + f("e", "node_id") + ") v"
        " ORDER BY v.contact_id, v.node_id"
    )


def variant_entries(conn: Any, workspace: str, journey_id: str, version: int, node_id: str,
                    conversion: Conversion = Conversion()) -> list[tuple[str, str, str | None, str | None]]:
    """``(target node, contact_id, entered_at, first conversion at or None)`` per contact and
    target of split ``node_id`` in ``version``, ordered by contact."""
    sql = _entries_sql(dialect_of(conn), conversion)
    params: list[Any] = [workspace]
    params += [journey_id] if conversion.event is None else [conversion.event]
    params += [workspace, journey_id, node_id, version]
    return [(str(t), str(c), e, g) for t, c, e, g in conn.execute(sql, params)]


def _converted(entered_at: str | None, converted_at: str | None, window: float | None) -> bool:
    if converted_at is None:
        return False
    if window is None or entered_at is None:
        return True
    return parse_time(converted_at) - parse_time(entered_at) <= window


def _handle_of(split: Split, journey_id: str, target: str, contact_id: str) -> str | None:
    """The variant that led ``contact_id`` to ``target`` (by bucket when variants share it)."""
    sharing = [v for v in split.variants if v.target == target]
    if len(sharing) <= 1:
        return sharing[0].handle if sharing else None
    total = sum(v.weight for v in split.variants)
    point = split_bucket(contact_id, journey_id, split.node_id) * total
    chosen = split.variants[-1].handle
    for variant in split.variants:  # the interpreter's walk over the weights
        point -= variant.weight
        if point < 0:
            chosen = variant.handle
            break
    return chosen if any(v.handle == chosen for v in sharing) else None


def count(rows: Iterable[tuple[str, str, str | None, str | None]], split: Split, journey_id: str,
          window: float | None = None) -> list[VariantCounts]:
    """Per variant of ``split`` (in its order): contacts entered and converted, from
    ``variant_entries`` rows."""
    entered = {v.handle: 0 for v in split.variants}
    converted = dict(entered)
    for target, contact_id, entered_at, converted_at in rows:
        handle = _handle_of(split, journey_id, target, contact_id)
        if handle is None:
            continue
        entered[handle] += 1
        converted[handle] += _converted(entered_at, converted_at, window)
    return [VariantCounts(v.handle, entered[v.handle], converted[v.handle]) for v in split.variants]


def split_counts(conn: Any, workspace: str, journey_id: str, version: int, split: Split,
                 conversion: Conversion = Conversion()) -> list[VariantCounts]:
    """Entered and converted contacts per variant of ``split`` in ``version`` of the journey."""
    rows = variant_entries(conn, workspace, journey_id, version, split.node_id, conversion)
    return count(rows, split, journey_id, conversion.window)
