"""Signing in and out (``/v1/session``) and managing users (``/v1/users``, admin only).

- ``POST /v1/session`` ``{"email", "password"}`` (``Content-Type: application/json`` only,
  so no cross-site form can post it): 200 ``{"user": {"email", "role", "workspace"},
  "csrf_token", "expires_at"}`` and the ``sb_session`` cookie (HttpOnly, SameSite=Strict,
  Path=/, Secure behind https). Wrong password, unknown email or disabled account: the
  same 401; too many failures for the email: 429 with ``Retry-After``.
- ``GET /v1/session``: the same body for a signed-in browser, else 401.
- ``DELETE /v1/session``: signs the user out on every device (their session generation
  grows) and clears the cookie; 204 also when there was no valid session.
- ``POST /v1/users``, ``GET /v1/users``, ``GET|PATCH /v1/users/{email}``: users of the
  caller's workspace.

See docs/users.md.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Caller, allow, check_csrf, current_session, sessions_key
from api.errors import ApiError, ORJSONResponse, body
from api.sessions import SESSION_COOKIE, SessionClaims, cookie_options, csrf_token, issue
from api.users import USER_ROLES, TooManyAttempts, UserError, user_directory
from journeys.events import iso_from_epoch

router = APIRouter()

BAD_CREDENTIALS = "the email or password is not right (or the account is disabled)"
_STATUS = {"exists": 409, "not_found": 404, "busy": 503}
_CODES = {"exists": "conflict"}


def json_only(request: Request) -> None:
    """415 unless the body is declared JSON: HTML forms (the only cross-site posts a browser
    sends without asking first) cannot declare it."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "unsupported_media_type", "send the body as JSON with 'Content-Type: application/json'")


def _user_error(exc: UserError) -> ApiError:
    if exc.code == "invalid":
        return ApiError(422, "validation_error", exc.message, [{"loc": exc.field or "body", "message": exc.message}])
    return ApiError(_STATUS.get(exc.code, 400), _CODES.get(exc.code, exc.code), exc.message)


def _session_body(key: bytes, claims: SessionClaims, user: dict[str, Any]) -> dict[str, Any]:
    return {"user": {"email": user["email"], "role": user["role"], "workspace": user["workspace"]},
            "csrf_token": csrf_token(key, claims), "expires_at": iso_from_epoch(claims.expires_at)}


def _public_url(request: Request) -> str:
    return request.app.state.services.settings.public_url()


# -- sessions ---------------------------------------------------------------------------------

class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320, description="the user's email (any case)")
    password: str = Field(max_length=1000)


@router.post("/v1/session", tags=["session"], dependencies=[Depends(json_only)],
             summary="Sign in with email and password: sets the session cookie, returns the CSRF token")
def sign_in(request: Request, credentials: SignIn):
    services = request.app.state.services
    now = services.clock.now()
    try:
        user = user_directory(services).sign_in(credentials.email, credentials.password, now)
    except TooManyAttempts as exc:
        return ORJSONResponse(body("too_many_attempts", str(exc)), status_code=429,
                              headers={"Retry-After": str(exc.retry_after)})
    if user is None:
        raise ApiError(401, "unauthorized", BAD_CREDENTIALS)
    key = sessions_key(services)
    token, claims = issue(key, user["id"], user["generation"], now)
    response = ORJSONResponse(_session_body(key, claims, user))
    response.set_cookie(SESSION_COOKIE, token, max_age=int(claims.expires_at - now),
                        **cookie_options(_public_url(request)))
    return response


@router.get("/v1/session", tags=["session"], summary="Who is signed in (and the CSRF token); 401 when nobody")
def get_session(request: Request):
    found = current_session(request)
    if found is None:
        raise ApiError(401, "unauthorized", "not signed in (or the session has ended); sign in with POST /v1/session")
    claims, user = found
    return _session_body(sessions_key(request.app.state.services), claims, user)


@router.delete("/v1/session", tags=["session"], status_code=204,
               summary="Sign out: ends every session of this user and clears the cookie")
def sign_out(request: Request):
    found = current_session(request)
    if found is not None:
        claims, user = found
        check_csrf(request, claims)
        services = request.app.state.services
        try:
            user_directory(services).sign_out_everywhere(user["email"], services.clock.now())
        except UserError as exc:
            if exc.code != "not_found":
                raise _user_error(exc) from None
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, **cookie_options(_public_url(request)))
    return response


# -- users (admin) -----------------------------------------------------------------------------

class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1000, description="at least 10 characters")
    role: str = Field(description=f"one of {', '.join(USER_ROLES)}")


class UserChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str | None = Field(default=None, description=f"one of {', '.join(USER_ROLES)}")
    disabled: bool | None = Field(default=None, description="true signs the user out and blocks sign-in")
    password: str | None = Field(default=None, max_length=1000, description="a new password; signs the user out")


@router.post("/v1/users", tags=["users"], status_code=201, summary="Create a user of this workspace (admin)")
def create_user(request: Request, new: NewUser, who: Caller = Depends(allow("admin"))):
    services = request.app.state.services
    try:
        return user_directory(services).create(new.email, new.password, new.role, who.workspace, services.clock.now())
    except UserError as exc:
        raise _user_error(exc) from None


@router.get("/v1/users", tags=["users"], summary="Users of this workspace (admin)")
def list_users(request: Request, who: Caller = Depends(allow("admin"))):
    return {"items": user_directory(request.app.state.services).list(who.workspace)}


@router.get("/v1/users/{email}", tags=["users"], summary="One user of this workspace (admin)")
def get_user(request: Request, email: str, who: Caller = Depends(allow("admin"))):
    try:
        return user_directory(request.app.state.services).get(email, who.workspace)
    except UserError as exc:
        raise _user_error(exc) from None


@router.patch("/v1/users/{email}", tags=["users"], summary="Change a user's role, disabled flag or password (admin)")
def change_user(request: Request, email: str, change: UserChange, who: Caller = Depends(allow("admin"))):
    if change.role is None and change.disabled is None and change.password is None:
        raise ApiError(422, "validation_error", "nothing to change: send role, disabled and/or password",
                       [{"loc": "body", "message": "send role, disabled and/or password"}])
    services = request.app.state.services
    try:
        return user_directory(services).update(email, role=change.role, disabled=change.disabled,
                                               password=change.password, workspace=who.workspace,
                                               now=services.clock.now())
    except UserError as exc:
        raise _user_error(exc) from None
