"""The editor's tools in a real browser (Debian's chromium via Playwright) against a real
``switchback up``: the Simulate drawer runs the abandoned-cart journey for a contact's
recorded events and for an uploaded JSONL file and highlights the path on the canvas; the
template editor previews unsaved edits and sends a test to the outbox (and only there).

Screenshots land in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re

import orjson

from journeys.library import library_journey, library_templates
from tests.support import settle
from tests.ui.conftest import BROWSER_TEST
from tests.ui.test_ui_browser import sign_in

pytestmark = BROWSER_TEST

EMAIL = "ada@example.com"
CART_PATH = ["start", "wait_order", "remind", "wait_day", "vip", "last_call", "done"]
HELLO = {"name": "Hello", "channel": "email", "subject": "Hi {{ contact.first_name }}",
         "html": "<p>Hello {{ contact.first_name }}</p>", "text": "Hello {{ contact.first_name }}"}


def test_ui_tools_simulate_and_template_test_send(ui_server, watched):
    from playwright.sync_api import expect

    page, api = watched.page, ui_server.api
    ui_server.create_user(EMAIL, "marketer")
    for template in library_templates():
        if template["id"].startswith("cart-"):
            assert api.put(f"/v1/templates/{template['id']}", json={k: v for k, v in template.items() if k != "id"}).status_code == 200
    assert api.put("/v1/templates/hello", json=HELLO).status_code == 200
    assert api.put("/v1/journeys/abandoned-cart", json=library_journey("abandoned-cart")).status_code == 200
    batch = [{"type": "contact.created", "contact_id": "ann", "data": {"email": "ann@example.com", "first_name": "Ann"}},
             {"type": "cart.updated", "contact_id": "ann", "data": {"cart_id": "k1"}}]
    assert api.post("/v1/events", json={"batch": batch}).status_code == 202
    settle(api)
    sign_in(page, ui_server.base, EMAIL, ui_server.env["SB_UI_TEST_PASSWORD"])

    # the editor: simulate Ann's recorded events; her path lights up on the canvas
    page.goto(f"{ui_server.base}/journeys/abandoned-cart")
    page.get_by_role("button", name="Simulate").click()
    page.locator("#sim-contact").fill("ann")
    page.get_by_role("button", name="Run simulation").click()
    steps = page.get_by_role("list", name="Steps").locator("li")
    expect(steps).to_have_count(len(CART_PATH))
    assert [steps.nth(i).get_attribute("data-node") for i in range(len(CART_PATH))] == CART_PATH
    expect(page.get_by_test_id("sim-result")).to_contain_text("2 messages would be sent")
    lit = page.locator(".react-flow__node.sim-visited")
    expect(lit).to_have_count(len(CART_PATH))
    assert sorted(lit.evaluate_all("els => els.map(e => e.dataset.id)")) == sorted(CART_PATH)
    expect(page.locator(".react-flow__node.sim-dimmed")).to_have_count(2)  # bought, offer
    expect(page.locator(".react-flow__edge.sim-visited")).to_have_count(len(CART_PATH) - 1)
    watched.shot("01-simulate-contact")

    # an uploaded JSONL file: the VIP orders within the day (blank line and all)
    script = "\n".join(orjson.dumps(e).decode() for e in (
        {"type": "contact.created", "contact_id": "vip", "data": {"email": "v@example.com", "tags": ["vip"]}},
        {"type": "cart.updated", "contact_id": "vip", "data": {"cart_id": "c9"}},
        {"advance": "PT5H"},
    )) + "\n\n" + orjson.dumps({"type": "order.placed", "contact_id": "vip",
                                "data": {"cart_id": "c9", "order_id": "o1", "total": 20}}).decode() + "\n"
    page.get_by_label("a JSONL file").check()
    page.locator("#sim-file").set_input_files(files=[{"name": "vip.jsonl", "mimeType": "application/x-ndjson",
                                                      "buffer": script.encode()}])
    page.get_by_role("button", name="Run simulation").click()
    expect(steps).to_have_count(5)
    expect(page.locator(".react-flow__node.sim-visited")).to_have_count(5)
    expect(page.locator(".react-flow__node.sim-visited[data-id=bought]")).to_have_count(1)
    watched.shot("02-simulate-file")
    # closing the drawer clears the highlight
    page.get_by_role("button", name="Close the simulation").click()
    expect(page.locator(".react-flow__node.sim-visited")).to_have_count(0)

    # the branch's condition is edited with the rule builder (with a JSON toggle)
    page.locator(".react-flow__node[data-id=vip]").click()
    tag = page.locator(".side-panel .rule-row[data-kind=tag]").get_by_label("Tag")
    expect(tag).to_have_value("vip")
    tag.fill("gold")
    page.locator(".side-panel .rule-field").get_by_role("button", name="JSON").click()
    expect(page.locator(".side-panel textarea[name='cases[0].rule']")).to_have_value(re.compile(r'"tag": "gold"'))
    watched.shot("03-rule-builder")

    # the template editor: the preview follows unsaved edits; a test goes to the outbox
    page.goto(f"{ui_server.base}/templates/hello")
    page.get_by_label("Sample attributes (name = value, one a line)").fill("first_name = Zoe")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Hi Zoe")
    page.get_by_label("Subject").fill("Howdy {{ contact.first_name }}")
    expect(page.get_by_test_id("preview-subject")).to_have_text("Howdy Zoe")
    assert api.get("/v1/templates/hello").json()["subject"] == "Hi {{ contact.first_name }}"  # not saved
    page.locator("#test-send-contact").fill("ann")
    page.get_by_role("button", name="Send test to outbox").click()
    expect(page.get_by_test_id("test-send-done")).to_contain_text("ann@example.com")
    watched.shot("04-template-test-send")
    page.get_by_role("link", name="Open the outbox").click()
    page.wait_for_url(re.compile(r"/outbox\?contact_id=ann"))
    expect(page.get_by_text("Hi Ann").first).to_be_visible()
    watched.shot("05-outbox")
    [message] = api.get("/v1/outbox", params={"contact_id": "ann"}).json()["items"]
    assert message["message_id"].startswith("test_") and message["subject"] == "Hi Ann"
    assert watched.errors == []
