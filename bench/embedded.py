"""Embedded runtime benchmarks. Prints one JSON line per figure (docs/benchmarks.md).

1. ``embedded_transitions_per_s``: journey transitions (node entries) per second,
   sustained while the real runtime drains >= 200k events from the SQLite log with
   persistence on (state + emitted events + commands + position per batch). The
   journey is the library's abandoned cart; half the carts get a matching order.
   Baselines in the same run: the pure interpreter without persistence, and a bare
   log scan (read + decode only).
2. ``embedded_event_to_command_latency_ms``: events appended at a steady 5,000/s to a
   journey that sends at once; latency from the append to the moment the send command
   is visible to the sender (a watcher woken by the runtime's post-commit signal).

Usage: python bench/embedded.py [--events 200000] [--rate 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.clock import SystemClock  # noqa: E402
from engine.interpreter import step  # noqa: E402
from engine.log import EventLog  # noqa: E402
from engine.plan import compile_plan  # noqa: E402
from engine.runtime import JourneyRuntime, drain, tune_gc  # noqa: E402
from journeys.contact import apply_event, new_contact  # noqa: E402
from journeys.graph import Journey  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STAMP = "2026-11-21T10:00:00Z"


class Source:
    def __init__(self, *graphs):
        self.graphs = [{**g, "version": 1, "status": "published"} for g in graphs]

    def published(self):
        return [("default", g, "published") for g in self.graphs]

    def all_versions(self):
        return [("default", g) for g in self.graphs]

    def changes(self):
        return 1


def envelope(event_id, kind, contact, data):
    return {"id": event_id, "type": kind, "workspace": "default", "contact_id": contact,
            "occurred_at": STAMP, "received_at": STAMP, "source": "api", "data": data}


def script(events: int) -> list[dict]:
    """contact.created + cart.updated per contact, and a matching order for every other one."""
    out, i = [], 0
    while len(out) < events:
        c = f"c{i}"
        out.append(envelope(f"a{i}", "contact.created", c, {"email": f"{c}@example.com"}))
        out.append(envelope(f"b{i}", "cart.updated", c, {"cart_id": f"k{i}"}))
        if i % 2:
            out.append(envelope(f"o{i}", "order.placed", c, {"order_id": f"o{i}", "cart_id": f"k{i}", "amount": "10"}))
        i += 1
    return out[:events]


def emit(figure: str, **values) -> None:
    print(json.dumps({"figure": figure, **values, "machine": f"{platform.machine()} {os.cpu_count()} cores",
                      "python": platform.python_version()}), flush=True)


def bench_throughput(n_events: int) -> None:
    graph = json.loads((ROOT / "journeys/library/abandoned-cart.json").read_text())
    events = script(n_events)
    trigger_pair = events[:2]
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "events.db")
        for i in range(0, len(events), 10_000):
            log.append(events[i:i + 10_000])
        del events  # the runtime reads from the log; keep the process as lean as a server
        tune_gc()  # the same settings `switchback up` applies
        # baseline 1: bare log scan
        t0 = time.perf_counter()
        after, scanned = 0, 0
        while batch := log.read(after, 1000):
            after, scanned = batch[-1][0], scanned + len(batch)
        scan_s = time.perf_counter() - t0
        runtime = JourneyRuntime(log, Source(graph), SystemClock())
        t0 = time.perf_counter()
        drain(runtime, limit=1_000_000)
        seconds = time.perf_counter() - t0
        stats = runtime.stats
        emit("embedded_transitions_per_s", value=round(stats.transitions / seconds),
             unit="transitions/s", target=25_000, input_events=n_events, events_processed=stats.events,
             transitions=stats.transitions, seconds=round(seconds, 3),
             events_per_s=round(stats.events / seconds))
        emit("baseline_log_scan_events_per_s", value=round(scanned / scan_s), unit="events/s")
    # baseline 2: the pure interpreter, no persistence
    plan = compile_plan(Journey.model_validate({**graph, "version": 1}))
    contact = apply_event(new_contact("c", "default"), trigger_pair[0])
    trigger = trigger_pair[1]
    t0 = time.perf_counter()
    transitions = 0
    for i in range(50_000):
        _, effects = step(None, trigger, plan, 1_000.0, {**contact, "id": f"c{i}"})
        transitions += sum(1 for e in effects if getattr(e, "type", "") == "journey.node_entered")
    emit("baseline_pure_interpreter_transitions_per_s", value=round(transitions / (time.perf_counter() - t0)),
         unit="transitions/s")


def bench_latency(rate: int, seconds: float) -> None:
    graph = {"id": "instant", "name": "Instant", "nodes": [
        {"id": "start", "type": "entry", "data": {"trigger": {"event": "bench.ping"}}},
        {"id": "send", "type": "send", "data": {"channel": "email", "template": "t"}},
        {"id": "end", "type": "end"}],
        "edges": [{"id": "e1", "source": "start", "target": "send"}, {"id": "e2", "source": "send", "target": "end"}],
        "settings": {"reentry": "always"}}
    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "events.db")
        contacts = [envelope(f"a{i}", "contact.created", f"c{i}", {"email": f"c{i}@example.com"}) for i in range(5000)]
        log.append(contacts)
        runtime = JourneyRuntime(log, Source(graph), SystemClock())
        drain(runtime)
        tune_gc()
        seen: dict[int, float] = {}  # command seq -> when it became visible (after the commit)

        def watch() -> None:
            conn = log.connection()
            last = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM commands").fetchone()[0]
            while not stop.is_set():
                with runtime.commands_ready:
                    runtime.commands_ready.wait(0.05)
                stamp = time.time()
                rows = conn.execute("SELECT seq FROM commands WHERE seq > ? ORDER BY seq", (last,)).fetchall()
                for (seq,) in rows:
                    seen[seq] = stamp
                if rows:
                    last = rows[-1][0]

        stop = threading.Event()
        log.start_checkpointer()  # as `switchback up` does
        runtime.start()
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        tick = 0.01
        per_tick = max(1, int(rate * tick))
        sent = 0
        start = time.perf_counter()
        next_at = start
        while time.perf_counter() - start < seconds:
            now = time.time()
            batch = [envelope(f"p{sent + j}", "bench.ping", f"c{(sent + j) % 5000}", {"t0": now}) for j in range(per_tick)]
            log.append(batch)
            sent += per_tick
            next_at += tick
            time.sleep(max(0.0, next_at - time.perf_counter()))
        achieved = sent / (time.perf_counter() - start)
        deadline = time.time() + 30
        while len(seen) < sent and time.time() < deadline:
            time.sleep(0.05)
        stop.set()
        watcher.join()
        runtime.stop()
        log.stop_checkpointer()
        import orjson

        conn = log.connection()
        t0_by_contact: dict[str, list[float]] = {}
        for (body,) in conn.execute("SELECT body FROM log WHERE type = 'bench.ping' ORDER BY position"):
            event = orjson.loads(body)
            t0_by_contact.setdefault(event["contact_id"], []).append(event["data"]["t0"])
        latencies = []
        for seq, contact_id in conn.execute("SELECT seq, contact_id FROM commands ORDER BY seq"):
            latencies.append((seen[seq] - t0_by_contact[contact_id].pop(0)) * 1000)
        latencies.sort()
        q = statistics.quantiles(latencies, n=100)
        emit("embedded_event_to_command_latency_ms", p50=round(q[49], 2), p99=round(q[98], 2),
             max=round(latencies[-1], 2), target_p99=50, rate_requested=rate, rate_achieved=round(achieved),
             commands=len(latencies), seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rate", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", choices=["throughput", "latency"])
    args = parser.parse_args()
    if args.only in (None, "throughput"):
        bench_throughput(args.events)
    if args.only in (None, "latency"):
        os.sync()  # flush the throughput run's writes so they do not stall this figure
        time.sleep(2)
        bench_latency(args.rate, args.seconds)


if __name__ == "__main__":
    main()
