"""The editor's tools: simulate a journey (a contact's events or a JSONL script), send a
template test to the outbox, and preview an unsaved template."""

from __future__ import annotations

from journeys.events import parse_time
from journeys.library import library_journey
from tests.api.conftest import error_locs, load_templates
from tests.support import settle

CART_PATH = ["start", "wait_order", "remind", "wait_day", "vip", "last_call", "done"]
WELCOME = {"name": "Welcome", "channel": "email", "subject": "Hi {{ contact.first_name }}",
           "html": "<p>Welcome {{ contact.first_name }} from {{ contact.city }} <a href=\"https://shop.example/\">shop</a></p>",
           "text": "Welcome {{ contact.first_name }}"}


def save_cart_draft(client) -> None:
    load_templates(client)
    saved = client.put("/v1/journeys/abandoned-cart", json=library_journey("abandoned-cart"))
    assert saved.status_code == 200, saved.text


def add_contact(client, contact_id: str, **attrs) -> None:
    response = client.post("/v1/contacts", params={"wait": "true"}, json={"contact_id": contact_id, **attrs})
    assert response.status_code == 202, response.text


def only(result: dict) -> dict:
    [contact] = result["contacts"]
    return contact


# -- simulate --------------------------------------------------------------------------------------------

def test_simulate_replays_a_contacts_recorded_events_against_the_draft(app_client):
    save_cart_draft(app_client)
    add_contact(app_client, "ann", email="ann@example.com", first_name="Ann")
    sent = app_client.post("/v1/events", json={"type": "cart.updated", "contact_id": "ann", "data": {"cart_id": "k1"}})
    assert sent.status_code in (200, 202), sent.text
    settle(app_client)
    response = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"contact_id": "ann"})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["simulated"] is True
    ann = only(result)
    assert ann["contact_id"] == "ann" and ann["path"] == CART_PATH
    assert [s["node_id"] for s in ann["steps"]] == CART_PATH
    times = [parse_time(s["at"]) for s in ann["steps"]]
    assert times[2] - times[0] == 4 * 3600  # after the 4 h wait, on the virtual clock
    assert times[4] - times[2] == 24 * 3600
    assert [(m["node_id"], m["template"]) for m in ann["messages"]] == [("remind", "cart-reminder"),
                                                                       ("last_call", "cart-last-call")]
    assert ann["exits"][0]["reason"] == "completed"
    # a dry run: nothing went to the outbox
    settle(app_client)
    assert app_client.get("/v1/outbox").json()["items"] == []


def test_simulate_a_jsonl_script_with_the_editors_unsaved_graph(app_client):
    save_cart_draft(app_client)
    events = [
        {"type": "contact.created", "contact_id": "vip1", "occurred_at": "2026-03-02T09:00:00Z",
         "data": {"email": "v@example.com", "tags": ["vip"]}},
        {"type": "cart.updated", "contact_id": "vip1", "data": {"cart_id": "c9"}},
        {"advance": "PT5H"},
        {"type": "order.placed", "contact_id": "vip1", "data": {"cart_id": "c9", "order_id": "o1", "total": 20}},
    ]
    response = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"events": events})
    assert response.status_code == 200, response.text
    # the order came after the reminder, inside the day wait: the contact leaves at "bought"
    assert only(response.json())["path"] == ["start", "wait_order", "remind", "wait_day", "bought"]
    # without the order the VIP gets the offer (the draft) ...
    response = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"events": events[:2]})
    assert only(response.json())["path"] == ["start", "wait_order", "remind", "wait_day", "vip", "offer", "done"]
    # ... but the editor's unsaved graph wins over the draft: there the offer is for "gold" contacts
    graph = library_journey("abandoned-cart")
    [vip] = [n for n in graph["nodes"] if n["id"] == "vip"]
    vip["data"]["cases"][0]["rule"] = {"tag": "gold"}
    response = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"events": events[:2], "graph": graph})
    assert only(response.json())["path"] == ["start", "wait_order", "remind", "wait_day", "vip", "last_call", "done"]


def test_simulate_reports_bad_events_with_field_path_and_line(app_client):
    save_cart_draft(app_client)
    events = [{"type": "cart.updated", "contact_id": "a"}, {"type": "Bad Type", "contact_id": "a"},
              {"advance": "soon"}, "not an object"]
    response = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"events": events})
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert [d["loc"] for d in details] == ["events[1]", "events[2]", "events[3]"]
    assert details[0]["message"].startswith("line 2: type:")
    assert details[1]["message"].startswith("line 3: advance")


def test_simulate_refuses_unclear_requests_and_unknowns(app_client):
    save_cart_draft(app_client)
    both = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"contact_id": "a", "events": []})
    assert both.status_code == 422 and error_locs(both) == ["contact_id"]
    neither = app_client.post("/v1/journeys/abandoned-cart/simulate", json={})
    assert neither.status_code == 422
    ghost = app_client.post("/v1/journeys/abandoned-cart/simulate", json={"contact_id": "ghost"})
    assert ghost.status_code == 404 and "ghost" in ghost.json()["error"]["message"]
    no_journey = app_client.post("/v1/journeys/nope/simulate", json={"events": [], "graph": library_journey("abandoned-cart")})
    assert no_journey.status_code == 404


