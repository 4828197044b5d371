"""A QR offer from end to end: a journey's send node attaches an offer, the sender issues
one token per contact (recorded as offer.issued), the email carries the QR image and the
token, the shop redeems it once, and the stats count it."""

from __future__ import annotations

import re

import orjson

from tests.support import settle

TEMPLATE = {"channel": "email", "subject": "Your coupon",
            "html": "<p>Hi {{ contact.first_name }}</p><p><img src=\"{{ offer.qr_img }}\" alt=\"QR\"></p>",
            "text": "Code: {{ offer.token }} ({{ offer.description }})"}
JOURNEY = {"id": "coupon", "name": "Coupon on request",
           "nodes": [{"id": "start", "type": "entry", "data": {"trigger": {"event": "coupon.requested"}}},
                     {"id": "send", "type": "send", "data": {
                         "channel": "email", "template": "coupon",
                         "offer": {"kind": "qr", "expires_in": "P7D", "max_uses": 1, "description": "5 EUR off"}}},
                     {"id": "end", "type": "end", "data": {}}],
           "edges": [{"id": "e1", "source": "start", "target": "send"}, {"id": "e2", "source": "send", "target": "end"}]}


def log_of(client, kind):
    rows = client.services.log.connection().execute("SELECT body FROM log ORDER BY position").fetchall()
    return [e for e in (orjson.loads(r[0]) for r in rows) if e["type"] == kind]


def test_a_send_node_offer_is_issued_mailed_and_redeemed_once(app_client):
    c = app_client
    assert c.put("/v1/templates/coupon", json=TEMPLATE).status_code == 200
    assert c.put("/v1/journeys/coupon", json=JOURNEY).json()["problems"] == []
    assert c.post("/v1/journeys/coupon/publish").status_code == 200
    for who in ("ann", "bob"):
        c.post("/v1/contacts", json={"contact_id": who, "attributes": {"email": f"{who}@example.com",
                                                                       "first_name": who.title()}})
    settle(c)
    c.post("/v1/events", json={"batch": [{"type": "coupon.requested", "contact_id": "ann"},
                                         {"type": "coupon.requested", "contact_id": "bob"}]})
    settle(c)

    mails = {m["contact_id"]: m for m in c.get("/v1/outbox").json()["items"]}
    assert set(mails) == {"ann", "bob"}
    tokens = {who: re.search(r"Code: (\S+) \(5 EUR off\)", m["text"]).group(1) for who, m in mails.items()}
    assert tokens["ann"] != tokens["bob"] and tokens["ann"].startswith("coupon-ann-")
    assert 'src="data:image/png;base64,' in mails["ann"]["html"]
    issued = log_of(c, "offer.issued")
    assert sorted(e["contact_id"] for e in issued) == ["ann", "bob"]
    assert all(tokens["ann"] not in orjson.dumps(e).decode() for e in issued), "tokens stay out of the log"

    key = c.post("/v1/keys", json={"role": "redeemer", "name": "till 1"}).json()["secret"]
    till = {"Authorization": f"Bearer {key}"}
    first = c.post("/v1/offers/redeem", json={"token": tokens["ann"]}, headers=till)
    assert first.status_code == 200, first.text
    again = c.post("/v1/offers/redeem", json={"token": tokens["ann"]}, headers=till)
    assert again.status_code == 409 and again.json()["error"]["code"] == "used_up"
    assert c.post("/v1/offers/redeem", json={"token": "coupon-ann-forged"}, headers=till).status_code == 404
    settle(c)
    assert [e["contact_id"] for e in log_of(c, "offer.redeemed")] == ["ann"]
    stats = c.get("/v1/offers/stats", params={"campaign": "coupon"}).json()
    assert stats["issued"] == 2 and stats["redeemed"] == 1
