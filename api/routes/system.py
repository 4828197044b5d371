"""Health, processing status, the dev outbox, API keys, and (tests only) the virtual clock."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import READERS, ROLES, Caller, allow
from api.errors import ApiError
from journeys.durations import DurationError, parse_duration

router = APIRouter()


@router.get("/healthz", tags=["system"], summary="Liveness (no auth)")
def healthz(request: Request):
    return request.app.state.services.health()


@router.get("/v1/status", tags=["system"], summary="Log head and how far the runtime, sender and projector are")
def status(request: Request, who: Caller = Depends(allow(*READERS))):
    return request.app.state.services.status()


@router.get("/v1/outbox", tags=["outbox"], summary="Captured messages, newest first")
def outbox(request: Request, contact_id: str | None = None, limit: int = Query(default=50, ge=1, le=500),
           before: float | None = None, who: Caller = Depends(allow(*READERS))):
    items = request.app.state.services.outbox.list(who.workspace, contact_id, limit, before)
    return {"items": items, "next_before": items[-1]["created_at"] if len(items) == limit else None}


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description=f"one of {', '.join(ROLES)}")
    name: str = Field(default="", max_length=100)


@router.post("/v1/keys", tags=["keys"], status_code=201, summary="Create an API key (the secret is shown once)")
async def create_key(request: Request, body: KeyIn, who: Caller = Depends(allow("admin"))):
    if body.role not in ROLES:
        raise ApiError(422, "validation_error", f"unknown role '{body.role}'", [{"loc": "role", "message": f"one of {', '.join(ROLES)}"}])
    secret, info = await run_in_threadpool(request.app.state.services.definitions.create_key, who.workspace, body.role, body.name)
    return {"secret": secret, **info}


@router.get("/v1/keys", tags=["keys"])
async def list_keys(request: Request, who: Caller = Depends(allow("admin"))):
    return {"items": await run_in_threadpool(request.app.state.services.definitions.list_keys, who.workspace)}


@router.delete("/v1/keys/{key_id}", tags=["keys"], status_code=204)
async def revoke_key(request: Request, key_id: str, who: Caller = Depends(allow("admin"))):
    keys = await run_in_threadpool(request.app.state.services.definitions.list_keys, who.workspace)
    if key_id not in {k["id"] for k in keys}:
        raise ApiError(404, "not_found", f"no key '{key_id}' in this workspace")
    await run_in_threadpool(request.app.state.services.definitions.revoke_key, key_id)


class Advance(BaseModel):
    model_config = ConfigDict(extra="forbid")
    duration: str = Field(description="ISO-8601, e.g. PT4H")


@router.post("/v1/testing/clock/advance", tags=["testing"], include_in_schema=False)
def advance_clock(request: Request, body: Advance, who: Caller = Depends(allow("admin"))):
    services = request.app.state.services
    if not services.clock.virtual:
        raise ApiError(404, "not_found", "the virtual clock is off (start with SWITCHBACK_TEST_CLOCK=1)")
    try:
        seconds = parse_duration(body.duration).total_seconds()
    except DurationError as exc:
        raise ApiError(422, "validation_error", str(exc), [{"loc": "duration", "message": str(exc)}]) from None
    now = services.clock.advance(seconds)
    services.notify()
    return {"now": now}
