"""Per-variant counts from the read model (projections.experiments): who took which variant
(``journey.node_entered`` from the split to the variant's target), who converted afterwards
(the journey goal of that version, or a named event within a window), one count per
contact; the same answers on SQLite and on PostgreSQL."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from engine.interpreter import split_bucket
from journeys.experiments import VariantCounts, splits
from projections import Projector
from projections.experiments import Conversion, dialect_of, split_counts
from tests.support import PG

JID = "promo"
_ids = itertools.count(1)


def ev(type: str, contact_id: str, at: str, workspace: str = "acme", **data: Any) -> dict[str, Any]:
    return {"id": f"x-{next(_ids):06d}", "type": type, "workspace": workspace, "contact_id": contact_id,
            "occurred_at": at, "received_at": at, "source": "engine", "data": data}


def entered(cid: str, target: str, at: str, version: int = 1, journey: str = JID, split: str = "split",
            workspace: str = "acme") -> dict[str, Any]:
    return ev("journey.node_entered", cid, at, workspace, journey_id=journey, version=version, node_id=target,
              from_node=split)


def goal(cid: str, at: str, version: int = 1, journey: str = JID) -> dict[str, Any]:
    return ev("journey.goal_reached", cid, at, journey_id=journey, version=version, goal="order.placed")


def order(cid: str, at: str) -> dict[str, Any]:
    return {**ev("order.placed", cid, at, order_id=f"o-{cid}-{at}", amount="10"), "source": "api"}


def graph(version: int = 1) -> dict[str, Any]:
    return {"id": JID, "version": version, "settings": {"goal": {"event": "order.placed"}},
            "nodes": [{"id": "start", "type": "entry", "data": {"trigger": {"event": "signup"}}},
                      {"id": "split", "type": "branch", "data": {"mode": "split", "variants": [
                          {"handle": "a", "weight": 50}, {"handle": "b", "weight": 50}]}},
                      {"id": "both", "type": "branch", "data": {"mode": "split", "variants": [
                          {"handle": "x", "weight": 30}, {"handle": "y", "weight": 70}]}},
                      {"id": "wait_a", "type": "wait", "data": {}}, {"id": "wait_b", "type": "wait", "data": {}},
                      {"id": "end", "type": "end"}],
            "edges": [{"id": "e1", "source": "split", "sourceHandle": "a", "target": "wait_a"},
                      {"id": "e2", "source": "split", "sourceHandle": "b", "target": "wait_b"},
                      {"id": "e3", "source": "both", "sourceHandle": "x", "target": "end"},
                      {"id": "e4", "source": "both", "sourceHandle": "y", "target": "end"}]}


def shared_target_contacts() -> tuple[list[str], list[str]]:
    """Contacts the 30/70 split 'both' sends to x and to y (both lead to 'end')."""
    ids = [f"s{i}" for i in range(40)]
    x = [c for c in ids if split_bucket(c, JID, "both") * 100 < 30]
    return x, [c for c in ids if c not in x]


def script() -> list[dict[str, Any]]:
    day = "2026-03-{:02d}T10:00:00Z".format
    events = [
        entered("c1", "wait_a", day(1)), goal("c1", day(2)), order("c1", day(2)),         # a, converted
        entered("c2", "wait_a", day(1)), order("c2", day(12)),                             # a, order after 11 days
        order("c3", day(1)), entered("c3", "wait_b", day(1)), goal("c3", day(3)),          # b, converted
        goal("c4", day(1)), entered("c4", "wait_b", day(1)),                               # b, goal before the split
        entered("c5", "wait_b", day(1)), entered("c5", "wait_b", day(5)), goal("c5", day(6)),  # b twice, counted once
        entered("c6", "wait_b", day(1)), goal("c6", day(2), version=2),                    # b, goal of another version
        entered("c7", "wait_a", day(4), version=2), goal("c7", day(5), version=2),         # version 2 only
        entered("c8", "wait_a", day(1), journey="other"), goal("c8", day(2), journey="other"),  # another journey
        entered("c9", "wait_a", day(1), workspace="elsewhere"),                            # another workspace
        ev("journey.node_entered", "c10", day(1), journey_id=JID, version=1, node_id="wait_a", from_node="start"),
    ]
    x, y = shared_target_contacts()
    for cid in x + y:
        events.append(entered(cid, "end", day(1), split="both"))
    events += [order(cid, day(2)) for cid in x[:2] + y[:5]]
    return events


@pytest.fixture
def sqlite_read(tmp_path):
    projector = Projector(tmp_path / "events.db", tmp_path / "read.db")
    projector.apply(list(enumerate(script(), start=1)))
    yield projector.conn
    projector.close()


@pytest.fixture
def pg_read(pg_schema):
    from projections.postgres import PgReadModel

    model = PgReadModel(PG, pg_schema)
    model.apply(0, list(enumerate(script())))
    conn = model.connect()
    yield conn
    conn.close()
    model.close()


def answers(conn) -> dict[str, Any]:
    v1, v2 = splits(graph(1)), splits(graph(2))
    split, both = v1[0], v1[1]
    return {
        "goal_v1": split_counts(conn, "acme", JID, 1, split),
        "goal_v2": split_counts(conn, "acme", JID, 2, v2[0]),
        "orders": split_counts(conn, "acme", JID, 1, split, Conversion(event="order.placed")),
        "orders_7d": split_counts(conn, "acme", JID, 1, split, Conversion(event="order.placed", window=7 * 86400)),
        "shared": split_counts(conn, "acme", JID, 1, both, Conversion(event="order.placed")),
        "other_workspace": split_counts(conn, "nobody", JID, 1, split),
    }


def expected() -> dict[str, Any]:
    x, y = shared_target_contacts()
    return {
        "goal_v1": [VariantCounts("a", 2, 1), VariantCounts("b", 4, 2)],
        "goal_v2": [VariantCounts("a", 1, 1), VariantCounts("b", 0, 0)],
        # c3's order came before the split; c2's eleven days after
        "orders": [VariantCounts("a", 2, 2), VariantCounts("b", 4, 0)],
        "orders_7d": [VariantCounts("a", 2, 1), VariantCounts("b", 4, 0)],
        "shared": [VariantCounts("x", len(x), 2), VariantCounts("y", len(y), 5)],
        "other_workspace": [VariantCounts("a", 0, 0), VariantCounts("b", 0, 0)],
    }


def test_counts_on_sqlite(sqlite_read):
    assert dialect_of(sqlite_read) == "sqlite"
    x, y = shared_target_contacts()
    assert x and y  # the 30/70 bucket puts contacts on both sides
    assert answers(sqlite_read) == expected()


def test_counts_on_postgres(pg_read):
    assert dialect_of(pg_read) == "postgres"
    assert answers(pg_read) == expected()


def test_conversion_describes_itself():
    assert Conversion().describe() == {"kind": "goal", "event": None, "window_seconds": None}
    assert Conversion("order.placed", 3600.0).describe() == {"kind": "event", "event": "order.placed",
                                                             "window_seconds": 3600.0}
