"""The dry run: virtual clock, timers before events, folded contacts, readable problems."""

from __future__ import annotations

import itertools
import json

import pytest

import engine.simulate as simulate_module
from engine.demo import DEMO_START, demo_contacts, demo_stream
from engine.interpreter import message_id, split_bucket
from engine.simulate import load_events_jsonl, simulate
from journeys.events import iso_from_epoch, parse_time
from journeys.library import library_journey

T0 = DEMO_START  # 2026-01-05T09:00:00Z, a Monday
HOUR, DAY = 3600.0, 86400.0


def at(seconds: float) -> str:
    return iso_from_epoch(T0 + seconds)


def created(cid, offset=0.0, **data):
    body = {"email": f"{cid}@example.com", "phone": "+4915100000000", "first_name": cid} | data
    return {"type": "contact.created", "contact_id": cid, "occurred_at": at(offset), "data": body}


def cart(cid, cart_id, offset):
    return {"type": "cart.updated", "contact_id": cid, "occurred_at": at(offset), "data": {"cart_id": cart_id}}


def order(cid, offset, cart_id=None):
    data = {"order_id": f"o-{cid}-{offset}", "amount": "59.90", "currency": "EUR"}
    if cart_id:
        data["cart_id"] = cart_id
    return {"type": "order.placed", "contact_id": cid, "occurred_at": at(offset), "data": data}


def templates(contact):
    return [m["template"] for m in contact.messages]


# -- abandoned cart -----------------------------------------------------------------

def test_abandoned_cart_without_order_reminds_after_4h_then_last_call():
    sim = simulate(library_journey("abandoned-cart"), [created("c1"), cart("c1", "k1", 10)])
    c = sim.contacts["c1"]
    assert sim.problems == []
    assert c.path == ["start", "wait_order", "remind", "wait_day", "vip", "last_call", "done"]
    assert templates(c) == ["cart-reminder", "cart-last-call"]
    assert [m["at"] for m in c.messages] == [at(10 + 4 * HOUR), at(10 + 4 * HOUR + DAY)]
    assert c.messages[0]["message_id"] == message_id("default", "abandoned-cart", 0, "c1", "remind", 3)
    assert c.exits == [{"reason": "completed", "node_id": "done", "at": at(10 + 4 * HOUR + DAY)}]
    assert c.state["state"] == "done"
    assert sim.ended_at == at(10 + 4 * HOUR + DAY)


def test_abandoned_cart_vip_gets_the_qr_offer():
    sim = simulate(library_journey("abandoned-cart"), [created("v", tags=["VIP"]), cart("v", "k1", 10)])
    c = sim.contacts["v"]
    assert templates(c) == ["cart-reminder", "cart-offer"]
    assert c.messages[1]["offer"]["kind"] == "qr"


def test_abandoned_cart_with_matching_order_exits_bought_without_a_message():
    events = [created("c2"), cart("c2", "k2", 10), order("c2", 600, cart_id="k2")]
    c = simulate(library_journey("abandoned-cart"), events).contacts["c2"]
    assert c.path == ["start", "wait_order", "bought"]
    assert c.messages == [] and c.suppressed == []
    assert c.exits == [{"reason": "completed", "node_id": "bought", "at": at(600)}]


def test_an_order_for_another_cart_does_not_end_the_wait():
    events = [created("c3"), cart("c3", "k3", 10), order("c3", 600, cart_id="other"), order("c3", 700)]
    c = simulate(library_journey("abandoned-cart"), events).contacts["c3"]
    assert templates(c) == ["cart-reminder", "cart-last-call"]


def test_timers_due_before_an_event_fire_first():
    """The reminder (due at +4 h) goes out before the order at +5 h ends the second wait."""
    events = [created("c4"), cart("c4", "k4", 0), order("c4", 5 * HOUR, cart_id="k4")]
    c = simulate(library_journey("abandoned-cart"), events).contacts["c4"]
    assert c.path == ["start", "wait_order", "remind", "wait_day", "bought"]
    assert templates(c) == ["cart-reminder"]
    assert c.exits[0]["at"] == at(5 * HOUR)


