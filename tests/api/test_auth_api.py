"""API keys and roles: /healthz needs no key, every /v1 route does; admin manages keys;
analyst reads but cannot publish or ingest; ingest posts events but cannot read
contacts; a refused request changes nothing."""

from __future__ import annotations

import pytest

from journeys.library import library_journey
from tests.api.conftest import contact_ids, load_templates, log_ids
from tests.support import ADMIN, settle

EVENT = {"type": "contact.created", "contact_id": "c9", "data": {"email": "c9@example.com"}}
TRACK = {"userId": "c9", "event": "Product Viewed"}

# (method, path, json body, roles allowed besides admin)
ROUTES = [
    ("GET", "/v1/contacts", None, {"marketer", "analyst"}),
    ("GET", "/v1/contacts/c1", None, {"marketer", "analyst"}),
    ("GET", "/v1/journeys", None, {"marketer", "analyst"}),
    ("GET", "/v1/journeys/abandoned-cart/stats", None, {"marketer", "analyst"}),
    ("GET", "/v1/templates", None, {"marketer", "analyst"}),
    ("GET", "/v1/outbox", None, {"marketer", "analyst"}),
    ("GET", "/v1/status", None, {"marketer", "analyst"}),
    ("POST", "/v1/events", EVENT, {"marketer", "ingest"}),
    ("POST", "/v1/track", TRACK, {"marketer", "ingest"}),
    ("POST", "/v1/identify", {"userId": "c9", "traits": {"plan": "x"}}, {"marketer", "ingest"}),
    ("POST", "/v1/contacts", {"contact_id": "c8"}, {"marketer"}),
    ("PATCH", "/v1/contacts/c1", {"first_name": "Changed"}, {"marketer"}),
    ("PUT", "/v1/templates/new-one", {"channel": "sms", "text": "hi"}, {"marketer"}),
    ("PUT", "/v1/journeys/abandoned-cart", library_journey("abandoned-cart"), {"marketer"}),
    ("POST", "/v1/journeys/abandoned-cart/publish", None, {"marketer"}),
    ("POST", "/v1/journeys/abandoned-cart/pause", None, {"marketer"}),
    ("GET", "/v1/keys", None, set()),
    ("POST", "/v1/keys", {"role": "analyst"}, set()),
]


def seed(client) -> None:
    load_templates(client)
    assert client.put("/v1/journeys/abandoned-cart", json=library_journey("abandoned-cart")).status_code == 200
    client.post("/v1/contacts", params={"wait": "true"}, json={"contact_id": "c1", "first_name": "Ann"})


def test_healthz_needs_no_key(app_client):
    response = app_client.get("/healthz", headers={"Authorization": ""})
    assert response.status_code == 200 and response.json()["status"] == "ok"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic " + ADMIN, ADMIN,
                                    "Bearer sb_unknown_key_123456789"])
def test_missing_or_unknown_key_is_401(app_client, header):
    saved = app_client.headers.pop("authorization")
    try:
        headers = {"Authorization": header} if header is not None else {}
        for method, path, body, _ in ROUTES:
            response = app_client.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            error = response.json()["error"]
            assert error["code"] == "unauthorized"
            assert "Bearer" in error["message"] or "unknown" in error["message"]
    finally:
        app_client.headers["authorization"] = saved
    assert log_ids(app_client) == []
    assert app_client.get("/v1/keys").json()["items"][0]["role"] == "admin"


@pytest.mark.parametrize("role", ["marketer", "analyst", "ingest", "redeemer"])
def test_role_permissions(app_client, role_headers, role):
    seed(app_client)
    headers = role_headers(role)
    for method, path, body, allowed in ROUTES:
        response = app_client.request(method, path, json=body, headers=headers)
        if role in allowed:
            assert response.status_code < 400, (role, method, path, response.text)
        else:
            assert response.status_code == 403, (role, method, path, response.text)
            error = response.json()["error"]
            assert error["code"] == "forbidden" and f"role '{role}'" in error["message"]


