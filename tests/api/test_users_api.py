"""Managing users over HTTP (/v1/users, admin only): create, list, read and change the users
of the admin's own workspace; bad input names its field; nobody else's users are seen or
touched; a password or its hash is never returned; a signed-in admin manages users too."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.users import UserDirectory
from tests.api.conftest import error_locs

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


@pytest.fixture
def users(app_client):
    directory = UserDirectory(app_client.services.data_dir / "users.db", hasher=FAST)
    app_client.services.users = directory
    yield directory
    directory.close()


def test_admin_creates_lists_and_reads_users(app_client, users):
    created = app_client.post("/v1/users", json={"email": "Ann@Example.com", "password": PASSWORD, "role": "analyst"})
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in ("email", "role", "workspace", "disabled")} == \
        {"email": "ann@example.com", "role": "analyst", "workspace": "default", "disabled": False}
    assert app_client.post("/v1/users", json={"email": "bob@example.com", "password": PASSWORD,
                                              "role": "redeemer"}).status_code == 201
    listed = app_client.get("/v1/users")
    assert [(u["email"], u["role"]) for u in listed.json()["items"]] == \
        [("ann@example.com", "analyst"), ("bob@example.com", "redeemer")]
    assert app_client.get("/v1/users/ANN@example.com").json() == created.json()
    for response in (created, listed):
        assert "password" not in response.text and "argon2" not in response.text
    assert users.sign_in("ann@example.com", PASSWORD, 0) is not None


@pytest.mark.parametrize("body, loc, says", [
    ({"email": "ann@example.com", "password": "short", "role": "analyst"}, "password", "at least 10 characters"),
    ({"email": "ann@example.com", "password": "ann@example.com", "role": "analyst"}, "password", "email address"),
    ({"email": "ann", "password": PASSWORD, "role": "analyst"}, "email", "not an email address"),
    ({"email": "ann@example.com", "password": PASSWORD, "role": "ingest"}, "role", "unknown role 'ingest'"),
    ({"email": "ann@example.com", "password": PASSWORD}, "role", "Field required"),
    ({"email": "ann@example.com", "password": PASSWORD, "role": "analyst", "workspace": "x"}, "workspace",
     "unknown field"),
])
def test_bad_input_is_422_naming_the_field(app_client, users, body, loc, says):
    response = app_client.post("/v1/users", json=body)
    assert response.status_code == 422, response.text
    assert error_locs(response) == [loc]
    assert says in response.json()["error"]["details"][0]["message"]
    assert app_client.get("/v1/users").json()["items"] == []


def test_the_same_email_twice_is_a_conflict(app_client, users):
    assert app_client.post("/v1/users", json={"email": "ann@example.com", "password": PASSWORD,
                                              "role": "analyst"}).status_code == 201
    again = app_client.post("/v1/users", json={"email": "ANN@example.com", "password": PASSWORD, "role": "admin"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert [u["role"] for u in app_client.get("/v1/users").json()["items"]] == ["analyst"]


def test_patch_changes_role_disabled_and_password(app_client, users):
    users.create("ann@example.com", PASSWORD, "analyst")
    changed = app_client.patch("/v1/users/ann@example.com", json={"role": "marketer", "disabled": True})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["role"], changed.json()["disabled"]) == ("marketer", True)
    enabled = app_client.patch("/v1/users/Ann@Example.com", json={"disabled": False, "password": "a fresh password"})
    assert enabled.status_code == 200 and enabled.json()["disabled"] is False
    assert users.sign_in("ann@example.com", PASSWORD, 0) is None
    assert users.sign_in("ann@example.com", "a fresh password", 0) is not None
    for body, loc in (({}, "body"), ({"password": "short"}, "password"), ({"role": "ingest"}, "role"),
                      ({"disabled": "maybe"}, "disabled"), ({"email": "x@example.com"}, "email")):
        response = app_client.patch("/v1/users/ann@example.com", json=body)
        assert response.status_code == 422 and error_locs(response) == [loc], (body, response.text)
    assert users.get("ann@example.com")["role"] == "marketer"


def test_users_of_other_workspaces_are_not_found(app_client, users):
    users.create("bob@example.com", PASSWORD, "analyst", workspace="acme")
    assert app_client.get("/v1/users").json()["items"] == []
    for response in (app_client.get("/v1/users/bob@example.com"),
                     app_client.patch("/v1/users/bob@example.com", json={"role": "admin"}),
                     app_client.patch("/v1/users/nobody@example.com", json={"role": "admin"})):
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert users.get("bob@example.com")["role"] == "analyst"


@pytest.mark.parametrize("role", ["marketer", "analyst", "ingest", "redeemer"])
def test_only_admins_manage_users(app_client, users, role_headers, role):
    users.create("ann@example.com", PASSWORD, "analyst")
    headers = role_headers(role)
    for method, path, body in (("GET", "/v1/users", None), ("GET", "/v1/users/ann@example.com", None),
                               ("POST", "/v1/users", {"email": "x@example.com", "password": PASSWORD, "role": "admin"}),
                               ("PATCH", "/v1/users/ann@example.com", {"role": "admin"})):
        response = app_client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (role, method, path, response.text)
    assert [(u["email"], u["role"]) for u in users.list()] == [("ann@example.com", "analyst")]


def test_a_signed_in_admin_manages_users_of_their_workspace(app_client, users):
    users.create("root@acme.example", PASSWORD, "admin", workspace="acme")
    users.create("ann@example.com", PASSWORD, "analyst")
    browser = TestClient(app_client.app)
    try:
        csrf = browser.post("/v1/session", json={"email": "root@acme.example", "password": PASSWORD}).json()["csrf_token"]
        body = {"email": "bob@acme.example", "password": PASSWORD, "role": "marketer"}
        assert browser.post("/v1/users", json=body).status_code == 403  # no CSRF token
        created = browser.post("/v1/users", json=body, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201 and created.json()["workspace"] == "acme"
        assert [u["email"] for u in browser.get("/v1/users").json()["items"]] == ["root@acme.example",
                                                                                   "bob@acme.example"]
        foreign = browser.patch("/v1/users/ann@example.com", json={"disabled": True}, headers={"X-CSRF-Token": csrf})
        assert foreign.status_code == 404
    finally:
        browser.close()
    assert users.get("ann@example.com")["disabled"] is False
