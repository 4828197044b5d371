"""Who is calling: an API key (``Authorization: Bearer <key>``, for machines) or a signed-in
person (the ``sb_session`` cookie, for the web app). Each key and each user belongs to one
workspace and has one role; ``allow(*roles)`` is the route dependency; admin may do everything.

A request with an ``Authorization`` header is judged by its key alone (a cookie next to it
is ignored). Otherwise the session cookie counts (``api/sessions.py``): it must be
well-signed, unexpired and of the user's current session generation, and the user must
be enabled. State-changing requests (POST, PUT, PATCH, DELETE) made with the cookie must
also carry the session's CSRF token in ``X-CSRF-Token``, else 403 ``csrf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request

from api.errors import ApiError
from api.sessions import CSRF_HEADER, SESSION_COOKIE, SessionClaims, csrf_ok, needs_csrf, read, session_key
from api.signing_key import signing_key
from api.users import user_directory

ROLES = ("admin", "marketer", "analyst", "ingest", "redeemer")
READERS = ("admin", "marketer", "analyst")
EDITORS = ("admin", "marketer")
INGEST = ("admin", "marketer", "ingest")


@dataclass(frozen=True)
class Caller:
    """``key_id`` is the API key's id, or ``user:<email>`` for a signed-in person (``user``)."""

    workspace: str
    role: str
    key_id: str
    user: str | None = None


def sessions_key(services: Any) -> bytes:
    """The key that signs this deployment's session tokens (derived once from the secret)."""
    key = getattr(services, "session_signing_key", None)
    if key is None:
        key = session_key(signing_key(services.settings))
        services.session_signing_key = key
    return key


def current_session(request: Request) -> tuple[SessionClaims, dict[str, Any]] | None:
    """The valid session of the request's cookie and its user, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    services = request.app.state.services
    claims = read(sessions_key(services), token, services.clock.now())
    if claims is None:
        return None
    user = user_directory(services).session_user(claims.user_id, claims.generation)
    return None if user is None else (claims, user)


def check_csrf(request: Request, claims: SessionClaims) -> None:
    """403 ``csrf`` unless a state-changing request carries the session's CSRF token."""
    if not needs_csrf(request.method):
        return
    if not csrf_ok(sessions_key(request.app.state.services), claims, request.headers.get(CSRF_HEADER)):
        raise ApiError(403, "csrf", f"send the header {CSRF_HEADER} with the csrf_token of your session "
                                    "(from POST /v1/session or GET /v1/session) on every change")


def session_caller(request: Request) -> Caller:
    found = current_session(request)
    if found is None:
        raise ApiError(401, "unauthorized", "your session has ended (expired, signed out, or the account changed); "
                                            "sign in again with POST /v1/session")
    claims, user = found
    check_csrf(request, claims)
    return Caller(workspace=user["workspace"], role=user["role"], key_id=f"user:{user['email']}", user=user["email"])


def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    if not header.strip() and request.cookies.get(SESSION_COOKIE):
        return session_caller(request)
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <api key>' (create keys with "
                                            "'switchback keys create'), or sign in with POST /v1/session")
    info = request.app.state.services.definitions.check_key(secret.strip())
    if info is None:
        raise ApiError(401, "unauthorized", "this API key is unknown or revoked")
    return Caller(workspace=info["workspace"], role=info["role"], key_id=info["id"])


def allow(*roles: str):
    def dependency(who: Caller = Depends(caller)) -> Caller:
        if who.role != "admin" and who.role not in roles:
            raise ApiError(403, "forbidden", f"role '{who.role}' may not do this; needs one of: {', '.join(roles)}")
        return who

    return dependency