@pytest.mark.parametrize("role", ["analyst", "redeemer"])
def test_forbidden_writes_change_nothing(app_client, role_headers, role):
    seed(app_client)
    settle(app_client)
    headers = role_headers(role)
    events_before, contacts_before = log_ids(app_client), contact_ids(app_client)
    keys_before = app_client.get("/v1/keys").json()["items"]
    assert app_client.post("/v1/events", json={"batch": [EVENT]}, headers=headers).status_code == 403
    assert app_client.post("/v1/contacts", json={"contact_id": "x"}, headers=headers).status_code == 403
    assert app_client.delete("/v1/contacts/c1", headers=headers).status_code == 403
    assert app_client.post("/v1/journeys/abandoned-cart/publish", headers=headers).status_code == 403
    assert app_client.put("/v1/journeys/abandoned-cart", json={"nodes": []}, headers=headers).status_code == 403
    assert app_client.delete("/v1/templates/cart-offer", headers=headers).status_code == 403
    assert app_client.post("/v1/keys", json={"role": "admin"}, headers=headers).status_code == 403
    # a forbidden request with a bad body is still 403 (no hint about the payload)
    assert app_client.post("/v1/contacts", json={"bogus": 1}, headers=headers).status_code == 403
    assert log_ids(app_client) == events_before and contact_ids(app_client) == contacts_before
    journey = app_client.get("/v1/journeys/abandoned-cart").json()
    assert journey["status"] == "draft" and journey["versions"] == []
    assert len(journey["draft"]["nodes"]) == len(library_journey("abandoned-cart")["nodes"])
    assert app_client.get("/v1/templates/cart-offer").status_code == 200
    assert app_client.get("/v1/keys").json()["items"] == keys_before


def test_ingest_key_posts_events_but_cannot_read_them_back(app_client, role_headers):
    headers = role_headers("ingest")
    response = app_client.post("/v1/events", json={**EVENT, "id": "from-ingest"}, headers=headers)
    assert response.status_code == 202 and response.json()["accepted"] == ["from-ingest"]
    settle(app_client)
    assert app_client.get("/v1/contacts/c9", headers=headers).status_code == 403
    assert app_client.get("/v1/contacts/c9").json()["recent_events"][0]["id"] == "from-ingest"


def test_admin_manages_keys(app_client):
    created = app_client.post("/v1/keys", json={"role": "analyst", "name": "BI tool"})
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith("sb_") and key["role"] == "analyst" and key["name"] == "BI tool"
    listed = app_client.get("/v1/keys").json()["items"]
    assert {k["role"] for k in listed} == {"admin", "analyst"}
    assert all("secret" not in k and key["secret"] not in str(k) for k in listed)
    analyst = {"Authorization": f"Bearer {key['secret']}"}
    assert app_client.get("/v1/contacts", headers=analyst).status_code == 200

    assert app_client.delete(f"/v1/keys/{key['id']}").status_code == 204
    revoked = app_client.get("/v1/contacts", headers=analyst)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]["message"]
    [entry] = [k for k in app_client.get("/v1/keys").json()["items"] if k["id"] == key["id"]]
    assert entry["revoked"] is True


def test_bad_key_requests_change_nothing(app_client):
    before = app_client.get("/v1/keys").json()["items"]
    for payload, loc in (({"role": "superuser"}, "role"), ({"role": "analyst", "scope": "all"}, "scope"),
                         ({}, "role"), ({"role": ["admin"]}, "role"), ({"role": "analyst", "name": "x" * 101}, "name")):
        response = app_client.post("/v1/keys", json=payload)
        assert response.status_code == 422, (payload, response.text)
        assert [d["loc"] for d in response.json()["error"]["details"]] == [loc]
    assert app_client.post("/v1/keys", content=b"{", headers={"Content-Type": "application/json"}).status_code == 400
    for key_id in ("not-a-key", "00000000-0000-0000-0000-000000000000"):
        assert app_client.delete(f"/v1/keys/{key_id}").status_code == 404
    assert app_client.get("/v1/keys").json()["items"] == before
    assert app_client.get("/v1/contacts").status_code == 200  # the admin key still works


def test_keys_are_scoped_to_their_workspace(app_client):
    app_client.post("/v1/contacts", params={"wait": "true"}, json={"contact_id": "c1", "email": "c1@example.com"})
    secret, _ = app_client.services.definitions.create_key("acme", "admin", "acme admin")
    acme = {"Authorization": f"Bearer {secret}"}
    assert app_client.get("/v1/contacts", headers=acme).json()["total"] == 0
    assert app_client.get("/v1/contacts/c1", headers=acme).status_code == 404
    assert app_client.get("/v1/journeys", headers=acme).json()["items"] == []
    wrong = app_client.post("/v1/events", json={**EVENT, "workspace": "default"}, headers=acme)
    assert wrong.status_code == 422 and wrong.json()["error"]["details"][0]["loc"] == "workspace"
    ok = app_client.post("/v1/contacts", params={"wait": "true"}, json={"contact_id": "a1"}, headers=acme)
    assert ok.status_code == 202
    assert [c["contact_id"] for c in app_client.get("/v1/contacts", headers=acme).json()["items"]] == ["a1"]
    assert contact_ids(app_client) == ["c1"]
    assert [k["workspace"] for k in app_client.get("/v1/keys", headers=acme).json()["items"]] == ["acme"]
