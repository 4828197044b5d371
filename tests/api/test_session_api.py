"""Signing in from a browser (/v1/session): the cookie's flags, who is signed in, role checks
through the cookie, CSRF on every change made with the cookie (API keys unaffected),
signing out everywhere, the same 401 for a wrong password and an unknown email, the
lock-out after repeated failures, disabled users, and the fixed 12-hour expiry."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from api.sessions import SESSION_COOKIE
from api.users import UserDirectory
from tests.support import ADMIN

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"
TEMPLATE = {"channel": "sms", "text": "hi"}


@pytest.fixture
def users(app_client):
    """The app's user directory, with cheap argon2 parameters so the tests stay fast."""
    directory = UserDirectory(app_client.services.data_dir / "users.db", hasher=FAST)
    app_client.services.users = directory
    yield directory
    directory.close()


@pytest.fixture
def browser(app_client, users):
    """``browser()``: a new client without an API key, keeping cookies like a browser."""
    opened = []

    def make() -> TestClient:
        client = TestClient(app_client.app)
        opened.append(client)
        return client

    yield make
    for client in opened:
        client.close()


def sign_in(client, email: str, password: str = PASSWORD) -> str:
    response = client.post("/v1/session", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["csrf_token"]


def advance(app_client, duration: str) -> None:
    assert app_client.post("/v1/testing/clock/advance", json={"duration": duration}).status_code == 200


def cookie_attributes(response) -> tuple[str, dict[str, str]]:
    header = response.headers["set-cookie"]
    first, *rest = [part.strip() for part in header.split(";")]
    name, _, value = first.partition("=")
    assert name == SESSION_COOKIE
    return value, {k.lower(): v for k, _, v in (p.partition("=") for p in rest)}


def test_sign_in_sets_a_strict_http_only_cookie(users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    response = browser().post("/v1/session", json={"email": "Ann@Example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {"email": "ann@example.com", "role": "analyst", "workspace": "default"}
    assert len(body["csrf_token"]) >= 32 and body["expires_at"].endswith("Z")
    value, flags = cookie_attributes(response)
    assert len(value) > 40 and "ann@example.com" not in value
    assert flags["httponly"] == "" and flags["samesite"].lower() == "strict" and flags["path"] == "/"
    assert flags["max-age"] == str(12 * 3600) and "secure" not in flags


def test_cookie_is_secure_behind_https(tmp_path):
    from api.app import create_app
    from api.services import Services
    from api.settings import Settings

    services = Services(Settings(data_dir=tmp_path / "https", admin_key=ADMIN, test_clock=True,
                                 base_url="https://switchback.example.com"))
    services.users = UserDirectory(tmp_path / "https" / "users.db", hasher=FAST)
    services.users.create("ann@example.com", PASSWORD, "analyst")
    try:
        with TestClient(create_app(services), base_url="https://switchback.example.com") as client:
            response = client.post("/v1/session", json={"email": "ann@example.com", "password": PASSWORD})
            assert response.status_code == 200, response.text
            _, flags = cookie_attributes(response)
            assert "secure" in flags and flags["httponly"] == "" and flags["samesite"].lower() == "strict"
            assert client.get("/v1/session").json()["user"]["email"] == "ann@example.com"
    finally:
        services.users.close()


def test_get_session_shows_who_is_signed_in(users, browser):
    users.create("ann@example.com", PASSWORD, "marketer")
    client = browser()
    response = client.get("/v1/session")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
    csrf = sign_in(client, "ann@example.com")
    again = client.get("/v1/session")
    assert again.status_code == 200
    assert again.json()["user"] == {"email": "ann@example.com", "role": "marketer", "workspace": "default"}
    assert again.json()["csrf_token"] == csrf


def test_wrong_password_and_unknown_email_get_the_same_401(users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    wrong = client.post("/v1/session", json={"email": "ann@example.com", "password": "not the password"})
    unknown = client.post("/v1/session", json={"email": "nobody@example.com", "password": PASSWORD})
    malformed = client.post("/v1/session", json={"email": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.json() == unknown.json() == malformed.json()
    assert "set-cookie" not in wrong.headers and "set-cookie" not in unknown.headers
    assert client.get("/v1/session").status_code == 401


def test_lock_out_after_ten_failures_then_back_after_fifteen_minutes(app_client, users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    for email in ("ann@example.com", "nobody@example.com"):
        for _ in range(10):
            assert client.post("/v1/session", json={"email": email, "password": "wrong guess!"}).status_code == 401
        locked = client.post("/v1/session", json={"email": email, "password": PASSWORD})
        assert locked.status_code == 429, locked.text
        assert locked.json()["error"]["code"] == "too_many_attempts"
        assert 1 <= int(locked.headers["retry-after"]) <= 15 * 60
    assert client.get("/v1/session").status_code == 401
    advance(app_client, "PT16M")
    sign_in(client, "ann@example.com")


def test_sign_in_must_be_json(users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    form = client.post("/v1/session", data={"email": "ann@example.com", "password": PASSWORD})
    text = client.post("/v1/session", content=f'{{"email": "ann@example.com", "password": "{PASSWORD}"}}',
                       headers={"Content-Type": "text/plain"})
    for response in (form, text):
        assert response.status_code == 415 and response.json()["error"]["code"] == "unsupported_media_type"
        assert "set-cookie" not in response.headers
    bad = client.post("/v1/session", json={"email": "ann@example.com"})
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["loc"] == "password"


def test_analyst_reads_but_cannot_publish_through_the_cookie(app_client, users, browser):
    assert app_client.put("/v1/templates/hello", json=TEMPLATE).status_code == 200
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    csrf = sign_in(client, "ann@example.com")
    assert client.get("/v1/templates").status_code == 200
    assert client.get("/v1/journeys").status_code == 200
    for method, path, body in (("POST", "/v1/journeys/hello/publish", None), ("PUT", "/v1/templates/x", TEMPLATE),
                               ("GET", "/v1/keys", None), ("GET", "/v1/users", None)):
        response = client.request(method, path, json=body, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "forbidden" and "role 'analyst'" in response.json()["error"]["message"]


def test_changes_through_the_cookie_need_the_csrf_token(app_client, users, browser):
    users.create("mia@example.com", PASSWORD, "marketer")
    client, other = browser(), browser()
    csrf = sign_in(client, "mia@example.com")
    other_csrf = sign_in(other, "mia@example.com")
    for headers in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": other_csrf}):
        response = client.put("/v1/templates/hello", json=TEMPLATE, headers=headers)
        assert response.status_code == 403, (headers, response.text)
        assert response.json()["error"]["code"] == "csrf" and "X-CSRF-Token" in response.json()["error"]["message"]
    assert app_client.get("/v1/templates").json()["items"] == []
    saved = client.put("/v1/templates/hello", json=TEMPLATE, headers={"X-CSRF-Token": csrf})
    assert saved.status_code == 200, saved.text
    assert client.get("/v1/templates/hello").status_code == 200  # reads need no token
    assert [t["id"] for t in app_client.get("/v1/templates").json()["items"]] == ["hello"]


def test_api_keys_are_unaffected_by_cookies_and_csrf(app_client, users, browser, role_headers):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    sign_in(client, "ann@example.com")
    # an admin key next to an analyst's cookie: the key decides, no CSRF token needed
    saved = client.put("/v1/templates/hello", json=TEMPLATE, headers={"Authorization": f"Bearer {ADMIN}"})
    assert saved.status_code == 200, saved.text
    # and an analyst key next to an admin's cookie stays an analyst
    users.create("root@example.com", PASSWORD, "admin")
    admin_browser = browser()
    csrf = sign_in(admin_browser, "root@example.com")
    refused = admin_browser.put("/v1/templates/x", json=TEMPLATE,
                                headers={**role_headers("analyst"), "X-CSRF-Token": csrf})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    # a bad key is refused even with a good cookie
    bad = admin_browser.get("/v1/templates", headers={"Authorization": "Bearer sb_unknown_key_123456789"})
    assert bad.status_code == 401


def test_sign_out_ends_the_session_everywhere(app_client, users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    laptop, phone = browser(), browser()
    csrf = sign_in(laptop, "ann@example.com")
    sign_in(phone, "ann@example.com")
    stolen = laptop.cookies[SESSION_COOKIE]
    refused = laptop.delete("/v1/session")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    assert laptop.get("/v1/session").status_code == 200
    out = laptop.delete("/v1/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204
    value, flags = cookie_attributes(out)
    assert value in ("", '""') and flags["max-age"] == "0"
    for client in (laptop, phone):
        assert client.get("/v1/session").status_code == 401
        assert client.get("/v1/journeys").status_code == 401
    replay = browser()
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/v1/journeys").status_code == 401
    assert laptop.delete("/v1/session").status_code == 204  # signing out twice is fine
    sign_in(laptop, "ann@example.com")
    assert laptop.get("/v1/session").status_code == 200


def test_disabled_user_is_signed_out_and_cannot_sign_in(app_client, users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    sign_in(client, "ann@example.com")
    changed = app_client.patch("/v1/users/ann@example.com", json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert client.get("/v1/journeys").status_code == 401
    refused = client.post("/v1/session", json={"email": "ann@example.com", "password": PASSWORD})
    wrong = client.post("/v1/session", json={"email": "ann@example.com", "password": "not the password"})
    assert refused.status_code == 401 and refused.json() == wrong.json()
    assert app_client.patch("/v1/users/ann@example.com", json={"disabled": False}).status_code == 200
    sign_in(client, "ann@example.com")


def test_new_role_applies_at_once_and_new_password_signs_out(app_client, users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    csrf = sign_in(client, "ann@example.com")
    assert client.put("/v1/templates/t", json=TEMPLATE, headers={"X-CSRF-Token": csrf}).status_code == 403
    assert app_client.patch("/v1/users/ann@example.com", json={"role": "marketer"}).status_code == 200
    assert client.put("/v1/templates/t", json=TEMPLATE, headers={"X-CSRF-Token": csrf}).status_code == 200
    assert client.get("/v1/session").json()["user"]["role"] == "marketer"
    assert app_client.patch("/v1/users/ann@example.com", json={"password": "another password"}).status_code == 200
    assert client.get("/v1/session").status_code == 401
    assert client.post("/v1/session", json={"email": "ann@example.com", "password": PASSWORD}).status_code == 401
    sign_in(client, "ann@example.com", "another password")


def test_the_session_ends_twelve_hours_after_sign_in(app_client, users, browser):
    users.create("ann@example.com", PASSWORD, "analyst")
    client = browser()
    sign_in(client, "ann@example.com")
    advance(app_client, "PT11H")
    assert client.get("/v1/journeys").status_code == 200  # activity does not extend it
    advance(app_client, "PT1H1M")
    response = client.get("/v1/journeys")
    assert response.status_code == 401 and "sign in again" in response.json()["error"]["message"]


def test_a_forged_or_changed_cookie_is_refused(users, browser):
    users.create("ann@example.com", PASSWORD, "admin")
    client = browser()
    sign_in(client, "ann@example.com")
    token = client.cookies[SESSION_COOKIE]
    for bad in (token[:-2] + ("AA" if not token.endswith("AA") else "BB"), "garbage", "a.b"):
        forged = browser()
        forged.cookies.set(SESSION_COOKIE, bad)
        response = forged.get("/v1/users")
        assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_without_key_or_cookie_the_message_says_how_to_sign_in(browser):
    response = browser().get("/v1/journeys")
    assert response.status_code == 401
    message = response.json()["error"]["message"]
    assert "Bearer" in message and "POST /v1/session" in message