def test_events_are_processed_in_occurred_at_order():
    events = [order("c5", 600, cart_id="k5"), cart("c5", "k5", 10), created("c5")]
    c = simulate(library_journey("abandoned-cart"), events).contacts["c5"]
    assert c.path == ["start", "wait_order", "bought"]


def test_a_contact_without_an_address_is_suppressed_not_sent():
    sim = simulate(library_journey("abandoned-cart"), [cart("anon", "k", 0)])
    c = sim.contacts["anon"]
    assert c.messages == []
    assert [(s["node_id"], s["reason"]) for s in c.suppressed] == [("remind", "no_address"), ("last_call", "no_address")]
    assert sim.summary()["suppressed"] == {"no_address": 2}


def test_contacts_that_never_enter_are_listed_without_state():
    sim = simulate(library_journey("abandoned-cart"), [created("idle")])
    assert sim.contacts["idle"].state is None and sim.contacts["idle"].path == []
    assert sim.summary()["entered"] == 0


# -- welcome series -------------------------------------------------------------------

def test_welcome_series_branches_on_opens_and_stops_at_the_goal():
    opened = {"type": "message.opened", "contact_id": "a", "occurred_at": at(HOUR),
              "data": {"message_id": "m_x", "journey_id": "welcome-series"}}
    events = [created("a"), created("b"), created("c"), opened, order("c", DAY)]
    sim = simulate(library_journey("welcome-series"), events)
    a, b, c = (sim.contacts[x] for x in "abc")
    assert templates(a) == ["welcome", "welcome-tips"]
    assert a.path == ["start", "welcome", "wait_2d", "opened", "tips", "done_tips"]
    assert a.messages[1]["at"] == at(2 * DAY)
    assert templates(b) == ["welcome", "welcome-reminder"]
    assert b.exits[0]["node_id"] == "done_reminder"
    assert templates(c) == ["welcome"]
    assert c.exits == [{"reason": "goal", "node_id": "wait_2d", "at": at(DAY)}]
    assert sim.summary()["exits"] == {"completed": 2, "goal": 1}


# -- win-back: split, quiet hours, event wait, re-entry ----------------------------------

def _ids_for(variant: str, n: int) -> list[str]:
    """Contact ids whose stable split bucket lands in ``variant`` (90/10 split)."""
    ids = (f"w{i}" for i in itertools.count())
    pick = (lambda b: b < 0.9) if variant == "treatment" else (lambda b: b >= 0.9)
    return list(itertools.islice((i for i in ids if pick(split_bucket(i, "win-back", "split"))), n))


def lapsed(cid, offset):
    return {"type": "segment.entered", "contact_id": cid, "occurred_at": at(offset),
            "data": {"segment_id": "lapsed-customers"}}


def test_win_back_split_treatment_and_holdout():
    (t1, t2), (h,) = _ids_for("treatment", 2), _ids_for("holdout", 1)
    events = [created(x, timezone="Europe/Berlin") for x in (t1, t2, h)]
    events += [lapsed(x, HOUR) for x in (t1, t2, h)]
    events += [order(t2, 3 * DAY)]
    sim = simulate(library_journey("win-back"), events)
    treated, bought, held = sim.contacts[t1], sim.contacts[t2], sim.contacts[h]
    assert held.path == ["start", "split", "holdout_end"] and held.messages == []
    assert treated.path == ["start", "split", "offer", "wait_order", "sms", "done"]
    assert templates(treated) == ["win-back-offer", "win-back-sms"]
    assert [m["channel"] for m in treated.messages] == ["email", "sms"]
    assert treated.messages[0]["offer"]["description"] == "15% off your next order"
    assert bought.path[-1] == "won_back" and templates(bought) == ["win-back-offer"]


def test_win_back_respects_quiet_hours_in_the_contacts_timezone():
    (t,) = _ids_for("treatment", 1)
    # 21:30 UTC is 22:30 in Berlin (winter, UTC+1): quiet until 08:00 Berlin = 07:00 UTC
    events = [created(t, timezone="Europe/Berlin"), lapsed(t, 12 * HOUR + 30 * 60)]
    c = simulate(library_journey("win-back"), events).contacts[t]
    assert c.messages[0]["at"] == "2026-01-06T07:00:00Z"


