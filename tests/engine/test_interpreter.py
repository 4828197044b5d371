"""The pure interpreter (engine/interpreter.py), example by example: every node type,
every journey setting, every way out of a journey."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime

import pytest
from journey_sim import T0, Sim, entry, journey, node

from engine.interpreter import (
    STEP_CAP,
    Emit,
    Send,
    matches,
    message_id,
    render_value,
    resume,
    split_bucket,
    step,
)
from engine.plan import compile_plan
from journeys.contact import apply_event, new_contact
from journeys.events import iso_from_epoch
from journeys.validation import validate_journey

HOUR, DAY = 3600.0, 86400.0
_ids = itertools.count()


def utc(*args) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


def person(cid: str = "c1", **attrs) -> dict:
    attrs = {"email": f"{cid}@example.com", **attrs}
    tags = attrs.pop("tags", None)
    state = apply_event(new_contact(cid), {"type": "contact.created", "occurred_at": T0 - DAY, "data": attrs})
    if tags:
        state = apply_event(state, {"type": "contact.tagged", "occurred_at": T0 - DAY, "data": {"tags": tags}})
    return state


def ev(type: str, at: float = T0, **data) -> dict:
    return {"id": f"x{next(_ids)}", "type": type, "workspace": "default", "contact_id": "c1",
            "occurred_at": iso_from_epoch(at), "source": "api", "data": data}


def kinds(effects) -> list[str]:
    out = []
    for e in effects:
        if isinstance(e, Send):
            out.append(f"send:{e.node_id}")
        elif e.type == "journey.node_entered":
            out.append(f"node:{e.data['node_id']}")
        elif e.type == "journey.exited":
            out.append(f"exited:{e.data['reason']}")
        elif e.type == "message.suppressed":
            out.append(f"suppressed:{e.data['reason']}")
        else:
            out.append(e.type)
    return out


def wait_duration(id="w", duration="PT1H"):
    return node(id, "wait", mode="duration", duration=duration)


def send(id="s", channel="email", template="t1", **data):
    return node(id, "send", channel=channel, template=template, **data)


def end(id="end"):
    return node(id, "end")


def simple(*middle, trigger="cart.updated", **settings):
    """entry -> middle... -> end, each with its default handle."""
    nodes = [entry(trigger), *middle, end()]
    ids = [n["id"] for n in nodes]
    return journey(nodes, list(zip(ids, ids[1:])), **settings)


# -- entry ------------------------------------------------------------------------------

def test_a_trigger_event_enters_and_runs_to_the_first_wait():
    plan = compile_plan(simple(wait_duration()))
    trigger = ev("cart.updated", cart_id="k1")
    inst, effects = step(None, trigger, plan, T0, person())
    assert kinds(effects) == ["journey.entered", "node:start", "node:w"]
    assert [e.data.get("from_node") for e in effects[1:]] == [None, "start"]
    assert all(e.data["journey_id"] == "j" and e.data["version"] == 1 for e in effects)
    assert inst["state"] == "active" and inst["node"] == "w"
    assert inst["journey_id"] == "j" and inst["version"] == 1
    assert inst["entries"] == 1 and inst["visit"] == 2
    assert inst["wake_at"] == T0 + HOUR and inst["awaiting"] is None
    assert inst["entered_at"] == T0 and inst["exited_at"] is None
    assert inst["trigger"] == {"id": trigger["id"], "type": "cart.updated", "occurred_at": trigger["occurred_at"],
                               "data": {"cart_id": "k1"}}


def test_other_events_do_not_enter():
    plan = compile_plan(simple(wait_duration()))
    assert step(None, ev("order.placed", order_id="o"), plan, T0, person()) == (None, [])


def test_emit_keys_are_deterministic_and_distinct():
    plan = compile_plan(simple(wait_duration()))
    _, effects = step(None, ev("cart.updated"), plan, T0, person())
    assert [e.key for e in effects] == ["j:entered:1", "j:node:1", "j:node:2"]


def test_entry_filter_on_the_contact():
    plan = compile_plan(journey([entry("cart.updated", filter={"attr": "country", "value": "DE"}), end()],
                                [("start", "end")]))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person(country="de"))
    assert inst is not None and inst["exit_reason"] == "completed"
    assert step(None, ev("cart.updated"), plan, T0, person(country="FR")) == (None, [])
    assert step(None, ev("cart.updated"), plan, T0, person()) == (None, [])


def test_entry_filter_with_a_property_of_the_trigger_event():
    rule = {"all": [{"property": "data.total", "op": "gt", "value": 50}, {"not": {"tag": "staff"}}]}
    plan = compile_plan(journey([entry("cart.updated", filter=rule), end()], [("start", "end")]))
    assert step(None, ev("cart.updated", total="59.90"), plan, T0, person())[0] is not None
    assert step(None, ev("cart.updated", total="40.00"), plan, T0, person()) == (None, [])
    assert step(None, ev("cart.updated"), plan, T0, person()) == (None, [])
    assert step(None, ev("cart.updated", total=80), plan, T0, person(tags=["staff"])) == (None, [])


def test_segment_entered_trigger_for_one_segment():
    plan = compile_plan(journey([entry("segment.entered", trigger={"segment": "seg_vip"}), wait_duration(), end()],
                                [("start", "w"), ("w", "end")]))
    inst, effects = step(None, ev("segment.entered", segment_id="seg_vip"), plan, T0, person())
    assert inst["node"] == "w" and kinds(effects)[0] == "journey.entered"
    assert step(None, ev("segment.entered", segment_id="seg_other"), plan, T0, person()) == (None, [])
    assert step(None, ev("segment.exited", segment_id="seg_vip"), plan, T0, person()) == (None, [])


# -- wait -----------------------------------------------------------------------------

def test_wait_duration_fires_at_its_time_and_not_before():
    plan = compile_plan(simple(wait_duration(duration="P2D")))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert inst["wake_at"] == T0 + 2 * DAY
    assert step(inst, None, plan, T0 + 2 * DAY - 1, person()) == (inst, [])
    assert step(inst, ev("cart.updated"), plan, T0 + DAY, person()) == (inst, [])  # events do not cut it short
    done, effects = step(inst, None, plan, T0 + 2 * DAY, person())
    assert kinds(effects) == ["node:end", "exited:completed"]
    assert done["state"] == "done" and done["exit_reason"] == "completed" and done["node"] == "end"
    assert done["exited_at"] == T0 + 2 * DAY and done["wake_at"] is None


def test_a_late_timer_fires_at_once():
    plan = compile_plan(simple(wait_duration()))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    done, effects = step(inst, None, plan, T0 + 30 * DAY, person())
    assert done["exit_reason"] == "completed" and done["exited_at"] == T0 + 30 * DAY


def test_wait_until_a_local_time_on_weekdays_across_dst():
    # Friday 27 March 2026 10:00 UTC; Berlin switches to summer time on Sunday 29 March
    plan = compile_plan(simple(node("w", "wait", mode="until", time="09:00",
                                    weekdays=["mon", "tue", "wed", "thu", "fri"])))
    now = utc(2026, 3, 27, 10, 0)
    berliner = person(timezone="Europe/Berlin")
    inst, _ = step(None, ev("cart.updated", at=now), plan, now, berliner)
    assert inst["wake_at"] == utc(2026, 3, 30, 7, 0)  # Monday 09:00 CEST
    assert step(inst, None, plan, utc(2026, 3, 30, 6, 59), berliner) == (inst, [])
    done, effects = step(inst, None, plan, utc(2026, 3, 30, 7, 0), berliner)
    assert kinds(effects) == ["node:end", "exited:completed"]


def test_wait_until_in_the_contacts_timezone_or_utc():
    plan = compile_plan(simple(node("w", "wait", mode="until", time="09:00")))
    now = utc(2026, 11, 20, 6, 0)  # Friday, 07:00 in Berlin, 01:00 in New York
    assert step(None, ev("cart.updated"), plan, now, person())[0]["wake_at"] == utc(2026, 11, 20, 9)
    assert step(None, ev("cart.updated"), plan, now, person(timezone="Europe/Berlin"))[0]["wake_at"] \
        == utc(2026, 11, 20, 8)
    assert step(None, ev("cart.updated"), plan, now, person(timezone="America/New_York"))[0]["wake_at"] \
        == utc(2026, 11, 20, 14)
    assert step(None, ev("cart.updated"), plan, now, person(timezone="Nowhere/Else"))[0]["wake_at"] \
        == utc(2026, 11, 20, 9)


def cart_journey(**settings):
    return journey([
        entry("cart.updated"),
        node("w", "wait", mode="event", event="order.placed", match={"data.cart_id": "{{ trigger.data.cart_id }}"},
             timeout="PT4H"),
        end("bought"),
        send("remind", template="cart-reminder"),
        end("done"),
    ], [("start", "w"), ("w", "event", "bought"), ("w", "timeout", "remind"), ("remind", "done")], **settings)


def test_wait_for_event_renders_the_match_from_the_trigger():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    assert inst["node"] == "w"
    assert inst["awaiting"] == {"event": "order.placed", "match": {"data.cart_id": "k1"}}
    assert inst["wake_at"] == T0 + 4 * HOUR


def test_wait_for_event_ignores_orders_of_other_carts():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    for other in (ev("order.placed", order_id="o", cart_id="k2"), ev("order.placed", order_id="o"),
                  ev("cart.updated", cart_id="k1")):
        assert step(inst, other, plan, T0 + HOUR, person()) == (inst, [])


def test_wait_for_event_takes_the_event_handle_on_a_matching_order():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    order = ev("order.placed", order_id="o1", cart_id="k1", amount="20")
    done, effects = step(inst, order, plan, T0 + HOUR, person())
    assert kinds(effects) == ["node:bought", "exited:completed"]
    assert effects[0].data["from_node"] == "w"
    assert done["exit_reason"] == "completed" and done["node"] == "bought"
    assert done["last_event"]["id"] == order["id"] and done["awaiting"] is None


def test_match_compares_as_text():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated", cart_id=7), plan, T0, person())
    done, _ = step(inst, ev("order.placed", order_id="o1", cart_id="7"), plan, T0 + HOUR, person())
    assert done["node"] == "bought"


def test_a_trigger_without_the_matched_field_matches_nothing():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert inst["awaiting"]["match"] == {"data.cart_id": None}
    assert step(inst, ev("order.placed", order_id="o1"), plan, T0 + HOUR, person()) == (inst, [])
    assert step(inst, ev("order.placed", order_id="o1", cart_id="None"), plan, T0 + HOUR, person()) == (inst, [])


def test_wait_for_event_timeout_path():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    assert step(inst, None, plan, T0 + 4 * HOUR - 1, person()) == (inst, [])
    done, effects = step(inst, None, plan, T0 + 4 * HOUR, person())
    assert kinds(effects) == ["node:remind", "send:remind", "node:done", "exited:completed"]
    assert effects[0].data["from_node"] == "w"
    # an order after the timeout no longer moves anything
    assert step(done, ev("order.placed", order_id="o", cart_id="k1"), plan, T0 + 5 * HOUR, person()) == (done, [])


def test_render_value_and_matches():
    scope = {"trigger": {"data": {"cart_id": "k1"}}, "contact": {"email": "a@x.io"}}
    assert render_value("{{ trigger.data.cart_id }}", scope) == "k1"
    assert render_value("{{contact.email}}", scope) == "a@x.io"
    assert render_value("{{ trigger.data.missing }}", scope) is None
    assert render_value("cart {{ trigger.data.cart_id }}", scope) == "cart {{ trigger.data.cart_id }}"
    assert render_value(5, scope) == 5
    assert matches(None, {"data": {}}) and matches({}, {"data": {}})
    assert matches({"data.cart_id": "k1", "type": "order.placed"}, {"type": "order.placed", "data": {"cart_id": "k1"}})
    assert not matches({"data.cart_id": "k1"}, {"type": "order.placed", "data": {"cart_id": "K1"}})


def test_wait_match_can_use_a_literal_and_the_contact():
    plan = compile_plan(journey([
        entry("cart.updated"),
        node("w", "wait", mode="event", event="message.clicked",
             match={"data.url": "https://shop.example/cart", "data.email": "{{ contact.email }}"}, timeout="P1D"),
        end("yes"), end("no"),
    ], [("start", "w"), ("w", "event", "yes"), ("w", "timeout", "no")]))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert inst["awaiting"]["match"] == {"data.url": "https://shop.example/cart", "data.email": "c1@example.com"}
    click = ev("message.clicked", url="https://shop.example/cart", email="c1@example.com")
    assert step(inst, click, plan, T0 + 1, person())[0]["node"] == "yes"


# -- branch ---------------------------------------------------------------------------

def condition_journey(**data):
    data = data or {"cases": [{"handle": "vip", "rule": {"tag": "vip"}},
                              {"handle": "big", "rule": {"property": "data.total", "op": "gte", "value": 100}}],
                    "default": "else"}
    ends = [end(h) for h in ("vip", "big", "else", "other")]
    return journey([entry("cart.updated"), node("b", "branch", mode="condition", **data), *ends],
                   [("start", "b"), ("b", "vip", "vip"), ("b", "big", "big"), ("b", "else", "else"),
                    ("b", "other", "other")])


@pytest.mark.parametrize(("tags", "total", "path"), [
    (["vip"], 10, "vip"),
    ([], 150, "big"),        # a case on the trigger event
    (["vip"], 150, "vip"),   # cases are tried in order
    ([], 10, "else"),        # default
])
def test_condition_branch_cases_and_default(tags, total, path):
    plan = compile_plan(condition_journey())
    done, effects = step(None, ev("cart.updated", total=total), plan, T0, person(tags=tags))
    assert kinds(effects) == ["journey.entered", "node:start", "node:b", f"node:{path}", "exited:completed"]
    assert done["node"] == path


def test_condition_branch_default_handle_name():
    plan = compile_plan(condition_journey(cases=[{"handle": "vip", "rule": {"tag": "vip"}}], default="other"))
    assert step(None, ev("cart.updated"), plan, T0, person())[0]["node"] == "other"
    plan = compile_plan(condition_journey(cases=[{"handle": "vip", "rule": {"tag": "vip"}}]))
    assert step(None, ev("cart.updated"), plan, T0, person())[0]["node"] == "else"


def test_a_branch_sees_the_contact_as_it_is_when_it_gets_there():
    plan = compile_plan(journey([entry("cart.updated"), wait_duration(),
                                 node("b", "branch", mode="condition", cases=[{"handle": "vip", "rule": {"tag": "vip"}}]),
                                 end("vip"), end("else")],
                                [("start", "w"), ("w", "b"), ("b", "vip", "vip"), ("b", "else", "else")]))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert step(inst, None, plan, T0 + HOUR, person(tags=["vip"]))[0]["node"] == "vip"


def split_journey(weights=(50, 50), handles=("A", "B")):
    variants = [{"handle": h, "weight": w} for h, w in zip(handles, weights)]
    return journey([entry("cart.updated"), node("sp", "branch", mode="split", variants=variants),
                    *[end(h) for h in handles]],
                   [("start", "sp"), *[("sp", h, h) for h in handles]])


def test_split_follows_the_stable_bucket():
    plan = compile_plan(split_journey())
    seen = set()
    for i in range(40):
        cid = f"c{i}"
        done, _ = step(None, ev("cart.updated"), plan, T0, person(cid))
        expected = "A" if split_bucket(cid, "j", "sp") < 0.5 else "B"
        assert done["node"] == expected
        again, _ = step(None, ev("cart.updated"), plan, T0 + DAY + 1.5, person(cid))
        assert again["node"] == expected  # same contact, same path, any time
        seen.add(expected)
    assert seen == {"A", "B"}


def test_split_bucket_depends_on_contact_journey_and_node():
    assert split_bucket("c1", "j", "sp") == split_bucket("c1", "j", "sp")
    assert 0 <= split_bucket("c1", "j", "sp") < 1
    assert len({split_bucket("c1", "j", "sp"), split_bucket("c2", "j", "sp"), split_bucket("c1", "k", "sp"),
                split_bucket("c1", "j", "sp2")}) == 4


def test_split_never_picks_a_zero_weight_variant():
    plan = compile_plan(split_journey(weights=(0, 1, 0), handles=("A", "B", "C")))
    for i in range(50):
        assert step(None, ev("cart.updated"), plan, T0, person(f"c{i}"))[0]["node"] == "B"


# -- send -----------------------------------------------------------------------------

def test_send_emits_a_send_command_with_a_deterministic_message_id():
    offer = {"kind": "qr", "expires_in": "P14D", "max_uses": 1}
    plan = compile_plan(simple(send(template="welcome", offer=offer)))
    trigger = ev("cart.updated", cart_id="k1")
    inst, effects = step(None, trigger, plan, T0, person())
    [command] = [e for e in effects if isinstance(e, Send)]
    assert kinds(effects) == ["journey.entered", "node:start", "node:s", "send:s", "node:end", "exited:completed"]
    assert command.message_id == message_id("default", "j", 1, "c1", "s", 2)
    assert command.message_id.startswith("m_")
    assert (command.channel, command.template, command.journey_id, command.version, command.node_id) == \
        ("email", "welcome", "j", 1, "s")
    assert command.offer == offer
    assert command.context["trigger"]["data"] == {"cart_id": "k1"}
    assert command.context["event"] == command.context["trigger"]
    assert command.context["journey"] == {"id": "j", "version": 1, "name": "j"}
    _, again = step(None, trigger, plan, T0, person())
    assert [e for e in again if isinstance(e, Send)] == [command]  # the same inputs, the same command


def test_message_id_changes_with_each_part():
    base = ("default", "j", 1, "c1", "s", 2)
    ids = {message_id(*base)}
    for i, other in enumerate(("acme", "k", 2, "c2", "s2", 3)):
        ids.add(message_id(*base[:i], other, *base[i + 1:]))
    assert len(ids) == 7


def test_send_after_an_event_wait_carries_that_event():
    plan = compile_plan(journey([
        entry("cart.updated"), node("w", "wait", mode="event", event="order.placed", timeout="P1D"),
        send("thanks"), end("done"), end("late"),
    ], [("start", "w"), ("w", "event", "thanks"), ("thanks", "done"), ("w", "timeout", "late")]))
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    _, effects = step(inst, ev("order.placed", order_id="o7"), plan, T0 + 1, person())
    [command] = [e for e in effects if isinstance(e, Send)]
    assert command.context["event"]["data"] == {"order_id": "o7"}
    assert command.context["trigger"]["data"] == {"cart_id": "k1"}


@pytest.mark.parametrize(("channel", "contact", "reason"), [
    ("email", lambda: apply_event(person(), {"type": "contact.unsubscribed", "data": {"channel": "email"}}),
     "unsubscribed"),
    ("email", lambda: apply_event(person(), {"type": "contact.unsubscribed", "data": {}}), "unsubscribed"),
    ("email", lambda: apply_event(person(), {"type": "message.bounced", "data": {"bounce_type": "hard"}}),
     "suppressed"),
    ("email", lambda: apply_event(person(), {"type": "message.complained", "data": {}}), "suppressed"),
    ("sms", lambda: person(), "no_address"),
    ("whatsapp", lambda: person(), "no_address"),
    ("email", lambda: new_contact("c1"), "no_address"),
    # unsubscribed wins over the other reasons
    ("sms", lambda: apply_event(person(), {"type": "contact.unsubscribed", "data": {"channel": "sms"}}),
     "unsubscribed"),
])
def test_suppressed_sends(channel, contact, reason):
    plan = compile_plan(simple(send(channel=channel)))
    done, effects = step(None, ev("cart.updated"), plan, T0, contact())
    assert kinds(effects) == ["journey.entered", "node:start", "node:s", f"suppressed:{reason}", "node:end",
                              "exited:completed"]
    suppressed = effects[3]
    assert suppressed.data == {"journey_id": "j", "version": 1, "message_id": message_id("default", "j", 1, "c1", "s", 2),
                               "node_id": "s", "channel": channel, "reason": reason}
    assert suppressed.key == f"j:suppressed:{suppressed.data['message_id']}"
    assert done["exit_reason"] == "completed"


def test_a_soft_bounce_does_not_suppress():
    plan = compile_plan(simple(send()))
    contact = apply_event(person(), {"type": "message.bounced", "data": {"bounce_type": "soft"}})
    assert "send:s" in kinds(step(None, ev("cart.updated"), plan, T0, contact)[1])


def test_sms_goes_to_the_phone():
    plan = compile_plan(simple(send(channel="sms")))
    assert "send:s" in kinds(step(None, ev("cart.updated"), plan, T0, person(phone="+4915100000"))[1])


def test_frequency_cap():
    graph = simple(send("s1"), wait_duration(duration="PT1H"), send("s2"), wait_duration("w2", duration="P1D"),
                   send("s3"), frequency_cap={"max": 1, "per": "P1D"})
    plan = compile_plan(graph)
    inst, effects = step(None, ev("cart.updated"), plan, T0, person())
    assert "send:s1" in kinds(effects)
    inst, effects = step(inst, None, plan, T0 + HOUR, person())
    assert kinds(effects) == ["node:s2", "suppressed:frequency_cap", "node:w2"]
    inst, effects = step(inst, None, plan, T0 + HOUR + DAY, person())
    assert kinds(effects) == ["node:s3", "send:s3", "node:end", "exited:completed"]


def test_frequency_cap_counts_across_reentries():
    plan = compile_plan(simple(send(), reentry="always", frequency_cap={"max": 2, "per": "P1D"}))
    inst, reasons = None, []
    for i in range(4):
        inst, effects = step(inst, ev("cart.updated"), plan, T0 + i * HOUR, person())
        reasons.append(kinds(effects)[3])
    assert reasons == ["send:s", "send:s", "suppressed:frequency_cap", "suppressed:frequency_cap"]
    inst, effects = step(inst, ev("cart.updated"), plan, T0 + DAY + 1, person())
    assert "send:s" in kinds(effects)  # the first of the day has aged out


# -- quiet hours ----------------------------------------------------------------------

def test_quiet_hours_defer_the_send_to_the_end_of_the_window():
    plan = compile_plan(simple(send(), quiet_hours={"start": "21:00", "end": "08:00"}))
    berliner = person(timezone="Europe/Berlin")
    now = utc(2026, 11, 20, 21, 30)  # 22:30 in Berlin
    inst, effects = step(None, ev("cart.updated", at=now), plan, now, berliner)
    assert kinds(effects) == ["journey.entered", "node:start", "node:s"]  # no send, no suppression
    assert inst["state"] == "active" and inst["node"] == "s" and inst["pending"] is True
    assert inst["wake_at"] == utc(2026, 11, 21, 7, 0)  # 08:00 in Berlin
    assert step(inst, None, plan, utc(2026, 11, 21, 6, 59), berliner) == (inst, [])
    done, effects = step(inst, None, plan, utc(2026, 11, 21, 7, 0), berliner)
    assert kinds(effects) == ["send:s", "node:end", "exited:completed"]
    assert effects[0].message_id == message_id("default", "j", 1, "c1", "s", 2)  # the visit of the first attempt
    assert done["pending"] is False


def test_outside_quiet_hours_the_send_goes_at_once():
    plan = compile_plan(simple(send(), quiet_hours={"start": "21:00", "end": "08:00"}))
    now = utc(2026, 11, 20, 21, 30)  # 21:30 UTC but 16:30 in New York
    _, effects = step(None, ev("cart.updated", at=now), plan, now, person(timezone="America/New_York"))
    assert "send:s" in kinds(effects)


def test_a_deferred_send_checks_suppression_again_when_it_fires():
    plan = compile_plan(simple(send(), quiet_hours={"start": "21:00", "end": "08:00"}))
    now = utc(2026, 11, 20, 22, 0)
    inst, _ = step(None, ev("cart.updated", at=now), plan, now, person())
    gone = apply_event(person(), {"type": "contact.unsubscribed", "data": {}})
    inst, effects = step(inst, ev("contact.unsubscribed", at=now + 60), plan, now + 60, gone)
    assert effects == [] and inst["pending"]
    _, effects = step(inst, None, plan, utc(2026, 11, 21, 8, 0), gone)
    assert kinds(effects) == ["suppressed:unsubscribed", "node:end", "exited:completed"]


# -- paused journeys ------------------------------------------------------------------

def test_a_paused_journey_takes_no_new_entries():
    plan = compile_plan(simple(wait_duration()))
    assert step(None, ev("cart.updated"), plan, T0, person(), paused=True) == (None, [])


def test_a_paused_journey_holds_instances_before_a_send_and_resume_releases_them():
    plan = compile_plan(simple(wait_duration(), send()))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    held, effects = step(inst, None, plan, T0 + HOUR, person(), paused=True)
    assert kinds(effects) == ["node:s"]  # it moves up to the send, and no further
    assert held["node"] == "s" and held["held"] is True and held["pending"] is True and held["wake_at"] is None
    assert step(held, None, plan, T0 + 10 * DAY, person(), paused=True) == (held, [])  # no timer while held
    assert step(held, None, plan, T0 + 10 * DAY, person()) == (held, [])  # nor after, until released
    released = resume(held, T0 + 2 * DAY)
    assert released["held"] is False and released["wake_at"] == T0 + 2 * DAY and released["pending"] is True
    done, effects = step(released, None, plan, T0 + 2 * DAY, person())
    assert kinds(effects) == ["send:s", "node:end", "exited:completed"]
    assert effects[0].message_id == message_id("default", "j", 1, "c1", "s", 3)


def test_resume_leaves_other_instances_alone():
    plan = compile_plan(simple(wait_duration()))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert resume(inst, T0 + 5) is inst
    done = {**inst, "state": "done", "held": True}
    assert resume(done, T0 + 5) is done


def test_a_released_instance_paused_again_is_held_again():
    plan = compile_plan(simple(wait_duration(), send()))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    held, _ = step(inst, None, plan, T0 + HOUR, person(), paused=True)
    again, effects = step(resume(held, T0 + 2 * HOUR), None, plan, T0 + 2 * HOUR, person(), paused=True)
    assert effects == [] and again["held"] is True and again["wake_at"] is None


def test_events_still_reach_held_instances():
    plan = compile_plan(simple(wait_duration(), send(), goal={"event": "order.placed"}))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    held, _ = step(inst, None, plan, T0 + HOUR, person(), paused=True)
    done, effects = step(held, ev("order.placed", order_id="o"), plan, T0 + 2 * HOUR, person(), paused=True)
    assert kinds(effects) == ["journey.goal_reached", "exited:goal"]
    assert done["held"] is False and done["pending"] is False


# -- reentry --------------------------------------------------------------------------

def test_reentry_never():
    plan = compile_plan(simple())
    done, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert done["state"] == "done"
    assert step(done, ev("cart.updated"), plan, T0 + 365 * DAY, person()) == (done, [])


def test_reentry_always_continues_the_visit_count():
    plan = compile_plan(simple(send(), reentry="always"))
    first, effects1 = step(None, ev("cart.updated"), plan, T0, person())
    second, effects2 = step(first, ev("cart.updated"), plan, T0 + 1, person())
    assert second["entries"] == 2 and second["state"] == "done"
    assert second["visit"] == 2 * first["visit"]
    assert effects2[0].key == "j:entered:2"
    sends = [e.message_id for e in effects1 + effects2 if isinstance(e, Send)]
    assert len(set(sends)) == 2
    keys1, keys2 = ({e.key for e in effects if isinstance(e, Emit)} for effects in (effects1, effects2))
    assert keys1.isdisjoint(keys2)


def test_no_reentry_while_active_even_with_always():
    plan = compile_plan(simple(wait_duration(), reentry="always"))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert step(inst, ev("cart.updated"), plan, T0 + 1, person()) == (inst, [])


def test_reentry_after_a_while():
    plan = compile_plan(simple(reentry="after", reentry_after="P30D"))
    done, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert step(done, ev("cart.updated"), plan, T0 + 30 * DAY - 1, person()) == (done, [])
    again, effects = step(done, ev("cart.updated"), plan, T0 + 30 * DAY, person())
    assert again["entries"] == 2 and kinds(effects)[0] == "journey.entered"


def test_reentry_after_counts_from_the_exit():
    plan = compile_plan(simple(wait_duration(duration="P10D"), reentry="after", reentry_after="P30D"))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    done, _ = step(inst, None, plan, T0 + 10 * DAY, person())
    assert step(done, ev("cart.updated"), plan, T0 + 39 * DAY, person()) == (done, [])
    assert step(done, ev("cart.updated"), plan, T0 + 40 * DAY, person())[0]["entries"] == 2


# -- ways out ---------------------------------------------------------------------------

def test_goal_exits_with_goal_reached():
    plan = compile_plan(simple(wait_duration(duration="P3D"), goal={"event": "order.placed"}))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    order = ev("order.placed", order_id="o1")
    done, effects = step(inst, order, plan, T0 + HOUR, person())
    assert kinds(effects) == ["journey.goal_reached", "exited:goal"]
    assert effects[0].data == {"journey_id": "j", "version": 1, "goal": "order.placed", "event_id": order["id"]}
    assert effects[1].data == {"journey_id": "j", "version": 1, "node_id": "w", "reason": "goal"}
    assert done["state"] == "done" and done["exit_reason"] == "goal" and done["wake_at"] is None


def test_goal_with_a_match():
    plan = compile_plan(simple(wait_duration(duration="P3D"),
                               goal={"event": "order.placed", "match": {"data.cart_id": "{{ trigger.data.cart_id }}"}}))
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    assert step(inst, ev("order.placed", order_id="o", cart_id="k2"), plan, T0 + 1, person()) == (inst, [])
    assert step(inst, ev("order.placed", order_id="o", cart_id="k1"), plan, T0 + 2, person())[0]["exit_reason"] == "goal"


def test_the_goal_wins_over_a_wait_for_the_same_event():
    plan = compile_plan(cart_journey(goal={"event": "order.placed"}))
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    done, effects = step(inst, ev("order.placed", order_id="o", cart_id="k1"), plan, T0 + 1, person())
    assert kinds(effects) == ["journey.goal_reached", "exited:goal"]


def test_the_goal_does_not_stop_entry():
    plan = compile_plan(simple(wait_duration(), goal={"event": "cart.updated"}))
    inst, effects = step(None, ev("cart.updated"), plan, T0, person())
    assert inst["state"] == "active"
    assert kinds(step(inst, ev("cart.updated"), plan, T0 + 1, person())[1]) == ["journey.goal_reached", "exited:goal"]


def test_exit_rule_on_the_contact():
    plan = compile_plan(simple(wait_duration(duration="P3D"), exit={"tag": "stop"}))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert step(inst, ev("page.viewed"), plan, T0 + 1, person()) == (inst, [])
    done, effects = step(inst, ev("contact.tagged", tag="stop"), plan, T0 + 2, person(tags=["stop"]))
    assert kinds(effects) == ["exited:exit_rule"]
    assert done["exit_reason"] == "exit_rule"


def test_exit_rule_on_the_event():
    plan = compile_plan(simple(wait_duration(duration="P3D"),
                               exit={"property": "type", "op": "eq", "value": "contact.unsubscribed"}))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    assert step(inst, ev("contact.unsubscribed"), plan, T0 + 1, person())[0]["exit_reason"] == "exit_rule"


def test_a_time_relative_exit_rule_is_checked_when_a_timer_fires():
    plan = compile_plan(simple(wait_duration(duration="PT3H"), exit={"not": {"event": "cart.updated", "within": "PT2H"}}))
    cart = ev("cart.updated")
    contact = apply_event(person(), cart)
    inst, _ = step(None, cart, plan, T0, contact)
    assert inst["state"] == "active"  # the cart is fresh: the rule does not hold at entry
    done, effects = step(inst, None, plan, T0 + 3 * 3600, contact)
    assert kinds(effects) == ["exited:exit_rule"] and done["node"] == "w"


def test_a_contact_the_exit_rule_would_take_out_does_not_enter():
    plan = compile_plan(simple(send(), exit={"tag": "do-not-contact"}))
    assert step(None, ev("cart.updated"), plan, T0, person(tags=["do-not-contact"])) == (None, [])
    assert step(None, ev("cart.updated"), plan, T0, person())[0]["exit_reason"] == "completed"


def test_contact_deleted_exits():
    plan = compile_plan(cart_journey())
    inst, _ = step(None, ev("cart.updated", cart_id="k1"), plan, T0, person())
    done, effects = step(inst, ev("contact.deleted"), plan, T0 + 1, new_contact("c1") | {"deleted": True})
    assert kinds(effects) == ["exited:contact_deleted"]
    assert done["exit_reason"] == "contact_deleted" and done["awaiting"] is None and done["wake_at"] is None


def test_step_cap_stops_a_zero_wait_loop():
    looping = journey([entry("cart.updated"),
                       node("b1", "branch", mode="condition", cases=[], default="else"),
                       node("b2", "branch", mode="condition", cases=[], default="else")],
                      [("start", "b1"), ("b1", "else", "b2"), ("b2", "else", "b1")])
    assert "SB-008" in {p.code for p in validate_journey(looping)}  # the validator would refuse it
    plan = compile_plan(looping)
    done, effects = step(None, ev("cart.updated"), plan, T0, person())
    entered = [e for e in effects if isinstance(e, Emit) and e.type == "journey.node_entered"]
    assert len(entered) == STEP_CAP
    assert kinds(effects)[-1] == "exited:step_cap"
    assert done["state"] == "done" and done["exit_reason"] == "step_cap"
    assert effects[-1].data["node_id"] == done["node"]


def test_step_cap_counts_per_input():
    # a loop with a wait on it is fine: each timer tick is a fresh input
    plan = compile_plan(journey([entry("cart.updated"), wait_duration(),
                                 node("b", "branch", mode="condition", cases=[], default="else")],
                                [("start", "w"), ("w", "b"), ("b", "else", "w")]))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    for i in range(1, STEP_CAP + 5):
        inst, effects = step(inst, None, plan, T0 + i * HOUR, person())
        assert kinds(effects) == ["node:b", "node:w"]
    assert inst["state"] == "active" and inst["visit"] == 2 + 2 * (STEP_CAP + 4)


def test_dead_end_after_a_node_without_a_way_out():
    plan = compile_plan(journey([entry("cart.updated")], []))
    done, effects = step(None, ev("cart.updated"), plan, T0, person())
    assert kinds(effects) == ["journey.entered", "node:start", "exited:dead_end"]
    assert done["exit_reason"] == "dead_end" and done["node"] == "start"


def test_dead_end_on_an_unconnected_timeout():
    plan = compile_plan(journey([entry("cart.updated"),
                                 node("w", "wait", mode="event", event="order.placed", timeout="PT1H"), end()],
                                [("start", "w"), ("w", "event", "end")]))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    done, effects = step(inst, None, plan, T0 + HOUR, person())
    assert kinds(effects) == ["exited:dead_end"] and done["node"] == "w"


def test_node_removed_when_the_plan_no_longer_has_the_node():
    plan = compile_plan(simple(wait_duration()))
    inst, _ = step(None, ev("cart.updated"), plan, T0, person())
    without = compile_plan(journey([entry("cart.updated"), end()], [("start", "end")]))
    done, effects = step(inst, None, without, T0 + HOUR, person())
    assert kinds(effects) == ["exited:node_removed"]
    assert done["exit_reason"] == "node_removed" and done["node"] == "w"


def test_the_end_node_completes():
    done, effects = step(None, ev("cart.updated"), compile_plan(simple()), T0, person())
    assert kinds(effects) == ["journey.entered", "node:start", "node:end", "exited:completed"]
    assert effects[-1].data == {"journey_id": "j", "version": 1, "node_id": "end", "reason": "completed"}
    assert effects[-1].key == f"j:exited:{done['visit']}"


def test_timer_ticks_without_an_active_instance_do_nothing():
    plan = compile_plan(simple(wait_duration()))
    assert step(None, None, plan, T0, person()) == (None, [])
    done, _ = step(None, ev("cart.updated"), compile_plan(simple()), T0, person())
    assert step(done, None, plan, T0 + DAY, person()) == (done, [])


def test_the_version_is_recorded_and_used():
    plan = compile_plan(simple(send(), version=7))
    inst, effects = step(None, ev("cart.updated"), plan, T0, person())
    assert inst["version"] == 7 and all(e.version == 7 for e in effects if isinstance(e, Send))
    assert all(e.data["version"] == 7 for e in effects if isinstance(e, Emit))


# -- purity -----------------------------------------------------------------------------

def test_step_does_not_modify_its_inputs():
    plan = compile_plan(cart_journey(frequency_cap={"max": 2, "per": "P1D"}))
    contact = person()
    trigger = ev("cart.updated", cart_id="k1")
    inst, _ = step(None, trigger, plan, T0, contact)
    frozen = copy.deepcopy((inst, contact, trigger, plan))
    step(inst, None, plan, T0 + 4 * HOUR, contact)
    step(inst, ev("order.placed", order_id="o", cart_id="k1"), plan, T0 + 1, contact)
    step(inst, ev("contact.deleted"), plan, T0 + 1, contact)
    assert (inst, contact, trigger, plan) == frozen


def test_the_sim_driver_agrees_with_direct_steps():
    sim = Sim.of(cart_journey())
    sim.event("contact.created", "c1", {"email": "c1@example.com"})
    sim.event("cart.updated", "c1", {"cart_id": "k1"})
    sim.advance(4 * HOUR)
    assert sim.path("c1") == ["start", "w", "remind", "done"]
    assert [s.template for s in sim.sends("c1")] == ["cart-reminder"]
