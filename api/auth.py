"""API-key auth: ``Authorization: Bearer <key>``; each key belongs to one workspace and
one role. ``allow(*roles)`` is the route dependency; admin may do everything."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, Request

from api.errors import ApiError

ROLES = ("admin", "marketer", "analyst", "ingest", "redeemer")
READERS = ("admin", "marketer", "analyst")
EDITORS = ("admin", "marketer")
INGEST = ("admin", "marketer", "ingest")


@dataclass(frozen=True)
class Caller:
    workspace: str
    role: str
    key_id: str


def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "unauthorized", "send 'Authorization: Bearer <api key>'; create keys with 'switchback keys create'")
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