def test_win_back_reentry_only_after_90_days():
    (t,) = _ids_for("holdout", 1)
    events = [created(t), lapsed(t, 0), lapsed(t, 30 * DAY), lapsed(t, 100 * DAY)]
    c = simulate(library_journey("win-back"), events).contacts[t]
    assert c.path == ["start", "split", "holdout_end"] * 2
    assert c.state["entries"] == 2


# -- clock handling -----------------------------------------------------------------------

def test_untimed_events_are_spaced_one_second_from_start():
    events = [{"type": "contact.created", "contact_id": "u", "data": {"email": "u@example.com"}},
              {"type": "cart.updated", "contact_id": "u", "data": {"cart_id": "k"}}]
    sim = simulate(library_journey("abandoned-cart"), events, start=T0)
    assert sim.contacts["u"].state["entered_at"] == T0 + 1
    assert sim.contacts["u"].messages[0]["at"] == at(1 + 4 * HOUR)


def test_advance_lines_fire_due_timers_and_until_idle_false_stops_there():
    script = load_events_jsonl("\n".join(json.dumps(x) for x in [
        {"type": "contact.created", "contact_id": "u", "data": {"email": "u@example.com"}},
        {"type": "cart.updated", "contact_id": "u", "data": {"cart_id": "k"}},
        {"advance": "PT4H"},
    ]))
    sim = simulate(library_journey("abandoned-cart"), script, start=T0, until_idle=False)
    c = sim.contacts["u"]
    assert templates(c) == ["cart-reminder"]
    assert c.state["state"] == "active" and c.state["node"] == "wait_day"
    assert sim.ended_at == at(1 + 4 * HOUR)
    assert sim.summary()["still_active"] == 1


def test_untimed_event_after_an_advance_happens_after_it():
    events = [{"type": "contact.created", "contact_id": "u", "data": {"email": "u@example.com"}},
              {"type": "cart.updated", "contact_id": "u", "data": {"cart_id": "k"}},
              {"advance": "PT5H"},
              {"type": "order.placed", "contact_id": "u", "data": {"order_id": "o", "cart_id": "k"}}]
    c = simulate(library_journey("abandoned-cart"), events, start=T0).contacts["u"]
    assert templates(c) == ["cart-reminder"]
    assert c.exits[0] == {"reason": "completed", "node_id": "bought", "at": at(2 + 5 * HOUR)}


def test_simulation_is_deterministic_and_json_ready():
    events = [created("a"), cart("a", "k", 5), created("b"), cart("b", "k2", 7)]
    first = simulate(library_journey("abandoned-cart"), events).as_dict()
    assert first == simulate(library_journey("abandoned-cart"), events).as_dict()
    json.dumps(first)


def test_idle_phase_is_bounded(monkeypatch):
    forever = {
        "id": "forever", "nodes": [
            {"id": "s", "type": "entry", "data": {"trigger": {"event": "go"}}},
            {"id": "w", "type": "wait", "data": {"mode": "duration", "duration": "PT1H"}},
            {"id": "m", "type": "send", "data": {"channel": "email", "template": "t"}}],
        "edges": [{"id": "e1", "source": "s", "target": "w"}, {"id": "e2", "source": "w", "target": "m"},
                  {"id": "e3", "source": "m", "target": "w"}]}
    monkeypatch.setattr(simulate_module, "MAX_IDLE_TICKS", 50)
    sim = simulate(forever, [created("x"), {"type": "go", "contact_id": "x", "occurred_at": at(1)}])
    assert [p["code"] for p in sim.problems] == ["SIM-003"]
    assert len(sim.contacts["x"].messages) == 50


# -- invalid input -----------------------------------------------------------------------

def test_an_invalid_journey_returns_problems_and_simulates_nothing():
    broken = library_journey("abandoned-cart")
    broken["edges"] = [e for e in broken["edges"] if e["id"] != "e3"]  # wait_order timeout unconnected
    sim = simulate(broken, [created("c1"), cart("c1", "k1", 10)])
    assert sim.contacts == {}
    assert {"code": "SB-007", "node": "wait_order"}.items() <= sim.problems[0].items()


def test_a_journey_that_does_not_parse_is_a_problem_too():
    sim = simulate({"id": "no spaces allowed", "nodes": []}, [])
    assert sim.contacts == {} and sim.problems[0]["code"] == "SIM-001"
    assert "id" in sim.problems[0]["message"]
    assert simulate([], []).problems[0]["code"] == "SIM-001"


