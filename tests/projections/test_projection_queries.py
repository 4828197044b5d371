"""Read helpers used by the API: contact search and pages, contact detail, journey stats, messages."""

from __future__ import annotations

import pytest

from projections import (
    contact_exists,
    find_contact_by_address,
    get_contact,
    journey_stats,
    list_contacts,
    list_messages,
)

PEOPLE = [
    ("c_001", "ann.lee@example.com", "+33600000001", "Ann", "Lee"),
    ("c_002", "bob@shop.io", "+33600000002", "Bob", "Martin"),
    ("c_003", "carla@example.com", None, "Carla", "Annecy"),
    ("c_004", "d_100%@odd.io", "+4470000004", "Dan", None),
    ("x_005", None, "+4470000005", None, None),
]


@pytest.fixture
def people(project, ev):
    events = []
    for cid, email, phone, first, last in PEOPLE:
        events.append(ev("contact.created", cid, email=email, phone=phone, first_name=first, last_name=last))
    events.append(ev("contact.created", "c_001", workspace="other", email="ann.lee@example.com"))
    events.append(ev("contact.tagged", "c_002", tags=["vip", "b2b"]))
    return project(*events)


def ids(page):
    return [item["contact_id"] for item in page["items"]]


@pytest.mark.parametrize("search, expected", [
    (None, ["c_001", "c_002", "c_003", "c_004", "x_005"]),
    ("ANN", ["c_001", "c_003"]),            # first name and last name, any case
    ("example.COM", ["c_001", "c_003"]),    # email substring
    ("+44", ["c_004", "x_005"]),            # phone prefix
    ("x_", ["x_005"]),                      # contact id prefix; '_' is not a wildcard
    ("100%", ["c_004"]),                    # '%' is not a wildcard
    ("bob martin", ["c_002"]),              # full name
    ("nobody", []),
])
def test_search(people, search, expected):
    page = list_contacts(people, "acme", search, 50, None)
    assert ids(page) == expected
    assert page["total"] == len(expected)
    assert page["next_cursor"] is None


def test_pages_follow_the_cursor(people):
    seen, cursor, pages = [], None, 0
    while True:
        page = list_contacts(people, "acme", None, 2, cursor)
        assert page["total"] == 5
        seen += ids(page)
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["c_001", "c_002", "c_003", "c_004", "x_005"] and pages == 3
    first = list_contacts(people, "acme", "example", 1, None)
    assert ids(first) == ["c_001"]
    assert ids(list_contacts(people, "acme", "example", 1, first["next_cursor"])) == ["c_003"]
    with pytest.raises(ValueError, match="next_cursor"):
        list_contacts(people, "acme", None, 2, "%%%")


def test_list_items_carry_profile_and_tags(people):
    item = list_contacts(people, "acme", "bob", 10, None)["items"][0]
    assert item["tags"] == ["b2b", "vip"]
    assert item["attributes"]["email"] == "bob@shop.io"
    assert item["unsubscribed"] == [] and item["order_count"] == 0


def test_contact_detail(project, ev):
    events = [ev("contact.created", "c1", email="ann@example.com", tags=["vip"]),
              ev("journey.entered", "c1", source="engine", journey_id="welcome", version=1),
              ev("journey.node_entered", "c1", source="engine", journey_id="welcome", version=1,
                 node_id="start", from_node=None)]
    events += [ev("message.queued", "c1", at=f"2026-01-01T10:{n:02d}:00Z", source="engine", message_id=f"m{n:02d}",
                  channel="email", template="t") for n in range(55)]
    conn = project(*events)
    contact = get_contact(conn, "acme", "c1")
    assert contact["email"] == "ann@example.com" and contact["tags"] == ["vip"]
    assert len(contact["recent_events"]) == 50
    assert contact["recent_events"][0]["id"] == events[-1]["id"]
    assert contact["recent_events"][0]["data"]["message_id"] == "m54"
    assert [j["journey_id"] for j in contact["journeys"]] == ["welcome"]
    assert contact["journeys"][0]["node_id"] == "start" and contact["journeys"][0]["state"] == "active"
    assert len(contact["messages"]) == 50 and contact["messages"][0]["message_id"] == "m54"
    assert get_contact(conn, "acme", "nobody") is None
    assert get_contact(conn, "other", "c1") is None


def test_exists_and_lookup_by_address(people):
    assert contact_exists(people, "acme", "c_001") and not contact_exists(people, "acme", "zzz")
    assert find_contact_by_address(people, "acme", "ANN.LEE@example.com", None) == "c_001"
    assert find_contact_by_address(people, "acme", None, "+4470000005") == "x_005"
    assert find_contact_by_address(people, "acme", "unknown@example.com", "+33600000002") == "c_002"
    assert find_contact_by_address(people, "acme", "unknown@example.com", None) is None
    assert find_contact_by_address(people, "other", "bob@shop.io", None) is None


def test_journey_stats(project, ev):
    def path(cid, version, nodes, reason=None, goal=False):
        out = [ev("journey.entered", cid, source="engine", journey_id="welcome", version=version)]
        previous = None
        for node in nodes:
            out.append(ev("journey.node_entered", cid, source="engine", journey_id="welcome", version=version,
                          node_id=node, from_node=previous))
            previous = node
        if goal:
            out.append(ev("journey.goal_reached", cid, source="engine", journey_id="welcome", version=version,
                          goal="order.placed"))
        if reason:
            out.append(ev("journey.exited", cid, source="engine", journey_id="welcome", version=version,
                          node_id=previous, reason=reason))
        return out

    conn = project(*path("a", 1, ["start", "w1", "end"], "completed"),
                   *path("a", 2, ["start", "w1"]),            # re-entry on a new version
                   *path("b", 1, ["start", "w1"], "goal", goal=True),
                   *path("c", 2, ["start", "w1"]),
                   ev("journey.entered", "q", workspace="other", source="engine", journey_id="welcome", version=1))
    stats = journey_stats(conn, "acme", "welcome")
    assert stats["totals"] == {"entered": 4, "active": 2, "exited": 2, "goal_reached": 1}
    assert stats["nodes"] == {"start": {"entered": 4, "current": 0, "exited": 0},
                              "w1": {"entered": 4, "current": 2, "exited": 1},
                              "end": {"entered": 1, "current": 0, "exited": 1}}
    assert stats["by_version"]["2"] == {"start": {"entered": 2, "current": 0, "exited": 0},
                                        "w1": {"entered": 2, "current": 2, "exited": 0}}
    assert journey_stats(conn, "acme", "unknown") == {
        "nodes": {}, "by_version": {}, "totals": {"entered": 0, "active": 0, "exited": 0, "goal_reached": 0}}


def test_list_messages(project, ev):
    conn = project(
        ev("message.queued", "a", at="2026-01-01T10:00:00Z", source="engine", message_id="m1", channel="email"),
        ev("message.suppressed", "b", at="2026-01-02T10:00:00Z", source="engine", message_id="m2",
           channel="sms", reason="unsubscribed"),
        ev("message.queued", "a", at="2026-01-03T10:00:00Z", source="engine", message_id="m3", channel="email"),
        ev("message.opened", "a", at="2026-01-04T10:00:00Z", source="ses", message_id="m1"),
    )
    assert [m["message_id"] for m in list_messages(conn, "acme")] == ["m3", "m2", "m1"]
    assert [m["message_id"] for m in list_messages(conn, "acme", contact_id="a", limit=1)] == ["m3"]
    assert list_messages(conn, "acme", "a")[1]["status"] == "opened"
    assert list_messages(conn, "other") == []
