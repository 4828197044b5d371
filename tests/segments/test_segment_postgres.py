"""The segment reads and writes of api/segments.py on the PostgreSQL read model (the
distributed deployment's ``read_db()``): members, counts, export, email resolution,
static imports and a backfill give the same answers as on SQLite. Skipped, with the
reason, when ``SWITCHBACK_TEST_PG`` is unreachable."""

from __future__ import annotations

import csv
import io
import itertools

import pytest

pytest.importorskip("psycopg")

from api import segments  # noqa: E402
from engine.clock import SystemClock  # noqa: E402
from projections.postgres import PgReadModel  # noqa: E402
from tests.support import PG  # noqa: E402

_offsets = itertools.count()


def ev(kind: str, contact_id: str, at: str = "2026-01-01T10:00:00Z", **data) -> tuple[int, dict]:
    offset = next(_offsets)
    return offset, {"id": f"pg-{offset}", "type": kind, "workspace": "acme", "contact_id": contact_id,
                    "occurred_at": at, "received_at": at, "source": "api", "data": data}


class Services:
    """What api/segments.py needs of DistributedServices: reads from PostgreSQL, writes kept."""

    def __init__(self, model: PgReadModel):
        self.model, self.clock, self.appended = model, SystemClock(), []

    def read_db(self):
        return self.model.connect()

    def append(self, records):
        self.appended += records
        self.model.apply(0, [(next(_offsets), r) for r in records])
        return [1] * len(records)

    def wait_visible(self, records, positions, timeout=5.0):
        return True


@pytest.fixture
def services(pg_schema):
    model = PgReadModel(PG, pg_schema)
    model.apply(0, [
        ev("contact.created", "ann", email="Ann@Example.com", first_name="Ann", tags=["vip"]),
        ev("contact.created", "bob", email="bob@example.com", first_name="=cmd()", tags=["vip"]),
        ev("contact.created", "cy", email="cy@example.com"),
        ev("segment.entered", "ann", segment_id="picked"),
        ev("segment.entered", "cy", segment_id="picked"),
        ev("segment.exited", "cy", at="2026-01-02T10:00:00Z", segment_id="picked"),
        ev("segment.entered", "cy", at="2026-01-03T10:00:00Z", segment_id="picked"),
        ev("segment.entered", "bob", segment_id="gone"),
        ev("segment.exited", "bob", at="2026-01-02T10:00:00Z", segment_id="gone"),
    ])
    yield Services(model)
    model.close()


def test_member_reads_on_postgres(services):
    with segments.reading(services) as conn:
        assert segments.dialect_of(conn) == "postgres"
        assert segments.current_members(conn, "acme", "picked") == {"ann", "cy"}
        assert segments.member_count(conn, "acme", "gone") == 0
        first = segments.members_page(conn, "acme", "picked", 1, None)
        assert [(m["contact_id"], m["email"]) for m in first["items"]] == [("ann", "Ann@Example.com")]
        assert first["total"] == 2
        second = segments.members_page(conn, "acme", "picked", 1, first["next_cursor"])
        assert [(m["contact_id"], m["entered_at"]) for m in second["items"]] == [("cy", "2026-01-03T10:00:00Z")]
        rows, errors = segments.parse_member_csv("email\nann@example.com\nnobody@example.com\n")
        ids, unknown = segments.resolve_members(conn, "acme", rows)
        assert ids == {"ann"} and [(e["line"], e["column"]) for e in unknown] == [(3, "email")]
    exported = list(csv.reader(io.StringIO("".join(segments.export_csv(services, "acme", "picked")))))
    assert exported[0][:3] == ["contact_id", "entered_at", "email"] and [r[0] for r in exported[1:]] == ["ann", "cy"]


def test_static_import_and_backfill_on_postgres(services):
    changed = segments.set_static_members(services, "acme", "picked", {"bob", "cy"})
    assert (changed["entered"], changed["exited"], changed["unchanged"]) == (1, 1, 1)
    assert sorted((r["type"], r["contact_id"], r["source"]) for r in services.appended) == [
        ("segment.entered", "bob", "import"), ("segment.exited", "ann", "import")]
    with segments.reading(services) as conn:
        assert segments.current_members(conn, "acme", "picked") == {"bob", "cy"}
    filled = segments.backfill(services, "acme", {"id": "vips", "rule": {"tag": "vip"}, "version": 1})
    assert (filled["entered"], filled["exited"]) == (2, 0)
    with segments.reading(services) as conn:
        assert segments.current_members(conn, "acme", "vips") == {"ann", "bob"}
        assert segments.preview(conn, {"tag": "vip"}, "acme", services.clock.now())["count"] == 2
    # a formula-looking cell is quoted in the export
    exported = "".join(segments.export_csv(services, "acme", "vips"))
    assert "'=cmd()" in exported
