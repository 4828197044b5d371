"""The web UI in a real browser (Debian's chromium via Playwright) against a real
``switchback up``: sign in, draw a five-node journey with the mouse (palette drag and
drop, handle to handle), see a problem on the unconnected step, fix it, publish, watch
the live count move when events arrive, find the contact's position, import a CSV with
a bad row. An analyst sees the same journey without the buttons that change it.

Screenshots of every screen land in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re


from tests.support import settle
from tests.ui.conftest import BROWSER_TEST

pytestmark = BROWSER_TEST

ADMIN_EMAIL = "ada@example.com"
ANALYST_EMAIL = "alan@example.com"


def sign_in(page, base: str, email: str, password: str) -> None:
    page.goto(f"{base}/journeys")
    page.wait_for_url(re.compile(r"/sign-in"))
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/journeys$"))


def drop_step(page, kind: str, x: int, y: int) -> None:
    """Drag a step from the palette onto the canvas at (x, y) of the canvas."""
    page.locator(f".palette [data-node-type={kind}]").drag_to(page.get_by_test_id("canvas"),
                                                               target_position={"x": x, "y": y})


def node(page, node_id: str):
    return page.locator(f".react-flow__node[data-id='{node_id}']")


def connect(page, source: str, target: str, handle: str = "default") -> None:
    """Press on an out-handle, move to the target's in-handle, release: React Flow's connect gesture."""
    start = page.locator(f".react-flow__handle.source[data-nodeid='{source}'][data-handleid='{handle}']").bounding_box()
    end = page.locator(f".react-flow__handle.target[data-nodeid='{target}']").bounding_box()
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


def select_step(page, node_id: str) -> None:
    node(page, node_id).locator(".node-label").click()
    page.locator(f".side-panel form[aria-label='Settings of {node_id}']").wait_for()


def test_ui_draw_publish_watch_and_import(ui_server, watched, tmp_path):
    from playwright.sync_api import expect

    page, api = watched.page, ui_server.api
    ui_server.create_user(ADMIN_EMAIL, "admin")
    assert api.put("/v1/templates/nudge", json={"channel": "email", "subject": "Still there, {{ contact.first_name }}?",
                                                "text": "Come back"}).status_code == 200

    # sign in
    page.goto(f"{ui_server.base}/journeys")
    page.wait_for_url(re.compile(r"/sign-in"))
    watched.shot("01-sign-in")
    page.get_by_label("Email").fill(ADMIN_EMAIL)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("wrong")
    page.get_by_label("Password").fill(ui_server.env["SB_UI_TEST_PASSWORD"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/journeys$"))
    expect(page.get_by_text("No journeys yet")).to_be_visible()
    watched.shot("02-journeys-empty")

    # a new, empty journey
    page.get_by_role("button", name="New journey").click()
    page.get_by_label("Name").fill("Welcome")
    expect(page.get_by_label("Id (in the API and in analytics)")).to_have_value("welcome")
    page.get_by_role("button", name="Create and open").click()
    page.wait_for_url(re.compile(r"/journeys/welcome$"))
    expect(page.get_by_text("SB-001")).to_be_visible()  # checked on open: no entry yet

    # five steps dragged from the palette
    for kind, x, y in (("entry", 420, 50), ("wait", 420, 190), ("end", 200, 370), ("send", 640, 370), ("end", 640, 520)):
        drop_step(page, kind, x, y)
    for node_id in ("entry_1", "wait_1", "end_1", "send_1", "end_2"):
        expect(node(page, node_id)).to_be_visible()

    # undo and redo the last drop with the keyboard
    page.locator(".react-flow__pane").click(position={"x": 30, "y": 30})
    page.keyboard.press("Control+z")
    expect(node(page, "end_2")).to_have_count(0)
    page.keyboard.press("Control+Shift+z")
    expect(node(page, "end_2")).to_be_visible()

    # settings in the side panel
    select_step(page, "entry_1")
    page.get_by_label("Starts when this event arrives").fill("signup.completed")
    select_step(page, "wait_1")
    page.locator(".side-panel select[name=mode]").select_option("event")
    page.get_by_label("Wait for this event").fill("order.placed")
    expect(page.get_by_label("Give up after: Days")).to_have_value("1")
    select_step(page, "send_1")
    page.locator(".side-panel select[name=template]").select_option("nudge")
    # the event wait offers one labelled handle per outcome
    expect(node(page, "wait_1").locator(".handle-label")).to_have_text(["event came", "timed out"])

    # connect handles with the mouse; the send step stays unconnected
    connect(page, "entry_1", "wait_1")
    connect(page, "wait_1", "end_1", "event")
    connect(page, "wait_1", "send_1", "timeout")
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    page.get_by_role("button", name=re.compile(r"^Save draft")).click()
    problem = node(page, "send_1").locator(".journey-node.has-error")
    expect(problem).to_be_visible()
    expect(problem).to_contain_text("SB-007")
    expect(problem).to_contain_text("not connected")
    expect(page.locator(".problems")).to_contain_text("step send_1")
    expect(page.get_by_test_id("problem-count")).to_have_text("1 error, 1 warning")  # end_2 is unreachable
    watched.shot("03-editor-problem")

    # fix it, publish
    connect(page, "send_1", "end_2")
    expect(page.locator(".react-flow__edge")).to_have_count(4)
    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_test_id("editor-note")).to_have_text("Published version 1.")
    expect(node(page, "send_1").locator(".journey-node")).not_to_have_class(re.compile("has-error"))
    expect(page.locator(".toolbar .badge")).to_have_text("published")
    draft = api.get("/v1/journeys/welcome").json()
    assert [(e["source"], e.get("sourceHandle"), e["target"]) for e in draft["draft"]["edges"]] == [
        ("entry_1", None, "wait_1"), ("wait_1", "event", "end_1"), ("wait_1", "timeout", "send_1"), ("send_1", None, "end_2")]
    assert draft["versions"][0]["version"] == 1

    # events arrive: the live count on the waiting step changes
    batch = [{"type": "contact.created", "contact_id": cid, "data": {"email": f"{cid}@example.com", "first_name": name}}
             for cid, name in (("ann", "Ann"), ("ben", "Ben"))]
    batch += [{"type": "signup.completed", "contact_id": cid, "data": {}} for cid in ("ann", "ben")]
    assert api.post("/v1/events", json={"batch": batch}).status_code == 202
    settle(api)
    expect(node(page, "wait_1").get_by_test_id("count-now")).to_have_text("2 here", timeout=20_000)
    watched.shot("04-editor-live")
    api.post("/v1/events", json={"type": "order.placed", "contact_id": "ben", "data": {"order_id": "o1", "amount": "5"}})
    settle(api)
    expect(node(page, "wait_1").get_by_test_id("count-now")).to_have_text("1 here", timeout=20_000)

    # pause and resume
    page.get_by_role("button", name="Pause").click()
    expect(page.locator(".toolbar .badge")).to_have_text("paused")
    assert api.get("/v1/journeys/welcome").json()["status"] == "paused"
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".toolbar .badge")).to_have_text("published")

    # the contact and its position
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_label("Search").fill("ann")
    page.get_by_role("link", name="Ann").click()
    page.wait_for_url(re.compile(r"/contacts/ann$"))
    positions = page.get_by_test_id("contact-journeys")
    expect(positions).to_contain_text("welcome")
    expect(positions.locator(".position")).to_have_text("wait_1")
    expect(page.locator(".timeline")).to_contain_text("signup.completed")
    watched.shot("05-contact")

    # a CSV import with one bad row
    page.get_by_role("link", name="Contacts", exact=True).click()
    page.get_by_role("link", name="Import CSV").click()
    csv = tmp_path / "contacts.csv"
    csv.write_text("email,first_name\ncid@example.com,Cid\nnot-an-email,Broken\ndee@example.com,Dee\n")
    page.get_by_label("CSV file").set_input_files(str(csv))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_test_id("import-summary")).to_have_text("3 rows: 2 created, 0 updated, 1 failed.")
    bad = page.get_by_test_id("import-errors").locator("tbody tr")
    expect(bad).to_have_count(1)
    expect(bad.locator("td").first).to_have_text("3")
    expect(bad).to_contain_text("not-an-email")
    watched.shot("06-import")
    page.get_by_role("link", name="See the contacts").click()
    expect(page.get_by_text("4 contacts")).to_be_visible()

    assert watched.errors == []


def test_ui_analyst_sees_without_changing(ui_server, watched):
    from playwright.sync_api import expect

    page, api = watched.page, ui_server.api
    ui_server.create_user(ANALYST_EMAIL, "analyst")
    graph = {"id": "one-step", "name": "One step", "nodes": [
        {"id": "start", "type": "entry", "position": {"x": 0, "y": 0}, "data": {"trigger": {"event": "x.happened"}}},
        {"id": "done", "type": "end", "position": {"x": 0, "y": 150}, "data": {"label": "Done"}}],
        "edges": [{"id": "e1", "source": "start", "target": "done"}]}
    assert api.put("/v1/journeys/one-step", json=graph).json()["problems"] == []
    assert api.post("/v1/journeys/one-step/publish").status_code == 200

    sign_in(page, ui_server.base, ANALYST_EMAIL, ui_server.env["SB_UI_TEST_PASSWORD"])
    row = page.locator("tr[data-journey='one-step']")
    expect(row).to_contain_text("published")
    expect(row).to_contain_text("v1")
    expect(page.get_by_role("button", name="New journey")).to_have_count(0)
    row.get_by_role("link", name="One step").click()
    expect(node(page, "done")).to_be_visible()
    expect(page.get_by_text("Read-only: the analyst role cannot change journeys.")).to_be_visible()
    for name in ("Publish", "Pause", "Auto-layout"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.locator(".palette")).to_have_count(0)
    page.get_by_role("button", name="Validate").click()
    expect(page.get_by_test_id("problem-count")).to_have_text("0 errors")
    # a published version opens read-only from the history
    page.get_by_label("Version").select_option("1")
    page.wait_for_url(re.compile(r"/journeys/one-step/versions/1$"))
    expect(page.get_by_text("Version 1 as published (read-only).")).to_be_visible()
    watched.shot("01-analyst-version")

    # the session survives a reload (the CSRF token comes back from GET /v1/session)
    page.reload()
    expect(node(page, "start")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/sign-in"))
    page.goto(f"{ui_server.base}/contacts")
    page.wait_for_url(re.compile(r"/sign-in\?next=%2Fcontacts"))
    assert watched.errors == []