def test_simulate_returns_the_problems_of_a_broken_graph(app_client):
    save_cart_draft(app_client)
    graph = library_journey("abandoned-cart")
    graph["edges"] = [e for e in graph["edges"] if e["id"] != "e1"]  # the entry leads nowhere
    response = app_client.post("/v1/journeys/abandoned-cart/simulate",
                               json={"graph": graph, "events": [{"type": "cart.updated", "contact_id": "a"}]})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["simulated"] is False and result["contacts"] == []
    assert any(p["severity"] == "error" for p in result["problems"])


# -- test send -------------------------------------------------------------------------------------------

def test_test_send_goes_to_the_outbox_only(app_client, monkeypatch):
    app_client.put("/v1/templates/welcome", json=WELCOME)
    add_contact(app_client, "cleo", email="cleo@example.com", first_name="Cleo", attributes={"city": "Oslo"})
    settle(app_client)
    calls = []
    monkeypatch.setattr(app_client.services.providers, "get", lambda *a, **k: calls.append(a), raising=False)
    response = app_client.post("/v1/templates/welcome/test-send", json={"contact_id": "cleo"})
    assert response.status_code == 201, response.text
    sent = response.json()
    assert sent["message_id"].startswith("test_") and sent["to"] == "cleo@example.com" and sent["provider"] == "outbox"
    [message] = app_client.get("/v1/outbox", params={"contact_id": "cleo"}).json()["items"]
    assert message["message_id"] == sent["message_id"] and message["subject"] == "Hi Cleo"
    assert "Welcome Cleo from Oslo" in message["html"]
    assert "/c/" in message["html"]  # links are tracked as in a real send
    assert "List-Unsubscribe" in message["headers"]
    assert calls == []
    # no journey message was recorded: the log has no message.* event for it
    settle(app_client)
    detail = app_client.get("/v1/contacts/cleo").json()
    assert not any(e["type"].startswith("message.") for e in detail.get("events", []))


def test_test_send_errors(app_client):
    app_client.put("/v1/templates/welcome", json=WELCOME)
    app_client.put("/v1/templates/sms", json={"channel": "sms", "text": "Hi {{ contact.first_name }}"})
    add_contact(app_client, "nameless", email="n@example.com")
    settle(app_client)
    ghost = app_client.post("/v1/templates/welcome/test-send", json={"contact_id": "ghost"})
    assert ghost.status_code == 404
    no_template = app_client.post("/v1/templates/nope/test-send", json={"contact_id": "nameless"})
    assert no_template.status_code == 404
    no_phone = app_client.post("/v1/templates/sms/test-send", json={"contact_id": "nameless"})
    assert no_phone.status_code == 422 and error_locs(no_phone) == ["contact_id"]
    strict = app_client.post("/v1/templates/welcome/test-send", json={"contact_id": "nameless"})
    assert strict.status_code == 422 and strict.json()["error"]["code"] == "template_error"
    assert error_locs(strict) == ["subject"] and "first_name" in strict.json()["error"]["message"]
    missing = app_client.post("/v1/templates/welcome/test-send", json={})
    assert missing.status_code == 422 and "contact_id" in str(error_locs(missing))
    assert app_client.get("/v1/outbox").json()["items"] == []


def test_test_send_needs_an_editor(app_client, role_headers):
    app_client.put("/v1/templates/welcome", json=WELCOME)
    response = app_client.post("/v1/templates/welcome/test-send", json={"contact_id": "x"},
                               headers=role_headers("analyst"))
    assert response.status_code == 403


# -- preview of unsaved edits -----------------------------------------------------------------------------

def test_preview_of_an_unsaved_template(app_client):
    body = {"template": {"channel": "email", "subject": "Yo {{ contact.first_name }}", "html": "<b>{{ contact.city }}</b>"},
            "sample": {"first_name": "Ann", "city": "Oslo"}}
    response = app_client.post("/v1/templates/preview", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "Yo Ann" and response.json()["html"] == "<b>Oslo</b>"
    add_contact(app_client, "bo", email="bo@example.com", first_name="Bo")
    settle(app_client)
    real = app_client.post("/v1/templates/preview", json={"template": {"channel": "sms", "text": "Hi {{ contact.first_name }} {{ trigger.x }}"},
                                                           "contact_id": "bo", "context": {"trigger": {"x": 7}}})
    assert real.status_code == 200 and real.json()["text"] == "Hi Bo 7"
    # nothing was stored
    assert app_client.get("/v1/templates").json()["items"] == []


def test_preview_of_an_unsaved_template_errors(app_client):
    strict = app_client.post("/v1/templates/preview",
                             json={"template": {"channel": "email", "subject": "ok", "html": "{{ contact.nope }}"}, "sample": {}})
    assert strict.status_code == 422 and error_locs(strict) == ["template.html"]
    broken = app_client.post("/v1/templates/preview",
                             json={"template": {"channel": "email", "subject": "{% if %}"}, "sample": {}})
    assert broken.status_code == 422 and error_locs(broken) == ["template.subject"]
    bad_channel = app_client.post("/v1/templates/preview", json={"template": {"channel": "fax", "text": "x"}})
    assert bad_channel.status_code == 422 and "template.channel" in str(error_locs(bad_channel))
    ghost = app_client.post("/v1/templates/preview", json={"template": {"channel": "sms", "text": "x"}, "contact_id": "ghost"})
    assert ghost.status_code == 404
