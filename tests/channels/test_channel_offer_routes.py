"""The offer routes (api/routes/offers.py) through the in-process app: redemption with a
``redeemer`` key and its refusals, roles, the ``offer.redeemed`` event, the staff view,
the public ``/q/`` page with its QR code, and the statistics."""

from __future__ import annotations

import base64
import io
import re

import orjson
import pytest
from PIL import Image

from api.routes.offers import offer_book
from engine.qr import qr_png
from journeys.events import parse_time

SPEC = {"kind": "qr", "expires_in": "P14D", "max_uses": 1, "value": "10%", "description": "10% off <b>everything</b>"}


@pytest.fixture
def client(app_client):
    yield app_client
    book = getattr(app_client.services, "offers", None)
    if book is not None:
        book.close()


@pytest.fixture
def key(client):
    """``key("redeemer")``: Authorization headers of a new key with that role."""

    def make(role: str) -> dict[str, str]:
        response = client.post("/v1/keys", json={"role": role, "name": f"{role} key"})
        assert response.status_code == 201, response.text
        return {"Authorization": f"Bearer {response.json()['secret']}"}

    return make


def issue(client, message_id="m1", spec=SPEC, campaign="spring-sale", contact="ann", now=None, workspace="default"):
    book = offer_book(client.services)
    now = client.services.clock.now() if now is None else now
    return book.issue(workspace, campaign, contact, message_id, spec, now)


def redeemed_events(client) -> list[dict]:
    rows = client.services.log.connection().execute("SELECT body FROM log ORDER BY position").fetchall()
    return [e for e in (orjson.loads(r[0]) for r in rows) if e["type"] == "offer.redeemed"]


def test_the_book_is_created_once_in_the_data_dir(client):
    book = offer_book(client.services)
    assert offer_book(client.services) is book is client.services.offers
    assert (client.services.data_dir / "offers.db").exists()


def test_redeem_with_a_redeemer_key_then_used_up(client, key):
    till = key("redeemer")
    offer = issue(client)
    done = client.post("/v1/offers/redeem", json={"token": offer["token"], "by": "store 12"}, headers=till)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["redeemed"] is True and body["use"] == 1 and body["replayed"] is False
    assert body["offer"]["status"] == "used_up" and body["offer"]["value"] == "10%"
    again = client.post("/v1/offers/redeem", json={"token": offer["token"]}, headers=till)
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "used_up" and "already used 1 of 1" in error["message"]
    assert again.json()["offer"]["redemptions"][0]["by"] == "store 12"
    events = redeemed_events(client)
    assert len(events) == 1
    event = events[0]
    assert event["contact_id"] == "ann" and event["source"] == "api" and event["id"].endswith(":1")
    assert {k: event["data"][k] for k in ("campaign", "value", "redeemed_at", "use", "by")} == {
        "campaign": "spring-sale", "value": "10%", "redeemed_at": body["redeemed_at"], "use": 1, "by": "store 12"}
    assert offer["token"] not in repr(event)


def test_a_retried_request_is_replayed_and_logged_once(client, key):
    till = key("redeemer")
    offer = issue(client, spec={**SPEC, "max_uses": 5})
    first = client.post("/v1/offers/redeem", json={"token": offer["token"], "request_id": "pos-1"}, headers=till)
    retry = client.post("/v1/offers/redeem", json={"token": offer["token"], "request_id": "pos-1"}, headers=till)
    assert first.status_code == retry.status_code == 200
    assert retry.json()["replayed"] is True and retry.json()["use"] == 1
    assert len(redeemed_events(client)) == 1
    assert client.get(f"/v1/offers/{offer['token']}").json()["uses"] == 1


def test_the_scanned_qr_url_is_accepted_as_the_token(client):
    offer = issue(client)
    response = client.post("/v1/offers/redeem", json={"token": offer["url"]})  # admin may redeem too
    assert response.status_code == 200, response.text


def test_expired_and_unknown_tokens(client):
    offer = issue(client, spec={**SPEC, "expires_in": "PT1H"})
    assert client.post("/v1/testing/clock/advance", json={"duration": "PT2H"}).status_code == 200
    expired = client.post("/v1/offers/redeem", json={"token": offer["token"]})
    assert expired.status_code == 410
    assert expired.json()["error"]["code"] == "expired" and "expired on" in expired.json()["error"]["message"]
    assert expired.json()["offer"]["status"] == "expired"
    for unknown in ("spring_sale-ann-" + "x" * 22, "not a token", "https://example.com/q/nope"):
        response = client.post("/v1/offers/redeem", json={"token": unknown})
        assert response.status_code == 404, unknown
        assert response.json()["error"]["code"] == "unknown" and "offer" not in response.json()
    other = issue(client, "m-other", workspace="elsewhere")  # another workspace's offer is unknown here
    assert client.post("/v1/offers/redeem", json={"token": other["token"]}).status_code == 404
    assert client.get(f"/v1/offers/{other['token']}").status_code == 404
    assert redeemed_events(client) == []


@pytest.mark.parametrize("body, loc", [
    ({}, "token"),
    ({"token": ""}, "token"),
    ({"token": "x" * 1001}, "token"),
    ({"token": "a-b-cccccccccccccccc", "extra": 1}, "extra"),
    ({"token": "a-b-cccccccccccccccc", "request_id": "r" * 101}, "request_id"),
])
def test_bad_bodies_name_the_field(client, body, loc):
    response = client.post("/v1/offers/redeem", json=body)
    assert response.status_code == 422
    assert loc in [d["loc"] for d in response.json()["error"]["details"]]


