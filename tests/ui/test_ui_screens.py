"""The web UI's other screens in a real browser (Debian's chromium via Playwright) against a
real ``switchback up``: a template's preview (and a strict merge-tag error under its
field), a segment built with the rule builder (live count, saved), a broadcast made with
the wizard (live progress), redeeming its QR offer at the till (accepted, then refused
with the reason), the analytics charts and the dev outbox; a redeemer sees only Offers.

Screenshots of every screen land in ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re


from tests.support import settle
from tests.ui.conftest import BROWSER_TEST
from tests.ui.test_ui_browser import sign_in

pytestmark = BROWSER_TEST

ADMIN_EMAIL = "grace@example.com"
REDEEMER_EMAIL = "till@example.com"
PROMO = {
    "name": "Winter promo", "channel": "email", "subject": "{{ contact.first_name }}, our sale starts now",
    "html": "<h1>Hello {{ contact.first_name }}</h1>"
            "{% if offer is defined and offer %}<p>Code: <b>{{ offer.token }}</b></p>{% endif %}",
    "text": "Hello {{ contact.first_name }}{% if offer is defined and offer %} code {{ offer.token }}{% endif %}",
}
# refusals the page shows itself (an unknown offer, a used-up one) are HTTP errors in the console too
EXPECTED_STATUSES = (404, 409)


def allow_refusals(watched) -> None:
    watched.EXPECTED = watched.EXPECTED + tuple(
        f"Failed to load resource: the server responded with a status of {status}" for status in EXPECTED_STATUSES)


def test_ui_screens_template_segment_broadcast_offer_analytics_outbox(ui_server, watched):
    from playwright.sync_api import expect

    page, api = watched.page, ui_server.api
    allow_refusals(watched)
    ui_server.create_user(ADMIN_EMAIL, "admin")
    batch = [{"type": "contact.created", "contact_id": cid,
              "data": {"email": f"{cid}@example.com", "first_name": name, "city": city, "tags": tags}}
             for cid, name, city, tags in (("ann", "Ann", "Berlin", ["vip"]), ("ben", "Ben", "Paris", []))]
    assert api.post("/v1/events", json={"batch": batch}).status_code == 202
    assert api.put("/v1/templates/promo", json=PROMO).status_code == 200
    settle(api)
    sign_in(page, ui_server.base, ADMIN_EMAIL, ui_server.env["SB_UI_TEST_PASSWORD"])

    # templates: the list, the preview with sample attributes, a strict error under its field
    page.get_by_role("link", name="Templates", exact=True).click()
    page.get_by_role("link", name="Winter promo").click()
    page.wait_for_url(re.compile(r"/templates/promo$"))
    expect(page.get_by_test_id("preview-subject")).to_have_text("Ann, our sale starts now")
    frame = page.frame_locator("iframe[title='HTML preview']")
    expect(frame.locator("h1")).to_have_text("Hello Ann")
    assert page.locator("iframe[title='HTML preview']").get_attribute("sandbox") == ""
    page.get_by_label("with a sample QR offer").check()
    expect(frame.locator("b")).to_have_text("preview-sample-TOKEN")
    # a merge tag inserted at the cursor that the sample does not have: the preview names the field
    html = page.get_by_label("HTML", exact=True)
    html.click()
    html.press("Control+End")
    page.get_by_label("Insert a merge tag").select_option("contact.city")
    expect(html).to_have_value(re.compile(r"\{\{ contact\.city \}\}$"))
    page.keyboard.press("Control+s")
    expect(page.get_by_test_id("preview-error")).to_contain_text("The html cannot be rendered")
    expect(page.get_by_test_id("preview-error")).to_contain_text("city")
    page.get_by_label("Sample attributes (name = value, one a line)").fill("first_name = Ann\ncity = Berlin")
    expect(frame.locator("body")).to_contain_text("Berlin")
    assert api.get("/v1/templates/promo").json()["html"].endswith("{{ contact.city }}")
    watched.shot("01-template")

    # segments: built with the rule builder, live count, saved
    page.get_by_role("link", name="Segments", exact=True).click()
    expect(page.get_by_text("No segments yet")).to_be_visible()
    page.get_by_role("link", name="New segment").click()
    page.get_by_label("Name", exact=True).fill("Berliners")
    expect(page.get_by_label("Id", exact=True)).to_have_value("berliners")
    page.get_by_label("Add a condition to this group").select_option("attr")
    expect(page.get_by_role("alert").filter(has_text="name the attribute")).to_be_visible()
    row = page.locator(".rule-row[data-kind=attr]")
    row.get_by_label("Attribute").fill("city")
    row.get_by_label("Value", exact=True).fill("Berlin")
    expect(page.get_by_test_id("segment-count")).to_have_text("1 contact")
    expect(page.locator(".sample")).to_contain_text("Ann")
    page.get_by_label("Add a condition to this group").select_option("tag")
    page.locator(".rule-row[data-kind=tag]").get_by_label("Tag").fill("nobody-has-this")
    expect(page.get_by_test_id("segment-count")).to_have_text("0 contacts")
    page.locator(".rule-row[data-kind=tag]").get_by_role("button", name="Remove this condition").click()
    expect(page.get_by_test_id("segment-count")).to_have_text("1 contact")
    watched.shot("02-segment")
    page.get_by_role("button", name="Save segment").click()
    page.wait_for_url(re.compile(r"/segments/berliners$"))
    expect(page.get_by_role("status").filter(has_text="Saved")).to_contain_text("1 entered")
    saved = api.get("/v1/segments/berliners").json()
    assert saved["rule"] == {"all": [{"attr": "city", "op": "eq", "value": "Berlin"}]}
    assert saved["kind"] == "dynamic"

    # broadcasts: the wizard with a live audience count and a QR offer, then live progress
    page.get_by_role("link", name="Broadcasts", exact=True).click()
    page.get_by_role("link", name="New broadcast").click()
    page.get_by_role("button", name="Next →").click()
    expect(page.get_by_text("give the broadcast a name")).to_be_visible()
    page.get_by_label("Name", exact=True).fill("Winter sale")
    page.get_by_label("Template", exact=True).select_option("promo")
    page.get_by_role("button", name="Next →").click()
    expect(page.get_by_test_id("audience-count")).to_contain_text("2 contacts")
    page.get_by_label("members of a segment").check()
    page.get_by_label("Segment", exact=True).select_option("berliners")
    expect(page.get_by_test_id("audience-count")).to_contain_text("1 contact")
    page.get_by_label("everyone").check()
    expect(page.get_by_test_id("audience-count")).to_contain_text("2 contacts (2 reachable by email)")
    page.get_by_role("button", name="Next →").click()
    page.get_by_label("attach a personal QR offer to every message").check()
    page.get_by_label("Value", exact=True).fill("10%")
    page.get_by_label("Description").fill("10% off in store")
    page.get_by_role("button", name="Next →").click()
    expect(page.get_by_test_id("broadcast-review")).to_contain_text("everyone")
    watched.shot("03-broadcast-review")
    page.get_by_role("button", name="Send broadcast").click()
    page.wait_for_url(re.compile(r"/broadcasts/(?!new$)[0-9a-z]+$"))
    broadcast_id = page.url.rsplit("/", 1)[1]
    settle(api)
    expect(page.get_by_test_id("progress-text")).to_have_text("2 of 2", timeout=20_000)
    expect(page.locator("[data-figure=sent] td")).to_have_text("2")
    expect(page.locator("h1 .badge")).to_have_text("completed")
    watched.shot("04-broadcast-progress")

    # offers: redeem the token issued with Ann's message, then again (refused, with the reason)
    [message] = api.get("/v1/outbox", params={"contact_id": "ann"}).json()["items"]
    token = re.search(r"code (\S+)", message["text"]).group(1)
    page.get_by_role("link", name="Offers", exact=True).click()
    page.get_by_label("Code (or the scanned link)").fill(f"http://shop.example/q/{token}")
    page.get_by_label("Where (optional)").fill("store 1")
    page.get_by_role("button", name="Redeem").click()
    outcome = page.get_by_test_id("redeem-outcome")
    expect(outcome).to_contain_text("Accepted")
    expect(outcome).to_contain_text("Use 1 of 1 · 10% · 10% off in store")
    watched.shot("05-offer-accepted")
    page.get_by_role("button", name="Redeem").click()
    expect(outcome).to_contain_text("Refused: Already used")
    expect(outcome).to_contain_text("store 1")
    page.get_by_label("Code (or the scanned link)").fill("not-a-real-token-at-all")
    page.get_by_role("button", name="Redeem").click()
    expect(outcome).to_contain_text("Refused: Unknown code")
    stats = page.get_by_test_id("offer-stats").locator("tbody tr").filter(has_text=broadcast_id)
    expect(stats.locator("td")).to_have_text(["2", "1", "1", "50.0%", re.compile(r"^(P|—)")])
    watched.shot("06-offer-refused")

    # analytics of the broadcast: the funnel chart and the days
    page.get_by_role("link", name="Analytics", exact=True).click()
    page.get_by_label("Of", exact=True).select_option(f"broadcast:{broadcast_id}")
    expect(page.get_by_test_id("funnel").locator(".recharts-surface")).to_be_visible()
    expect(page.get_by_test_id("funnel").locator("tr[data-stage=sent] td").first).to_have_text("2")
    expect(page.get_by_test_id("daily-chart").locator(".recharts-line")).to_have_count(4)  # sent, opened, clicked, orders
    watched.shot("07-analytics")

    # the outbox: choose a message, see it in a sandboxed frame
    page.get_by_role("link", name="Outbox", exact=True).click()
    page.get_by_role("button", name="Ann, our sale starts now").click()
    expect(page.get_by_test_id("outbox-message")).to_contain_text("ann@example.com")
    expect(page.frame_locator("iframe[title='Message HTML']").locator("h1")).to_have_text("Hello Ann")
    assert page.locator("iframe[title='Message HTML']").get_attribute("sandbox") == ""
    watched.shot("08-outbox")

    assert watched.errors == []


def test_ui_redeemer_sees_only_offers(ui_server, watched):
    from playwright.sync_api import expect

    page = watched.page
    allow_refusals(watched)
    ui_server.create_user(REDEEMER_EMAIL, "redeemer")
    page.goto(f"{ui_server.base}/")
    page.wait_for_url(re.compile(r"/sign-in"))
    page.get_by_label("Email").fill(REDEEMER_EMAIL)
    page.get_by_label("Password").fill(ui_server.env["SB_UI_TEST_PASSWORD"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/offers$"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link")).to_have_text(["Offers"])
    expect(page.get_by_test_id("offer-stats")).to_have_count(0)  # statistics are for admins, marketers, analysts
    page.get_by_label("Code (or the scanned link)").fill("campaign-contact-AAAAAAAAAAAAAAAAAAAAAA")
    page.get_by_role("button", name="Redeem").click()
    expect(page.get_by_test_id("redeem-outcome")).to_contain_text("Refused: Unknown code")
    watched.shot("01-redeemer")
    assert watched.errors == []
