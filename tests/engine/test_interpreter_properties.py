"""Properties of the interpreter (engine/interpreter.py), checked with hypothesis over random
small graphs (compiled directly, so also graphs the validator would refuse), the library's
abandoned-cart journey and random event scripts:

1. determinism: the same inputs give the same instances and effects;
2. nothing lost, nothing duplicated: one active instance per contact and journey, every
   ``journey.entered`` closed by a ``journey.exited`` unless the instance is still active,
   visit counters strictly increasing, message ids and emitted-event keys unique per contact;
3. the step cap bounds the node entries of one input, and stops zero-wait cycles;
4. split buckets follow their weights.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journey_sim import T0, Sim, entry, journey, node

from engine.interpreter import STEP_CAP, Emit, Send, message_id, split_bucket, step
from engine.plan import compile_plan
from journeys.contact import apply_event, new_contact
from journeys.graph import Journey, out_handles

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"
EXIT_REASONS = {"completed", "goal", "exit_rule", "contact_deleted", "step_cap", "dead_end", "node_removed"}
CONTACTS = ("c1", "c2", "c3")
FAST = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- random graphs --------------------------------------------------------------------------

RULES = [{"tag": "vip"}, {"property": "data.total", "op": "gt", "value": 50},
         {"metric": "order_count", "op": "gte", "value": 1}, {"event": "order.placed", "within": "P1D"},
         {"subscribed": "email"}, {"not": {"segment": "seg"}}]


def node_data(kind: str):
    if kind == "wait_duration":
        return st.builds(lambda d: {"mode": "duration", "duration": d}, st.sampled_from(["PT30M", "PT1H", "P1D"]))
    if kind == "wait_until":
        return st.builds(lambda t, w: {"mode": "until", "time": t, "weekdays": w},
                         st.sampled_from(["09:00", "21:30", "02:30"]),
                         st.lists(st.sampled_from(["mon", "wed", "sat"]), unique=True, max_size=2))
    if kind == "wait_event":
        return st.builds(lambda e, m, t: {"mode": "event", "event": e, "timeout": t,
                                          **({"match": {"data.cart_id": "{{ trigger.data.cart_id }}"}} if m else {})},
                         st.sampled_from(["order.placed", "message.clicked"]), st.booleans(),
                         st.sampled_from(["PT1H", "PT4H", "P1D"]))
    if kind == "condition":
        return st.builds(lambda rules: {"mode": "condition", "default": "else",
                                        "cases": [{"handle": f"c{i}", "rule": r} for i, r in enumerate(rules)]},
                         st.lists(st.sampled_from(RULES), max_size=2))
    if kind == "split":
        return st.builds(lambda ws: {"mode": "split", "variants": [{"handle": f"v{i}", "weight": w}
                                                                   for i, w in enumerate(ws)]},
                         st.lists(st.integers(0, 5), min_size=2, max_size=3).filter(lambda ws: sum(ws) > 0))
    if kind == "send":
        return st.builds(lambda c, t: {"channel": c, "template": t},
                         st.sampled_from(["email", "email", "sms"]), st.sampled_from(["t1", "t2"]))
    return st.just({})


TYPES = {"wait_duration": "wait", "wait_until": "wait", "wait_event": "wait", "condition": "branch",
         "split": "branch", "send": "send", "end": "end"}


@st.composite
def graphs(draw, kinds=(*TYPES, "send", "send")):
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=1, max_size=6))
    trigger = draw(st.sampled_from([{"event": "cart.updated"}, {"event": "segment.entered", "segment": "seg"}]))
    filt = draw(st.sampled_from([None, None, None, {"not": {"tag": "staff"}},
                                 {"property": "data.total", "op": "gt", "value": 10}]))
    nodes = [entry(trigger["event"], trigger={k: v for k, v in trigger.items() if k != "event"},
                   **({"filter": filt} if filt else {}))]
    nodes += [node(f"n{i}", TYPES[k], **draw(node_data(k))) for i, k in enumerate(chosen)]
    ids = [n["id"] for n in nodes]
    edges = []
    for i, n in enumerate(nodes):
        for handle in out_handles(n):
            if draw(st.integers(0, 11).map(lambda k: k != 5)):  # now and then a dead end
                forward = ids[i + 1:] if draw(st.integers(0, 5).map(lambda k: k != 2)) else []
                edges.append((n["id"], handle, draw(st.sampled_from(forward or ids[1:]))))  # loops too
    setting = {"reentry": draw(st.sampled_from(["never", "always", "after"])), "reentry_after": "P1D"}
    if draw(st.booleans()):
        setting["goal"] = draw(st.sampled_from([{"event": "order.placed"},
                                                {"event": "order.placed",
                                                 "match": {"data.cart_id": "{{ trigger.data.cart_id }}"}}]))
    if draw(st.booleans()):
        setting["exit"] = draw(st.sampled_from([{"tag": "stop"}, {"property": "type", "value": "contact.unsubscribed"}]))
    if draw(st.booleans()):
        setting["frequency_cap"] = {"max": draw(st.integers(1, 2)), "per": "P1D"}
    if draw(st.booleans()):
        setting["quiet_hours"] = draw(st.sampled_from([{"start": "21:00", "end": "08:00"},
                                                       {"start": "12:00", "end": "13:00"}]))
    edges = [{"id": f"e{i}", "source": s, "target": t, **({} if h == "default" else {"sourceHandle": h})}
             for i, (s, h, t) in enumerate(edges)]
    return journey(nodes, edges, **setting)


def library_plan():
    return compile_plan(Journey.model_validate(json.loads((LIBRARY / "abandoned-cart.json").read_text())))


# -- random scripts -------------------------------------------------------------------------

def weighted(*options):
    """Pick one of ``(weight, strategy)`` options with that weight (``one_of`` would treat
    repeated branches as one)."""
    table = [strategy for weight, strategy in options for _ in range(weight)]
    return st.integers(0, len(table) - 1).flatmap(lambda i: table[i])


# "trigger" stands for the journey's own trigger event (cart.updated or segment.entered)
TRIGGER = st.builds(lambda k, t: ("trigger", {"cart_id": k, "total": t}), st.sampled_from(["k1", "k2"]),
                    st.sampled_from(["20", "59.90"]))
ORDER = st.builds(lambda k: ("order.placed", {"order_id": "o", "cart_id": k, "amount": "10"}),
                  st.sampled_from(["k1", "k2", None]))
EVENTS = weighted((12, TRIGGER), (4, ORDER), (11, st.one_of(
    st.builds(lambda k, t: ("cart.updated", {"cart_id": k, "total": t}), st.sampled_from(["k1", "k2"]),
              st.sampled_from(["20", "59.90"])),
    st.builds(lambda k: ("order.placed", {"order_id": "o", "cart_id": k, "amount": "10"}),
              st.sampled_from(["k1", "k2", None])),
    st.builds(lambda tag: ("contact.tagged", {"tag": tag}), st.sampled_from(["vip", "stop", "staff"])),
    st.just(("contact.untagged", {"tag": "vip"})),
    st.builds(lambda c: ("contact.unsubscribed", {"channel": c}), st.sampled_from(["email", "all"])),
    st.just(("contact.subscribed", {"channel": "all"})),
    st.builds(lambda tz: ("contact.created", {"email": "x@example.com", "phone": "+4915100000", **tz}),
              st.sampled_from([{}, {"timezone": "Europe/Berlin"}, {"timezone": "America/New_York"}])),
    st.just(("message.clicked", {"message_id": "m"})),
    st.just(("message.bounced", {"bounce_type": "hard"})),
    st.just(("segment.entered", {"segment_id": "seg"})),
    st.just(("segment.exited", {"segment_id": "seg"})),
    st.just(("contact.deleted", {})),
)))
EVENT_STEP = st.tuples(st.just("event"), st.sampled_from(CONTACTS), EVENTS)
STEPS = weighted(
    (12, EVENT_STEP),
    (6, st.tuples(st.just("advance"), st.sampled_from([60.0, 1800.0, 3600.0, 4 * 3600.0, 9 * 3600.0, 86400.0,
                                                       3 * 86400.0]))),
    (2, st.tuples(st.sampled_from(["pause", "resume"]))),
)
SCRIPTS = st.lists(STEPS, min_size=8, max_size=40)


def play(plan, script, check_purity=False) -> Sim:
    sim = Sim({plan.journey_id: plan}, check_purity=check_purity)
    # c1 and c2 have an email address (c2 lives in Berlin); c3 has none until the script says so
    sim.event("contact.created", "c1", {"email": "c1@example.com"})
    sim.event("contact.created", "c2", {"email": "c2@example.com", "timezone": "Europe/Berlin"})
    for item in script:
        if item[0] == "event":
            _, cid, (kind, data) = item
            if kind == "trigger":
                kind, data = plan.trigger_event, {**data, "segment_id": plan.trigger_segment}
            sim.event(kind, cid, {k: v for k, v in data.items() if v is not None})
        elif item[0] == "advance":
            sim.advance(item[1])
        elif item[0] == "pause":
            sim.pause(plan.journey_id)
        else:
            sim.resume(plan.journey_id)
    sim.resume(plan.journey_id)
    sim.advance(30 * 86400.0)  # let every timer run out
    return sim


def emitted(effects, kind: str) -> list[Emit]:
    return [e for e in effects if isinstance(e, Emit) and e.type == kind]


def check_invariants(sim: Sim) -> None:
    assert sim.max_nodes_per_input <= STEP_CAP
    for cid, log in sim.history.items():
        by_journey: dict[str, list] = {}
        for _, jid, effect in log:
            by_journey.setdefault(jid, []).append(effect)
        for jid, effects in by_journey.items():
            inst = sim.instances.get((cid, jid))
            # entered/exited alternate: never two live instances, none lost
            marks = [e.type for e in effects if isinstance(e, Emit) and e.type in ("journey.entered", "journey.exited")]
            pairs, still_in = divmod(len(marks), 2)
            assert marks == ["journey.entered", "journey.exited"] * pairs + ["journey.entered"] * still_in
            assert (inst is not None and inst["state"] == "active") == bool(still_in)
            assert inst is None or inst["entries"] == marks.count("journey.entered")
            # visit counters strictly increase, and the instance knows the last one
            visits = [int(e.key.rsplit(":", 1)[1]) for e in emitted(effects, "journey.node_entered")]
            assert visits == list(range(1, len(visits) + 1))
            assert inst is None or inst["visit"] == (visits[-1] if visits else 0)
            reasons = [e.data["reason"] for e in emitted(effects, "journey.exited")]
            assert set(reasons) <= EXIT_REASONS
            assert inst is None or inst["state"] == "active" or inst["exit_reason"] == reasons[-1]
            # each send or suppression belongs to the last visit of its node
            plan, visit, last_visit_of = sim.plans[jid], 0, {}
            for e in effects:
                if isinstance(e, Emit) and e.type == "journey.node_entered":
                    visit += 1
                    last_visit_of[e.data["node_id"]] = visit
                elif isinstance(e, Send) or e.type == "message.suppressed":
                    node_id = e.node_id if isinstance(e, Send) else e.data["node_id"]
                    mid = e.message_id if isinstance(e, Send) else e.data["message_id"]
                    assert mid == message_id("default", jid, plan.version, cid, node_id, last_visit_of[node_id])
        # message ids: each (node, visit) is attempted at most once, sent or suppressed
        attempts = [e.message_id for e in sim.effects(cid) if isinstance(e, Send)] + \
            [e.data["message_id"] for e in emitted(sim.effects(cid), "message.suppressed")]
        assert len(attempts) == len(set(attempts))
        # emitted events get their ids from (contact, key): keys must never repeat
        keys = [e.key for e in sim.effects(cid) if isinstance(e, Emit)]
        assert len(keys) == len(set(keys))


def outcome(sim: Sim):
    return sim.instances, sim.contacts, sim.history


# -- 1. determinism -----------------------------------------------------------------------------

@FAST
@given(graph=graphs(), script=SCRIPTS)
def test_random_graphs_are_deterministic(graph, script):
    plan = compile_plan(graph)
    assert outcome(play(plan, script, check_purity=True)) == outcome(play(compile_plan(graph), script))


@FAST
@given(script=SCRIPTS)
def test_the_library_journey_is_deterministic(script):
    assert outcome(play(library_plan(), script)) == outcome(play(library_plan(), script))


# -- 2. nothing lost, nothing duplicated -----------------------------------------------------------

@FAST
@given(graph=graphs(), script=SCRIPTS)
def test_random_graphs_lose_and_duplicate_nothing(graph, script):
    check_invariants(play(compile_plan(graph), script))


@FAST
@given(script=SCRIPTS)
def test_the_library_journey_loses_and_duplicates_nothing(script):
    sim = play(library_plan(), script)
    check_invariants(sim)
    for cid in sim.history:
        inst = sim.inst(cid, "abandoned-cart")
        # the library journey ends on its own within 4 h + 1 day (+ quiet-free sends): nothing may stay behind
        assert inst is None or inst["state"] == "done"


# -- 3. the step cap ------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(graph=graphs(kinds=("condition", "split", "send")), cid=st.sampled_from(CONTACTS))
def test_the_step_cap_stops_zero_wait_cycles(graph, cid):
    # every handle connected among zero-time nodes only: whatever the path, it never ends
    data = graph.to_json()
    ids = [n["id"] for n in data["nodes"][1:]]
    data["edges"] = [{"id": f"e{i}", "source": n["id"], "target": ids[(j + i) % len(ids)],
                      **({} if h == "default" else {"sourceHandle": h})}
                     for j, n in enumerate(data["nodes"]) for i, h in enumerate(out_handles(n))]
    data["settings"] = {"frequency_cap": {"max": 1, "per": "P1D"}}
    data["nodes"][0]["data"] = {"trigger": {"event": "cart.updated"}}
    plan = compile_plan(Journey.model_validate(data))
    contact = apply_event(new_contact(cid), {"type": "contact.created", "data": {"email": "x@example.com"}})
    inst, effects = step(None, {"id": "e", "type": "cart.updated", "data": {}}, plan, T0, contact)
    entered = [e for e in effects if isinstance(e, Emit) and e.type == "journey.node_entered"]
    assert len(entered) == STEP_CAP
    assert inst["state"] == "done" and inst["exit_reason"] == "step_cap"
    assert len([e for e in effects if isinstance(e, Send)]) <= 1  # the frequency cap still holds inside a loop


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graph=graphs(kinds=("condition", "split", "send", "send", "wait_duration", "end")), script=SCRIPTS)
def test_no_input_enters_more_than_step_cap_nodes(graph, script):
    assert play(compile_plan(graph), script).max_nodes_per_input <= STEP_CAP


# -- 4. split buckets ---------------------------------------------------------------------------

def split_plan(weights, journey_id="ab-test", node_id="split"):
    variants = [{"handle": f"v{w}", "weight": w} for w in weights]
    return compile_plan(journey([entry("cart.updated"), node(node_id, "branch", mode="split", variants=variants),
                                 *[node(v["handle"], "end") for v in variants]],
                                [("start", node_id), *[(node_id, v["handle"], v["handle"]) for v in variants]],
                                id=journey_id))


def test_split_buckets_follow_their_weights_on_10000_contacts():
    for journey_id, node_id in (("ab-test", "split"), ("welcome", "holdout")):
        plan = split_plan((70, 20, 10), journey_id, node_id)
        counts = Counter()
        for i in range(10_000):
            contact = new_contact(f"c_{i}")
            inst, _ = step(None, {"id": f"e{i}", "type": "cart.updated", "data": {}}, plan, T0, contact)
            counts[inst["node"]] += 1
        assert sum(counts.values()) == 10_000
        for handle, share in (("v70", 0.70), ("v20", 0.20), ("v10", 0.10)):
            assert abs(counts[handle] / 10_000 - share) <= 0.02, counts


@settings(max_examples=20, deadline=None)
@given(weights=st.lists(st.integers(1, 10), min_size=2, max_size=4))
def test_split_buckets_follow_random_weights(weights):
    total = sum(weights)
    counts = Counter()
    for i in range(4000):
        point = split_bucket(f"c_{i}", "j", "sp") * total
        for index, weight in enumerate(weights):
            point -= weight
            if point < 0:
                counts[index] += 1
                break
    for index, weight in enumerate(weights):
        assert abs(counts[index] / 4000 - weight / total) <= 0.035
