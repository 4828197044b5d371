"""Broadcast benchmarks: creating a broadcast to 50,000 contacts. One JSON line per figure.

The embedded app runs in-process with its runtime, sender and projector threads (as
``switchback up``). The engine's contact states are written directly (``--contacts``,
of which ``--recipients`` carry the tag ``vip``; each state holds a few events, like a
real contact's), then:

1. ``broadcast_select_s``: reading every contact state and matching the audience (the
   selection ``POST /v1/broadcasts`` does, without HTTP).
2. ``broadcast_audience_count_s``: ``POST /v1/broadcasts/audience`` for the tag.
3. ``broadcast_create_s``: ``POST /v1/broadcasts`` to the tag: validate, publish the
   journey, select, append one targeting event per recipient. Budget: < 5 s.
4. with ``--follow``: ``broadcast_entered_s``, until the runtime has taken every
   recipient into the journey and queued their message (the sender works on).

Usage: python bench/broadcasts.py [--contacts 60000] [--recipients 50000] [--follow]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api import broadcasts as shell  # noqa: E402
from api.app import create_app  # noqa: E402
from api.services import Services  # noqa: E402
from api.settings import Settings  # noqa: E402
from engine import state  # noqa: E402
from journeys.broadcasts import Audience, select  # noqa: E402
from journeys.contact import apply_event, new_contact  # noqa: E402
from journeys.events import iso_from_epoch  # noqa: E402

ADMIN = "sb_bench_admin_key_0123456789abcdefghij"
BUDGET_S = 5.0


def emit(figure: str, **values) -> None:
    print(json.dumps({"figure": figure, **values, "machine": f"{platform.machine()} {os.cpu_count()} cores",
                      "python": platform.python_version()}), flush=True)


def contact_states(contacts: int, recipients: int, now: float) -> dict[str, dict]:
    """Folded states: created (+ tag for recipients), two orders, a cart and an open."""
    out = {}
    stamp = iso_from_epoch(now - 86400)
    for i in range(contacts):
        cid = f"c{i:06d}"
        body = new_contact(cid)
        for kind, data in (
            ("contact.created", {"email": f"{cid}@example.com", "first_name": f"N{i}", "city": "Berlin",
                                 "tags": ["vip"] if i < recipients else ["newsletter"]}),
            ("order.placed", {"order_id": f"o{i}a", "amount": "19.90"}),
            ("order.placed", {"order_id": f"o{i}b", "amount": "5.00"}),
            ("cart.updated", {"cart_id": f"k{i}"}),
            ("message.opened", {"message_id": f"m{i}", "journey_id": "welcome"}),
        ):
            body = apply_event(body, {"type": kind, "occurred_at": stamp, "data": data})
        out[state.key_of("default", cid)] = body
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=60_000)
    parser.add_argument("--recipients", type=int, default=50_000)
    parser.add_argument("--follow", action="store_true", help="also time the runtime taking every recipient in")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory(prefix="sb-bench-broadcasts-") as tmp:
        services = Services(Settings(data_dir=Path(tmp) / "data", admin_key=ADMIN, port=8000))
        services.ensure_admin_key()
        now = services.clock.now()
        conn = services.log.connection()
        conn.executescript(state.SCHEMA)
        with services.log.transaction(conn):
            state.save_contacts(conn, contact_states(args.contacts, args.recipients, now))

        started = time.perf_counter()
        found = sum(1 for _ in select(Audience(tags=["vip"]), shell.contact_states(services, "default"), now))
        emit("broadcast_select_s", seconds=round(time.perf_counter() - started, 3), contacts=args.contacts,
             recipients=found)

        with TestClient(create_app(services), headers={"Authorization": f"Bearer {ADMIN}"}) as client:
            put = client.put("/v1/templates/promo", json={"channel": "email", "subject": "Hi {{ contact.first_name }}",
                                                          "text": "Our sale starts now."})
            assert put.status_code == 200, put.text
            body = {"name": "Bench sale", "channel": "email", "template": "promo", "audience": {"tags": ["vip"]}}

            started = time.perf_counter()
            counted = client.post("/v1/broadcasts/audience", json={"audience": body["audience"]})
            elapsed = time.perf_counter() - started
            assert counted.status_code == 200, counted.text
            emit("broadcast_audience_count_s", seconds=round(elapsed, 3), count=counted.json()["count"])

            started = time.perf_counter()
            created = client.post("/v1/broadcasts", json=body)
            elapsed = time.perf_counter() - started
            assert created.status_code == 201, created.text
            targeted = created.json()["targeted"]
            emit("broadcast_create_s", seconds=round(elapsed, 3), targeted=targeted, contacts=args.contacts,
                 budget_s=BUDGET_S, within_budget=elapsed < BUDGET_S,
                 targeted_per_s=round(targeted / elapsed) if elapsed else None)

            if args.follow:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    status = services.status()
                    queued = conn.execute("SELECT COUNT(*) FROM commands").fetchone()[0]
                    if status["runtime"]["lag"] == 0 and queued >= targeted:
                        break
                    time.sleep(0.05)
                emit("broadcast_entered_s", seconds=round(time.perf_counter() - started, 3), queued=queued,
                     entered_per_s=round(queued / (time.perf_counter() - started)))


if __name__ == "__main__":
    main()
