"""The segments API (api/routes/segments.py, api/segments.py) on the in-process app:
CRUD and roles, errors with field paths, preview, backfill on create and edit, members
and CSV export, static imports with per-line errors, and journeys that start when a
contact enters a segment (also when time alone moves it there, on the virtual clock)."""

from __future__ import annotations

import csv
import io
import threading
import types

import orjson

from api.segments import SegmentSweeper, backfill, sweep
from tests.segments.conftest import add_contacts, engine_segments, events, member_ids
from tests.support import settle

VIP = {"name": "VIPs", "rule": {"tag": "vip"}}


def headers_for(client, role: str) -> dict[str, str]:
    response = client.post("/v1/keys", json={"role": role, "name": role})
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['secret']}"}


def locs(response) -> list[str]:
    return [d["loc"] for d in response.json()["error"].get("details", [])]


def log(client, kind: str) -> list[dict]:
    rows = client.services.log.connection().execute("SELECT body FROM log WHERE type = ? ORDER BY position", (kind,))
    return [orjson.loads(body) for (body,) in rows]


def people(client) -> None:
    add_contacts(client,
                 {"contact_id": "ann", "email": "ann@example.com", "tags": ["vip"], "attributes": {"city": "Rome"}},
                 {"contact_id": "bob", "email": "bob@example.com", "tags": ["vip"], "attributes": {"city": "Milan"}},
                 {"contact_id": "cy", "email": "cy@example.com", "attributes": {"city": "Rome"}})


def test_crud_and_roles(app_client):
    analyst, marketer, ingest = (headers_for(app_client, r) for r in ("analyst", "marketer", "ingest"))
    created = app_client.post("/v1/segments", json={"id": "vips", **VIP}, headers=marketer)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["id"], body["kind"], body["rule"], body["version"], body["changed"]) == ("vips", "dynamic", {"tag": "vip"}, 1, True)
    assert body["backfill"] == {"entered": 0, "exited": 0, "unchanged": 0, "projected": True}
    assert app_client.post("/v1/segments", json={"id": "vips", **VIP}).status_code == 409
    same = app_client.put("/v1/segments/vips", json=VIP).json()
    assert same["changed"] is False and same["version"] == 1 and same["backfill"] is None
    static = app_client.put("/v1/segments/list", json={"kind": "static", "description": "hand-picked"}, headers=marketer)
    assert static.status_code == 200 and static.json()["backfill"] is None
    listed = app_client.get("/v1/segments", headers=analyst)
    assert listed.status_code == 200
    assert [(s["id"], s["kind"], s["members"]) for s in listed.json()["items"]] == [("vips", "dynamic", 0), ("list", "static", 0)]
    assert app_client.get("/v1/segments/list", headers=analyst).json()["description"] == "hand-picked"
    assert app_client.put("/v1/segments/x", json=VIP, headers=analyst).status_code == 403
    assert app_client.get("/v1/segments", headers=ingest).status_code == 403
    assert app_client.post("/v1/segments/preview", json={"rule": {"tag": "vip"}}, headers=ingest).status_code == 403
    assert app_client.delete("/v1/segments/vips", headers=analyst).status_code == 403
    deleted = app_client.delete("/v1/segments/vips", headers=marketer)
    assert deleted.status_code == 200 and deleted.json()["deleted"] == "vips"
    assert app_client.get("/v1/segments/vips").status_code == 404
    assert app_client.get("/v1/segments/vips/members").status_code == 404
    assert [s["id"] for s in app_client.get("/v1/segments").json()["items"]] == ["list"]
    # a deleted segment can be created again
    assert app_client.post("/v1/segments", json={"id": "vips", **VIP}).json()["version"] == 3