def test_roles(client, key):
    offer = issue(client, spec={**SPEC, "max_uses": 10})
    token = offer["token"]
    for role in ("marketer", "analyst", "ingest"):
        refused = client.post("/v1/offers/redeem", json={"token": token}, headers=key(role))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden", role
    assert client.get(f"/v1/offers/{token}", headers=key("analyst")).status_code == 403
    assert client.get(f"/v1/offers/{token}", headers=key("ingest")).status_code == 403
    for role in ("marketer", "redeemer"):
        assert client.get(f"/v1/offers/{token}", headers=key(role)).status_code == 200
    assert client.get("/v1/offers/stats", headers=key("redeemer")).status_code == 403
    assert client.get("/v1/offers/stats", headers=key("analyst")).status_code == 200
    assert client.post("/v1/offers/redeem", json={"token": token}, headers={"Authorization": ""}).status_code == 401
    assert redeemed_events(client) == [] and client.get(f"/v1/offers/{token}").json()["uses"] == 0


def test_staff_view(client, key):
    offer = issue(client)
    view = client.get(f"/v1/offers/{offer['token']}", headers=key("redeemer"))
    assert view.status_code == 200
    body = view.json()
    shown = ("status", "uses", "max_uses", "uses_left", "expires_at", "campaign", "contact_id")
    assert {k: body[k] for k in shown} == {
        "status": "active", "uses": 0, "max_uses": 1, "uses_left": 1, "expires_at": offer["expires_at"],
        "campaign": "spring-sale", "contact_id": "ann"}
    assert "qr_img" not in body
    assert client.get("/v1/offers/spring_sale-ann-" + "y" * 22).status_code == 404


def _page_png(page: str) -> bytes:
    found = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert found, page
    return base64.b64decode(found.group(1))


def test_public_page_shows_the_qr_code_and_the_offer_without_a_key(client):
    offer = issue(client)
    page = client.get(f"/q/{offer['token']}", headers={"Authorization": ""})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store" and "noindex" in page.headers["x-robots-tag"]
    png = _page_png(page.text)
    assert png == qr_png(offer["url"])  # the QR code holds the short URL
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "1"
    assert "10% off &lt;b&gt;everything&lt;/b&gt;" in page.text and "<b>everything" not in page.text
    assert "Show this code at the till" in page.text and offer["token"] in page.text
    assert "ann" not in page.text.replace(offer["token"], "")  # no contact id beyond the token itself
    alone = client.get(f"/q/{offer['token']}/qr.png", headers={"Authorization": ""})
    assert alone.status_code == 200 and alone.headers["content-type"] == "image/png"
    assert alone.content == png


def test_public_page_of_a_used_or_unknown_offer(client):
    offer = issue(client)
    assert client.post("/v1/offers/redeem", json={"token": offer["token"]}).status_code == 200
    used = client.get(f"/q/{offer['token']}", headers={"Authorization": ""})
    assert used.status_code == 200 and "This offer has been used." in used.text
    missing = client.get("/q/spring_sale-ann-" + "z" * 22, headers={"Authorization": ""})
    assert missing.status_code == 404 and "Offer not found" in missing.text
    assert client.get("/q/garbage", headers={"Authorization": ""}).status_code == 404
    assert client.get("/q/garbage/qr.png", headers={"Authorization": ""}).status_code == 404


def test_stats_endpoint(client):
    now = client.services.clock.now()
    book = offer_book(client.services)
    tokens = [issue(client, f"m{i}", contact=f"c{i}", now=now)["token"] for i in range(4)]
    issue(client, "w1", campaign="win-back", now=now)
    book.redeem("default", tokens[0], now + 3600)
    book.redeem("default", tokens[1], now + 3 * 3600)
    one = client.get("/v1/offers/stats", params={"campaign": "spring-sale"})
    assert one.status_code == 200
    shown = ("campaign", "issued", "redeemed", "redemption_rate", "median_time_to_redeem")
    assert {k: one.json()[k] for k in shown} == {
        "campaign": "spring-sale", "issued": 4, "redeemed": 2, "redemption_rate": 0.5, "median_time_to_redeem": "PT2H"}
    everything = client.get("/v1/offers/stats").json()
    assert everything["issued"] == 5 and everything["redemption_rate"] == 0.4
    assert [(c["campaign"], c["issued"]) for c in everything["campaigns"]] == [("spring-sale", 4), ("win-back", 1)]
    assert client.get("/v1/offers/stats", params={"campaign": "none-such"}).json()["issued"] == 0
    assert client.get("/v1/offers/stats", params={"campaign": ""}).status_code == 422


def test_redeemed_at_follows_the_service_clock(client):
    offer = issue(client)
    client.post("/v1/testing/clock/advance", json={"duration": "P1D"})
    before = client.services.clock.now()
    body = client.post("/v1/offers/redeem", json={"token": offer["token"]}).json()
    assert before - 0.001 <= parse_time(body["redeemed_at"]) <= client.services.clock.now() + 0.001
    assert parse_time(body["redeemed_at"]) >= parse_time(offer["issued_at"]) + 86400
