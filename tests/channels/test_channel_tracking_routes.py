"""Tracking routes on the in-process app: open pixel, click redirect, unsubscribe page,
RFC 8058 one-click and the preferences form; and the template sandbox through preview."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from api.signing_key import signing_key
from engine.tracking import Tracker
from tests.api.conftest import log_records
from tests.support import settle

MSG = {"workspace": "default", "contact_id": "ann", "message_id": "m_0f3a5c7e9b1d2f4a6c8e0a1b",
       "channel": "email", "journey_id": "abandoned-cart"}
SHOP = "https://shop.example.com/cart/k-42?utm_source=switchback&utm_medium=email"
NO_KEY = {"Authorization": "Bearer not-a-key"}  # mail links carry no API key; a wrong one changes nothing
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


def tracker_of(client) -> Tracker:
    settings = client.services.settings
    return Tracker(signing_key(settings), settings.public_url())


def path_of(url: str) -> str:
    return urlsplit(url).path


def tracking_events(client, kind: str | None = None) -> list[dict]:
    return [r for r in log_records(client) if r["source"] == "tracking" and kind in (None, r["type"])]


def create_ann(client) -> None:
    response = client.post("/v1/contacts", params={"wait": "true"},
                           json={"contact_id": "ann", "email": "ann@example.com", "phone": "+4712345678"})
    assert response.status_code == 202, response.text


def unsubscribed(client) -> list[str]:
    settle(client)
    return client.services.contact_state("default", "ann")["unsubscribed"]


def checked(page: str) -> dict[str, bool]:
    boxes = re.findall(r'<input type="checkbox" name="channel" value="(\w+)"( checked)?>', page)
    return {channel: bool(mark) for channel, mark in boxes}


def test_open_pixel_records_message_opened(app_client):
    tracker = tracker_of(app_client)
    app_client.post("/v1/testing/clock/advance", json={"duration": "P3650D"})
    response = app_client.get(path_of(tracker.open_url(MSG)), headers=NO_KEY)
    assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a") and len(response.content) < 100
    assert "no-store" in response.headers["cache-control"]
    assert app_client.get(path_of(tracker.open_url(MSG)), headers=NO_KEY).status_code == 200
    opened = tracking_events(app_client)
    assert [e["type"] for e in opened] == ["message.opened", "message.opened"]
    first = opened[0]
    assert (first["workspace"], first["contact_id"]) == ("default", "ann")
    assert first["data"] == {"message_id": MSG["message_id"], "journey_id": "abandoned-cart", "channel": "email",
                             "via": "pixel"}
    assert opened[0]["id"] != opened[1]["id"]  # each open is kept; unique opens count data.message_id
    assert first["occurred_at"][:4] >= "2035"  # stamped with the app's (here virtual, 10 years ahead) clock
    settle(app_client)
    contact = app_client.services.contact_state("default", "ann")
    assert [(e["kind"], e["message_id"]) for e in contact["engaged"]] == [("opened", MSG["message_id"])] * 2


def test_bad_open_tokens_get_the_gif_and_record_nothing(app_client):
    tracker = tracker_of(app_client)
    forged = Tracker(b"some-other-secret-0123456789abcdef", tracker.base_url).open_url(MSG)
    for path in (path_of(forged), "/o/garbage", path_of(tracker.click_url(MSG, SHOP)).replace("/c/", "/o/")):
        response = app_client.get(path, headers=NO_KEY)
        assert response.status_code == 200 and response.headers["content-type"] == "image/gif"
    assert tracking_events(app_client) == []


def test_click_redirects_to_the_signed_link_and_records_it(app_client):
    tracker = tracker_of(app_client)
    response = app_client.get(path_of(tracker.click_url(MSG, SHOP)), headers=NO_KEY, follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == SHOP
    assert "no-store" in response.headers["cache-control"]
    [clicked] = tracking_events(app_client)
    assert clicked["type"] == "message.clicked" and clicked["contact_id"] == "ann"
    assert clicked["data"] == {"message_id": MSG["message_id"], "journey_id": "abandoned-cart", "channel": "email",
                               "url": SHOP, "via": "redirect"}


def test_forged_or_altered_click_tokens_never_redirect(app_client):
    tracker = tracker_of(app_client)
    good = path_of(tracker.click_url(MSG, SHOP))
    forged = Tracker(b"some-other-secret-0123456789abcdef", tracker.base_url).click_url(MSG, "https://evil.example/")
    altered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
    for path in (path_of(forged), altered, "/c/garbage", path_of(tracker.open_url(MSG)).replace("/o/", "/c/"),
                 path_of(tracker.unsubscribe_url(MSG)).replace("/u/", "/c/")):
        response = app_client.get(path, headers=NO_KEY, follow_redirects=False)
        assert response.status_code == 404, path
        assert "location" not in response.headers
        assert "text/html" in response.headers["content-type"] and "Link not valid" in response.text
        assert "evil.example" not in response.text
    assert tracking_events(app_client) == []


def test_unsubscribe_page_shows_the_contacts_preferences(app_client):
    create_ann(app_client)
    tracker = tracker_of(app_client)
    page = app_client.get(path_of(tracker.unsubscribe_url(MSG)), headers=NO_KEY)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Unsubscribe from email" in page.text and "<script" not in page.text
    assert checked(page.text) == {"email": True, "sms": True, "whatsapp": True}
    assert tracking_events(app_client) == []  # looking changes nothing (link scanners fetch GET URLs)
    assert app_client.get("/u/garbage", headers=NO_KEY).status_code == 404
    # an SMS message's page offers to leave SMS
    sms_page = app_client.get(path_of(tracker.unsubscribe_url({**MSG, "channel": "sms"})), headers=NO_KEY)
    assert "Unsubscribe from SMS" in sms_page.text


def test_one_click_unsubscribe_records_once_and_the_contact_shows_it(app_client):
    create_ann(app_client)
    tracker = tracker_of(app_client)
    path = path_of(tracker.unsubscribe_url(MSG))
    response = app_client.post(path, data=ONE_CLICK, headers=NO_KEY)
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    [event] = tracking_events(app_client)
    assert event["type"] == "contact.unsubscribed" and event["contact_id"] == "ann"
    assert event["id"] == f"unsub:{MSG['message_id']}:email:0"
    assert event["data"] == {"message_id": MSG["message_id"], "journey_id": "abandoned-cart", "channel": "email",
                             "via": "one-click"}
    # a mail client that posts twice at once records nothing new (same id), nor one posting later
    assert app_client.post(path, data=ONE_CLICK, headers=NO_KEY).status_code == 200
    assert unsubscribed(app_client) == ["email"]
    assert app_client.post(path, data=ONE_CLICK, headers=NO_KEY).status_code == 200
    assert len(tracking_events(app_client)) == 1
    assert app_client.get("/v1/contacts/ann").json()["unsubscribed"] == ["email"]
    assert checked(app_client.get(path, headers=NO_KEY).text) == {"email": False, "sms": True, "whatsapp": True}


def test_one_click_as_multipart_form(app_client):
    create_ann(app_client)
    body = (b'--sbB\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--sbB--\r\n')
    response = app_client.post(path_of(tracker_of(app_client).unsubscribe_url({**MSG, "channel": "sms"})),
                               content=body, headers={**NO_KEY, "Content-Type": "multipart/form-data; boundary=sbB"})
    assert response.status_code == 200, response.text
    assert unsubscribed(app_client) == ["sms"]


def test_preferences_form_changes_each_channel(app_client):
    create_ann(app_client)
    path = path_of(tracker_of(app_client).unsubscribe_url(MSG))
    saved = app_client.post(path, data={"action": "preferences", "channel": ["sms"]}, headers=NO_KEY)
    assert saved.status_code == 200 and "Your preferences are saved" in saved.text
    assert unsubscribed(app_client) == ["email", "whatsapp"]
    assert checked(app_client.get(path, headers=NO_KEY).text) == {"email": False, "sms": True, "whatsapp": False}
    # back on every channel: two contact.subscribed events, none for sms (unchanged)
    app_client.post(path, data={"action": "preferences", "channel": ["email", "sms", "whatsapp"]}, headers=NO_KEY)
    assert unsubscribed(app_client) == []
    changes = [(e["type"], e["data"]["channel"], e["data"]["via"]) for e in tracking_events(app_client)]
    assert changes == [("contact.unsubscribed", "email", "preferences"), ("contact.unsubscribed", "whatsapp", "preferences"),
                       ("contact.subscribed", "email", "preferences"), ("contact.subscribed", "whatsapp", "preferences")]
    # the page's button, after re-subscribing through this same message: not mistaken for a repeat
    button = app_client.post(path, data={"action": "unsubscribe"}, headers=NO_KEY)
    assert button.status_code == 200 and "You are unsubscribed" in button.text
    assert unsubscribed(app_client) == ["email"]
    last = tracking_events(app_client)[-1]
    assert last["id"] == f"unsub:{MSG['message_id']}:email:4" and last["data"]["via"] == "page"


@pytest.mark.parametrize("form", [
    {"action": "preferences", "channel": ["email", "fax"]},
    {"action": "delete-everything"},
    {"something": "else"},
])
def test_bad_unsubscribe_posts_change_nothing(app_client, form):
    create_ann(app_client)
    tracker = tracker_of(app_client)
    response = app_client.post(path_of(tracker.unsubscribe_url(MSG)), data=form, headers=NO_KEY)
    assert response.status_code == 422 and "Nothing changed" in response.text
    forged = Tracker(b"some-other-secret-0123456789abcdef", tracker.base_url).unsubscribe_url(MSG)
    assert app_client.post(path_of(forged), data=ONE_CLICK, headers=NO_KEY).status_code == 404
    open_token = path_of(tracker.open_url(MSG)).replace("/o/", "/u/")
    assert app_client.post(open_token, data=ONE_CLICK, headers=NO_KEY).status_code == 404
    assert tracking_events(app_client) == []
    assert unsubscribed(app_client) == []


def test_tracking_source_is_reserved_for_these_routes(app_client):
    response = app_client.post("/v1/events", json={"type": "message.clicked", "contact_id": "ann", "source": "tracking",
                                                   "data": {"url": "https://x.example/"}})
    assert response.status_code == 422 and "source" in response.text


def test_template_sandbox_escape_fails_safely_in_preview(app_client):
    source = "<p>Hi</p>\n{{ ''.__class__.__mro__ }}"
    refused = app_client.put("/v1/templates/evil", json={"channel": "email", "subject": "Hi", "html": source})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "template_error"
    # stored behind the API's back (an older version, an import), preview still refuses it
    app_client.services.definitions.save_template("default", {"id": "evil", "channel": "email", "subject": "Hi",
                                                              "html": source})
    response = app_client.post("/v1/templates/evil/preview", json={"sample": {"first_name": "Ann"}})
    assert response.status_code == 422 and response.json()["error"]["code"] == "template_error"
    error = response.json()["error"]
    assert error["details"][0]["loc"] == "html" and error["message"].startswith("html: line 2: ")
    assert "not allowed" in error["message"]
    for leak in ("<class", "class '", "object>", "builtins", "<built-in"):
        assert leak not in response.text, leak
