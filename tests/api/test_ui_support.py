"""The web UI's support reads (api/routes/ui_support.py): ``GET /v1/analytics/daily``."""

from __future__ import annotations

from journeys.events import iso_from_epoch
from tests.support import settle

PROMO = {"channel": "email", "subject": "Hello {{ contact.first_name }}", "text": "Our winter sale starts now."}


def broadcast_to_everyone(client) -> dict:
    batch = [{"type": "contact.created", "contact_id": cid, "data": {"email": f"{cid}@example.com", "first_name": cid}}
             for cid in ("ann", "ben", "cid")]
    batch.append({"type": "contact.created", "contact_id": "dee", "data": {"first_name": "Dee"}})  # no address
    assert client.post("/v1/events", json={"batch": batch}).status_code == 202
    assert client.put("/v1/templates/promo", json=PROMO).status_code == 200
    settle(client)
    response = client.post("/v1/broadcasts", json={"name": "Sale", "channel": "email", "template": "promo",
                                                    "audience": {"all": True}, "rate_limit_per_minute": 60_000})
    assert response.status_code == 201, response.text
    settle(client)
    return response.json()


def test_ui_daily_counts_a_broadcast_by_day_and_status(app_client):
    sent = broadcast_to_everyone(app_client)
    today = iso_from_epoch(app_client.services.clock.now())[:10]
    answer = app_client.get("/v1/analytics/daily", params={"broadcast_id": sent["id"]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["broadcast_id"] == sent["id"] and body["journey_id"] is None
    [day] = body["days"]
    assert day["day"] == today
    assert (day["queued"], day["sent"], day["failed"]) == (3, 3, 0)
    assert body["totals"]["sent"] == 3 and body["totals"]["orders"] == 0 and body["totals"]["revenue"] == {}
    # the broadcast's journey holds the same messages; another journey holds none
    by_journey = app_client.get("/v1/analytics/daily", params={"journey_id": sent["journey_id"]}).json()
    assert by_journey["totals"]["sent"] == 3
    assert by_journey["totals"]["suppressed"] == 1  # dee has no address
    assert app_client.get("/v1/analytics/daily", params={"journey_id": "nothing"}).json() == {
        "journey_id": "nothing", "broadcast_id": None, "days": [], "totals": {
            "queued": 0, "sent": 0, "delivered": 0, "opened": 0, "clicked": 0, "bounced": 0, "complained": 0,
            "failed": 0, "suppressed": 0, "orders": 0, "revenue": {}}}


def test_ui_daily_adds_orders_and_revenue_per_currency(app_client):
    broadcast_to_everyone(app_client)
    orders = [{"type": "order.placed", "contact_id": "ann", "data": {"order_id": "o1", "amount": "10.50", "currency": "EUR"}},
              {"type": "order.placed", "contact_id": "ben", "data": {"order_id": "o2", "amount": "4.25", "currency": "EUR"}},
              {"type": "order.placed", "contact_id": "cid", "data": {"order_id": "o3", "amount": "7", "currency": "USD"}}]
    assert app_client.post("/v1/events", json={"batch": orders}).status_code == 202
    settle(app_client)
    body = app_client.get("/v1/analytics/daily").json()  # the whole workspace (orders without attribution too)
    assert body["totals"]["orders"] == 3
    assert body["totals"]["revenue"] == {"EUR": 14.75, "USD": 7.0}
    assert body["totals"]["sent"] == 3
    assert body["days"][-1]["revenue"] == {"EUR": 14.75, "USD": 7.0}
    # the last N days of the engine's clock
    app_client.post("/v1/testing/clock/advance", json={"duration": "P3D"})
    assert app_client.get("/v1/analytics/daily", params={"days": 2}).json()["days"] == []
    assert len(app_client.get("/v1/analytics/daily", params={"days": 4}).json()["days"]) == 1


def test_ui_daily_refuses_bad_questions_and_roles(app_client, role_headers):
    both = app_client.get("/v1/analytics/daily", params={"journey_id": "a", "broadcast_id": "b"})
    assert both.status_code == 422
    assert [d["loc"] for d in both.json()["error"]["details"]] == ["broadcast_id"]
    assert app_client.get("/v1/analytics/daily", params={"days": 0}).status_code == 422
    assert app_client.get("/v1/analytics/daily", params={"journey_id": ""}).status_code == 422
    assert app_client.get("/v1/analytics/daily", headers=role_headers("analyst")).status_code == 200
    assert app_client.get("/v1/analytics/daily", headers=role_headers("redeemer")).status_code == 403