def test_errors_name_the_field(app_client):
    app_client.put("/v1/segments/big", json={"rule": {"metric": "lifetime_value", "op": "gte", "value": 100}})
    cases = [
        ({"rule": {"all": [{"tag": "a"}, {"attr": "city", "op": "like", "value": "R"}]}}, "rule.all[1].op"),
        ({"rule": {"any": [{"property": "data.total", "op": "gt", "value": 1}]}}, "rule.any[0].property"),
        ({"rule": {"segment": "nope"}}, "rule.segment"),
        ({"rule": {"not": {"segment": "s1"}}}, "rule.not.segment"),  # itself
        ({"kind": "sometimes", "rule": {"tag": "a"}}, "kind"),
        ({"kind": "static", "rule": {"tag": "a"}}, "rule"),
        ({"kind": "dynamic"}, "rule"),
        ({"rule": {"tag": "a"}, "colour": "red"}, "colour"),
        ({"id": "other", "rule": {"tag": "a"}}, "id"),
        ({"name": 5, "rule": {"tag": "a"}}, "name"),
    ]
    for payload, loc in cases:
        response = app_client.put("/v1/segments/s1", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert loc in locs(response), (payload, response.json())
    assert locs(app_client.put("/v1/segments/bad id!", json={"rule": {"tag": "a"}})) == ["id"]
    assert app_client.put("/v1/segments/s1", content=b"[1]").status_code == 422
    # segments cannot contain each other
    assert app_client.put("/v1/segments/a", json={"rule": {"tag": "a"}}).status_code == 200
    assert app_client.put("/v1/segments/b", json={"rule": {"segment": "a"}}).status_code == 200
    cycle = app_client.put("/v1/segments/a", json={"rule": {"any": [{"tag": "x"}, {"segment": "b"}]}})
    assert cycle.status_code == 422 and locs(cycle) == ["rule.any[1].segment"]
    assert "'a' -> 'b' -> 'a'" in cycle.json()["error"]["details"][0]["message"]
    used = app_client.delete("/v1/segments/a")
    assert used.status_code == 409 and "'b'" in used.json()["error"]["message"]
    assert app_client.get("/v1/segments/a").json()["rule"] == {"tag": "a"}  # nothing was stored


def test_preview_counts_and_samples_before_saving(app_client):
    people(app_client)
    analyst = headers_for(app_client, "analyst")
    response = app_client.post("/v1/segments/preview", json={"rule": {"tag": "vip"}}, headers=analyst)
    assert response.status_code == 200, response.text
    assert response.json()["count"] == 2
    assert {(c["contact_id"], c["email"]) for c in response.json()["sample"]} == {("ann", "ann@example.com"),
                                                                                 ("bob", "bob@example.com")}
    assert app_client.post("/v1/segments/preview", json={"rule": {"tag": "vip"}, "limit": 1}).json()["count"] == 2
    assert len(app_client.post("/v1/segments/preview", json={"rule": {"tag": "vip"}, "limit": 1}).json()["sample"]) == 1
    bad = app_client.post("/v1/segments/preview", json={"rule": {"all": [{"tag": ""}]}})
    assert bad.status_code == 422 and locs(bad) == ["rule.all[0].tag"]
    assert locs(app_client.post("/v1/segments/preview", json={"rule": {"tag": "a"}, "sort": 1})) == ["sort"]
    assert locs(app_client.post("/v1/segments/preview", json={"rule": {"tag": "a"}, "limit": 1000})) == ["limit"]
    assert locs(app_client.post("/v1/segments/preview", json={})) == ["rule"]
    assert app_client.get("/v1/segments").json()["items"] == []  # a preview saves nothing


def test_backfill_on_create_and_edit_then_the_engine_keeps_it_current(app_client):
    people(app_client)
    created = app_client.put("/v1/segments/vips", json=VIP).json()
    assert created["backfill"]["entered"] == 2 and created["backfill"]["exited"] == 0
    assert member_ids(app_client, "vips") == ["ann", "bob"]
    entered = log(app_client, "segment.entered")
    assert sorted((e["contact_id"], e["source"]) for e in entered) == [("ann", "api"), ("bob", "api")]
    assert engine_segments(app_client, "ann") == ["vips"] and engine_segments(app_client, "cy") == []
    # editing the rule moves contacts out
    edited = app_client.put("/v1/segments/vips", json={"rule": {"all": [{"tag": "vip"}, {"attr": "city", "value": "Rome"}]}})
    assert edited.json()["version"] == 2 and edited.json()["backfill"] == {"entered": 0, "exited": 1, "unchanged": 1,
                                                                          "projected": True}
    assert member_ids(app_client, "vips") == ["ann"]
    assert engine_segments(app_client, "bob") == []
    # from now on the engine moves contacts as their events arrive
    events(app_client, {"type": "contact.tagged", "contact_id": "cy", "data": {"tag": "vip"}})
    assert member_ids(app_client, "vips") == ["ann", "cy"]
    assert [e["source"] for e in log(app_client, "segment.entered") if e["contact_id"] == "cy"] == ["engine"]
    events(app_client, {"type": "contact.updated", "contact_id": "ann", "data": {"city": "Paris"}})
    assert member_ids(app_client, "vips") == ["cy"]
    vips = app_client.get("/v1/segments/vips").json()
    assert vips["members"] == 1
    assert backfill(app_client.services, "default", vips) | {"projected": True} == {
        "entered": 0, "exited": 0, "unchanged": 1, "projected": True}  # the engine and the SQL evaluation agree
    # a segment of segments, backfilled from the current memberships
    nested = app_client.put("/v1/segments/vip-mailable", json={"rule": {"all": [{"segment": "vips"},
                                                                                {"attr": "city", "value": "Rome"}]}})
    assert nested.json()["backfill"]["entered"] == 1
    assert member_ids(app_client, "vip-mailable") == ["cy"]
    # deleting lets everyone exit
    assert app_client.delete("/v1/segments/vip-mailable").json()["exited"] == 1
    settle(app_client)
    assert engine_segments(app_client, "cy") == ["vips"]


def test_members_pages_and_csv_export(app_client):
    people(app_client)
    app_client.put("/v1/segments/everyone", json={"rule": {"not": {"tag": "nobody"}}})
    settle(app_client)
    first = app_client.get("/v1/segments/everyone/members", params={"limit": 2}).json()
    assert [m["contact_id"] for m in first["items"]] == ["ann", "bob"] and first["total"] == 3
    assert first["items"][0]["email"] == "ann@example.com" and first["items"][0]["entered_at"]
    second = app_client.get("/v1/segments/everyone/members", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [m["contact_id"] for m in second["items"]] == ["cy"] and second["next_cursor"] is None
    bad = app_client.get("/v1/segments/everyone/members", params={"cursor": "%%%"})
    assert bad.status_code == 422 and locs(bad) == ["cursor"]
    assert app_client.get("/v1/segments/everyone/members", params={"limit": 0}).status_code == 422
    exported = app_client.get("/v1/segments/everyone/export.csv", headers=headers_for(app_client, "analyst"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert 'filename="everyone.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["contact_id"], r["email"]) for r in rows] == [("ann", "ann@example.com"), ("bob", "bob@example.com"),
                                                             ("cy", "cy@example.com")]


def upload(client, segment_id: str, text: str, mode: str | None = None, headers: dict | None = None):
    return client.post(f"/v1/segments/{segment_id}/import", files={"file": ("members.csv", text, "text/csv")},
                       data={"mode": mode} if mode else {}, headers=headers or {})


def test_static_import_with_errors_per_line_changes_nothing_until_clean(app_client):
    people(app_client)
    assert app_client.put("/v1/segments/picked", json={"kind": "static"}).status_code == 200
    bad = upload(app_client, "picked", "email,contact_id,name\nANN@example.com,,\n,bob,\nnot-an-email,,\n,ghost,\n\n,,Zed\n")
    assert bad.status_code == 422, bad.text
    details = bad.json()["error"]["details"]
    assert [(d["line"], d.get("column")) for d in details] == [(4, "email"), (5, "contact_id"), (7, None)]
    assert (bad.json()["rows"], bad.json()["failed"]) == (5, 3)
    assert member_ids(app_client, "picked") == []
    good = upload(app_client, "picked", "email,contact_id\nANN@example.com,\n,bob\n")
    assert good.status_code == 200, good.text
    assert good.json() | {"projected": True} == {"rows": 2, "failed": 0, "entered": 2, "exited": 0, "unchanged": 0,
                                                  "projected": True}
    assert member_ids(app_client, "picked") == ["ann", "bob"]
    assert {e["source"] for e in log(app_client, "segment.entered") if e["data"]["segment_id"] == "picked"} == {"import"}
    replaced = upload(app_client, "picked", "contact_id\nbob\ncy\n").json()
    assert (replaced["entered"], replaced["exited"], replaced["unchanged"]) == (1, 1, 1)
    assert member_ids(app_client, "picked") == ["bob", "cy"]
    assert upload(app_client, "picked", "id\nann\n", mode="add").json()["entered"] == 1
    assert upload(app_client, "picked", "id\nbob\n", mode="remove").json()["exited"] == 1
    assert member_ids(app_client, "picked") == ["ann", "cy"]
    assert engine_segments(app_client, "ann") == ["picked"]
    assert upload(app_client, "picked", "name\nann\n").json()["error"]["details"][0]["line"] == 1
    assert upload(app_client, "picked", "id\nann\n", mode="merge").status_code == 422
    app_client.put("/v1/segments/vips", json=VIP)
    assert upload(app_client, "vips", "id\nann\n").status_code == 409
    assert upload(app_client, "picked", "id\nann\n", headers=headers_for(app_client, "analyst")).status_code == 403
    # an erased contact leaves its static segments too
    events(app_client, {"type": "contact.deleted", "contact_id": "cy", "data": {}})
    assert member_ids(app_client, "picked") == ["ann"]


TEMPLATE = {"channel": "email", "subject": "Hello {{ contact.first_name }}", "text": "A little something for you"}


def journey(journey_id: str, segment_id: str) -> dict:
    return {"id": journey_id, "name": journey_id,
            "nodes": [{"id": "start", "type": "entry", "position": {"x": 0, "y": 0},
                       "data": {"trigger": {"event": "segment.entered", "segment": segment_id}}},
                      {"id": "send", "type": "send", "position": {"x": 0, "y": 100},
                       "data": {"channel": "email", "template": "hello"}},
                      {"id": "end", "type": "end", "position": {"x": 0, "y": 200}}],
            "edges": [{"id": "e1", "source": "start", "target": "send"}, {"id": "e2", "source": "send", "target": "end"}]}


def publish(client, graph: dict) -> None:
    saved = client.put(f"/v1/journeys/{graph['id']}", json=graph)
    assert saved.status_code == 200 and saved.json()["problems"] == [], saved.text
    assert client.post(f"/v1/journeys/{graph['id']}/publish").status_code == 200


def outbox(client) -> list[tuple[str, str]]:
    settle(client)
    return sorted((m["contact_id"], m["journey_id"]) for m in client.get("/v1/outbox").json()["items"])


def test_a_journey_starts_when_a_contact_enters_its_segment(app_client):
    assert app_client.put("/v1/templates/hello", json=TEMPLATE).status_code == 200
    lapsed = {"rule": {"all": [{"metric": "order_count", "op": "gte", "value": 1},
                               {"not": {"event": "order.placed", "within": "P30D"}}]}}
    assert app_client.put("/v1/segments/lapsed", json=lapsed).status_code == 200
    assert app_client.put("/v1/segments/big", json={"rule": {"metric": "lifetime_value", "op": "gte", "value": 100}}).status_code == 200
    publish(app_client, journey("win-back", "lapsed"))
    publish(app_client, journey("thank-big", "big"))
    add_contacts(app_client, {"contact_id": "ann", "email": "ann@example.com", "first_name": "Ann"},
                 {"contact_id": "bob", "email": "bob@example.com", "first_name": "Bob"})
    events(app_client, {"type": "order.placed", "contact_id": "ann", "data": {"order_id": "o1", "amount": "150"}},
           {"type": "order.placed", "contact_id": "bob", "data": {"order_id": "o2", "amount": "20"}})
    assert outbox(app_client) == [("ann", "thank-big")]
    assert app_client.post("/v1/testing/clock/advance", json={"duration": "P29D"}).status_code == 200
    assert outbox(app_client) == [("ann", "thank-big")]
    events(app_client, {"type": "order.placed", "contact_id": "bob", "data": {"order_id": "o3", "amount": "20"}})
    # time alone makes ann lapsed 30 days after her order; bob ordered again
    app_client.post("/v1/testing/clock/advance", json={"duration": "P1DT1M"})
    assert outbox(app_client) == [("ann", "thank-big"), ("ann", "win-back")]
    assert member_ids(app_client, "lapsed") == ["ann"]
    app_client.post("/v1/testing/clock/advance", json={"duration": "P30D"})
    assert outbox(app_client) == [("ann", "thank-big"), ("ann", "win-back"), ("bob", "win-back")]
    assert member_ids(app_client, "lapsed") == ["ann", "bob"]


def test_journeys_are_checked_against_the_defined_segments(app_client):
    assert app_client.put("/v1/templates/hello", json=TEMPLATE).status_code == 200
    saved = app_client.put("/v1/journeys/j1", json=journey("j1", "undefined-here")).json()
    [problem] = saved["problems"]
    assert (problem["code"], problem["severity"], problem["field"]) == ("SB-011", "warning", "data.trigger.segment")
    assert app_client.post("/v1/journeys/j1/publish").status_code == 200  # outside-fed segments keep working
    app_client.put("/v1/segments/undefined-here", json={"kind": "static"})
    assert app_client.post("/v1/journeys/j1/validate").json()["problems"] == []


def test_the_sweep_catches_contacts_without_events_since_the_segment_was_saved(app_client):
    add_contacts(app_client, {"contact_id": "ann", "email": "ann@example.com"})
    events(app_client, {"type": "order.placed", "contact_id": "ann", "data": {"order_id": "o1", "amount": "5"}})
    lapsed = {"rule": {"all": [{"metric": "order_count", "op": "gte", "value": 1},
                               {"not": {"event": "order.placed", "within": "P30D"}}]}}
    assert app_client.put("/v1/segments/lapsed", json=lapsed).json()["backfill"]["entered"] == 0
    app_client.put("/v1/segments/vips", json=VIP)  # not time-relative: not swept
    app_client.post("/v1/testing/clock/advance", json={"duration": "P31D"})
    assert member_ids(app_client, "lapsed") == []  # the engine saw no event of ann's since the segment exists
    swept = sweep(app_client.services)
    assert list(swept) == ["default/lapsed"] and swept["default/lapsed"]["entered"] == 1
    assert member_ids(app_client, "lapsed") == ["ann"]
    assert engine_segments(app_client, "ann") == ["lapsed"]
    assert sweep(app_client.services)["default/lapsed"]["entered"] == 0


def test_the_sweeper_runs_the_sweep_in_its_thread():
    calls = threading.Event()

    class Definitions:
        def segments(self):
            calls.set()
            return []

    sweeper = SegmentSweeper(types.SimpleNamespace(definitions=Definitions()), every=3600)
    sweeper.start()
    try:
        assert calls.wait(10)
    finally:
        sweeper.stop()
    assert not sweeper.worker._thread.is_alive() and sweeper.worker.last_error is None


def test_engine_and_sql_agree_on_who_may_be_a_member(app_client):
    add_contacts(app_client, {"contact_id": "ann", "email": "ann@example.com"},
                 {"contact_id": "bob", "email": "bob@example.com"})
    everyone = {"id": "everyone", "rule": {"not": {"tag": "nobody"}}, "version": 1}
    assert app_client.put("/v1/segments/everyone", json={"rule": everyone["rule"]}).json()["backfill"]["entered"] == 2
    events(app_client,
           {"type": "contact.deleted", "contact_id": "bob", "data": {}},
           {"type": "order.placed", "contact_id": "bob", "data": {"order_id": "o1", "amount": "5"}},  # no profile
           {"type": "page.viewed", "contact_id": "ghost", "data": {}},  # a profile from a custom event
           {"type": "message.opened", "contact_id": "nobody-known", "data": {"message_id": "m"}})  # none
    assert member_ids(app_client, "everyone") == ["ann", "ghost"]
    assert engine_segments(app_client, "bob") == [] and engine_segments(app_client, "ghost") == ["everyone"]
    again = backfill(app_client.services, "default", everyone)
    assert (again["entered"], again["exited"]) == (0, 0)
