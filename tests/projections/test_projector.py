"""The projector: batches, positions committed with rows, idempotency, rebuild == incremental."""

from __future__ import annotations

import pytest

import projections
from projections import Projector, checksum, handlers, rebuild, schema


def scenario(ev):
    """A bit of everything, including an erasure and reports arriving out of order."""
    events = []
    for n in range(12):
        cid = f"c{n:02d}"
        events += [
            ev("contact.created", cid, email=f"{cid}@example.com", first_name=f"Name{n}", tags=["new"]),
            ev("contact.tagged", cid, tag="vip" if n % 2 else "regular"),
            ev("order.placed", cid, at=f"2026-01-{n + 1:02d}T00:00:00Z", order_id=f"o{n}", amount=f"{n}.25"),
            ev("journey.entered", cid, source="engine", journey_id="welcome", version=1),
            ev("journey.node_entered", cid, source="engine", journey_id="welcome", version=1, node_id="start",
               from_node=None),
            ev("journey.node_entered", cid, source="engine", journey_id="welcome", version=1, node_id="s1",
               from_node="start"),
            ev("message.queued", cid, source="engine", message_id=f"m{n}", journey_id="welcome", version=1,
               node_id="s1", channel="email", template="hello"),
            ev("message.opened", cid, at="2026-01-01T12:00:00Z", source="ses", message_id=f"m{n}"),
            ev("message.delivered", cid, at="2026-01-01T11:00:00Z", source="ses", message_id=f"m{n}"),
        ]
        if n % 3 == 0:
            events.append(ev("journey.exited", cid, source="engine", journey_id="welcome", version=1,
                             node_id="s1", reason="completed"))
    events += [
        ev("contact.deleted", "c05"),
        ev("journey.exited", "c05", source="engine", journey_id="welcome", version=1, node_id="s1",
           reason="contact_deleted"),
        ev("message.clicked", "c05", source="ses", message_id="m5", url="https://shop.example"),
        ev("contact.updated", "c06", city="Oslo"),
        ev("page.viewed", "c99"),
    ]
    return events


def test_package_exports():
    assert sorted(projections.__all__) == projections.__all__
    assert all(hasattr(projections, name) for name in projections.__all__)


def test_batches_and_position(log, read_path, ev):
    log.append([ev("contact.created", f"c{n}") for n in range(5)])
    with Projector(log.path, read_path, batch=2) as projector:
        assert projector.position() == 0
        assert projector.run_once() == 2
        assert projector.position() == 2
        assert projector.conn.execute("SELECT COUNT(*) FROM contacts").fetchone() == (2,)
        assert projector.catch_up() == 3
        assert projector.position() == 5
        assert projector.run_once() == 0
    with Projector(log.path, read_path) as reopened:  # the position survives a restart
        assert reopened.position() == 5
        log.append([ev("contact.created", "late")])
        assert reopened.catch_up() == 1


def test_a_failing_batch_leaves_no_trace(log, read_path, ev, monkeypatch):
    log.append([ev("contact.created", "ok")])
    projector = Projector(log.path, read_path, batch=10)
    projector.catch_up()
    before = checksum(read_path)
    log.append([ev("contact.created", "a", email="a@example.com"), ev("contact.tagged", "a", tag="vip"),
                ev("order.placed", "a", order_id="o1", amount="5"), ev("contact.created", "b")])

    def crash(conn, event):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(handlers.HANDLERS, "order.placed", crash)
    with pytest.raises(RuntimeError):
        projector.run_once()
    assert projector.position() == 1
    assert checksum(read_path) == before
    assert projector.conn.execute("SELECT COUNT(*) FROM events").fetchone() == (1,)

    monkeypatch.undo()
    assert projector.catch_up() == 4
    assert projector.position() == 5
    assert projector.conn.execute("SELECT order_count FROM contacts WHERE contact_id = 'a'").fetchone() == (1,)
    projector.close()


def test_duplicate_deliveries_change_nothing(log, read_path, ev):
    log.append(scenario(ev))
    with Projector(log.path, read_path) as projector:
        projector.catch_up()
        once = checksum(read_path)
        batch = log.read(0, 10_000)
        assert projector.apply(batch) == 0  # the same batch again
        # the same envelopes delivered again later in the log (new positions, same ids)
        assert projector.apply([(position + 10_000, event) for position, event in batch]) == 0
        assert checksum(read_path) == once
        assert projector.position() == batch[-1][0] + 10_000


def test_rebuild_equals_incremental(log, read_path, tmp_path, ev):
    events = scenario(ev)
    with Projector(log.path, read_path, batch=7) as projector:  # small, unaligned batches
        for start in range(0, len(events), 10):
            log.append(events[start:start + 10])
            projector.run_once()
        projector.catch_up()
        assert projector.position() == len(events)
    incremental = checksum(read_path)
    assert rebuild(log.path, read_path) == len(events)
    assert checksum(read_path) == incremental
    assert rebuild(log.path, tmp_path / "fresh.db") == len(events)
    assert checksum(tmp_path / "fresh.db") == incremental
    assert set(incremental) == set(schema.TABLES)


def test_rebuild_replaces_stale_rows(log, read_path, ev):
    log.append([ev("contact.created", "c1")])
    with Projector(log.path, read_path) as projector:
        projector.catch_up()
        projector.conn.execute("INSERT INTO contacts(workspace, contact_id) VALUES ('acme', 'ghost')")
    rebuild(log.path, read_path)
    with Projector(log.path, read_path) as projector:
        assert projector.conn.execute("SELECT contact_id FROM contacts").fetchall() == [("c1",)]
        assert projector.position() == 1


def test_checksum_ignores_positions(log, read_path, ev):
    log.append([ev("contact.created", "c1")])
    with Projector(log.path, read_path) as projector:
        projector.catch_up()
        before = checksum(read_path)
        projector.conn.execute("UPDATE events SET position = 99")
        projector.conn.execute("UPDATE projection_positions SET position = 99")
        assert checksum(read_path) == before
        projector.conn.execute("UPDATE contacts SET email = 'x'")
        assert checksum(read_path)["contacts"] != before["contacts"]
