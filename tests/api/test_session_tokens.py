"""Session tokens and CSRF tokens (api/sessions.py), without any I/O: a token reads back
as issued; a changed byte, another key, the wrong shape or an expired token reads as
nothing; the CSRF token belongs to one session; cookies are Secure behind https only."""

from __future__ import annotations

import pytest

from api.sessions import (SESSION_SECONDS, cookie_options, csrf_ok, csrf_token, issue, needs_csrf, read,
                          session_key)

KEY = session_key(b"x" * 48)
NOW = 1_800_000_000.0


def test_a_token_reads_back_as_issued():
    token, claims = issue(KEY, "user-1", 3, NOW)
    assert read(KEY, token, NOW + 60) == claims
    assert (claims.user_id, claims.generation, claims.issued_at) == ("user-1", 3, NOW)
    assert claims.expires_at == NOW + SESSION_SECONDS == NOW + 12 * 3600


def test_every_session_gets_its_own_id_and_csrf_token():
    first, a = issue(KEY, "user-1", 0, NOW)
    second, b = issue(KEY, "user-1", 0, NOW)
    assert first != second and a.session_id != b.session_id
    assert csrf_token(KEY, a) != csrf_token(KEY, b)
    assert csrf_token(KEY, a) == csrf_token(KEY, read(KEY, first, NOW))


def test_expiry_is_fixed_at_twelve_hours():
    token, _ = issue(KEY, "user-1", 0, NOW)
    assert read(KEY, token, NOW + SESSION_SECONDS - 1) is not None
    assert read(KEY, token, NOW + SESSION_SECONDS) is None


def test_the_key_is_derived_and_another_secret_refuses_the_token():
    token, _ = issue(KEY, "user-1", 0, NOW)
    assert KEY != b"x" * 48 and len(KEY) == 32
    assert read(session_key(b"y" * 48), token, NOW) is None


def test_a_changed_token_reads_as_nothing():
    token, _ = issue(KEY, "user-1", 0, NOW)
    payload, signature = token.split(".")
    flipped = payload[:-3] + ("A" if payload[-3] != "A" else "B") + payload[-2:]
    assert read(KEY, f"{flipped}.{signature}", NOW) is None
    forged, _ = issue(session_key(b"z" * 48), "admin-user", 0, NOW)
    assert read(KEY, f"{forged.split('.')[0]}.{signature}", NOW) is None


@pytest.mark.parametrize("junk", [None, "", ".", "a.b", "a.b.c", "é.x", "x" * 3000, 42, "notatoken"])
def test_junk_reads_as_nothing(junk):
    assert read(KEY, junk, NOW) is None


def test_csrf_token_matches_only_its_session():
    _, claims = issue(KEY, "user-1", 0, NOW)
    _, other = issue(KEY, "user-1", 0, NOW)
    good = csrf_token(KEY, claims)
    assert csrf_ok(KEY, claims, good)
    for bad in (None, "", "x", csrf_token(KEY, other), good + "x", good[:-1], "é" * 43):
        assert not csrf_ok(KEY, claims, bad), bad


def test_which_methods_need_the_csrf_token():
    assert [m for m in ("GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE", "get", "post") if needs_csrf(m)] \
        == ["POST", "PUT", "PATCH", "DELETE", "post"]


def test_cookie_is_secure_only_behind_https():
    plain = cookie_options("http://127.0.0.1:8000")
    assert plain == {"httponly": True, "samesite": "strict", "path": "/", "secure": False}
    assert cookie_options("https://switchback.example.com")["secure"] is True
    assert cookie_options(" HTTPS://Switchback.example.com ")["secure"] is True