def test_a_draft_without_version_or_status_runs_as_version_0():
    draft = library_journey("abandoned-cart") | {"version": None, "status": None}
    sim = simulate(draft, [created("d"), cart("d", "k", 0)])
    assert sim.contacts["d"].state["version"] == 0 and sim.problems == []


def test_warnings_do_not_stop_the_simulation():
    graph = library_journey("qr-offer-broadcast")
    graph["nodes"].append({"id": "orphan", "type": "end", "data": {}})
    sim = simulate(graph, [created("q"), {"type": "broadcast.requested", "contact_id": "q", "occurred_at": at(1)}])
    assert [p["code"] for p in sim.problems] == ["SB-016"]
    assert templates(sim.contacts["q"]) == ["qr-offer"]


def test_unusable_events_are_skipped_with_a_warning():
    events = [created("a"), {"type": "cart.updated"}, {"type": "x", "contact_id": "a", "occurred_at": "yesterday"},
              "not an event", {"advance": "soon"}, cart("a", "k", 5)]
    sim = simulate(library_journey("abandoned-cart"), events)
    assert [p["message"] for p in sim.problems] == [
        "event 2 skipped: needs 'type' and 'contact_id'",
        "event 3 skipped: occurred_at 'yesterday' is not an ISO-8601 time",
        "event 4 skipped: is not a JSON object",
        "event 5 skipped: advance 'soon' is not an ISO-8601 duration, e.g. 'PT4H' or 'P2D'"]
    assert templates(sim.contacts["a"]) == ["cart-reminder", "cart-last-call"]


# -- JSONL -----------------------------------------------------------------------------

def test_load_events_jsonl_fills_nothing_but_validates_with_defaults():
    text = '\n{"type": "cart.updated", "contact_id": "c", "data": {"cart_id": "k"}}\n\n{"advance": "P1D"}\n'
    assert load_events_jsonl(text) == [{"type": "cart.updated", "contact_id": "c", "data": {"cart_id": "k"}},
                                       {"advance": "P1D"}]


@pytest.mark.parametrize("lines, line, words", [
    (['{"type": "a", "contact_id": "c"}', '{"type": "a", "contact_id": "c"', "{}"], 2, "invalid JSON"),
    (['{"type": "a", "contact_id": "c"}', "[1, 2]"], 2, "JSON object"),
    (['{"type": "order.placed", "contact_id": "c", "data": {}}'], 1, "data.order_id"),
    (["", '{"type": "a"}'], 2, "contact_id"),
    (['{"type": "a", "contact_id": "c"}'] * 3 + ['{"type": "a", "contact_id": "c", "colour": 1}'], 4, "colour"),
    (['{"type": "a", "contact_id": "c", "occurred_at": "2026-01-01T00:00:00"}'], 1, "occurred_at"),
    (['{"advance": "4 hours"}'], 1, "ISO-8601"),
    (['{"advance": "PT4H", "type": "a"}'], 1, "only 'advance'"),
    (['{"advance": ["PT4H"]}'], 1, "advance"),
])
def test_load_events_jsonl_names_the_bad_line(lines, line, words):
    with pytest.raises(ValueError, match=rf"^line {line}: .*{words}"):
        load_events_jsonl("\n".join(lines))


# -- with the demo generator ----------------------------------------------------------------

def test_demo_data_runs_through_the_abandoned_cart_journey():
    contacts = demo_contacts(40, seed=5)
    events, clock = list(contacts), parse_time(contacts[-1]["occurred_at"])
    for delay, event in itertools.islice(demo_stream([c["contact_id"] for c in contacts], seed=5), 600):
        clock += delay * 60  # slow the demo down: a minute per second, so waits matter
        events.append(event | {"occurred_at": iso_from_epoch(clock)})
    sim = simulate(library_journey("abandoned-cart"), events)
    summary = sim.summary()
    assert sim.problems == []
    assert summary["contacts"] == 40 and summary["entered"] > 10
    assert summary["messages"].get("cart-reminder", 0) > 0
    assert summary["nodes"].get("bought", 0) > 0
    assert summary["still_active"] == 0
