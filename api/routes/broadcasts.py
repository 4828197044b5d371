"""Broadcasts: one-off sends to everyone, tags, a rule or a segment (docs/channels/broadcasts.md).

Each broadcast runs as the journey ``broadcast-<id>``; the work is in ``api.broadcasts``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api import broadcasts
from api.auth import EDITORS, READERS, Caller, allow
from api.routes.events import read_json
from api.routes.journeys import call

router = APIRouter(tags=["broadcasts"])


@router.post("/v1/broadcasts/audience", summary="How many contacts an audience holds now (before sending)")
async def audience(request: Request, who: Caller = Depends(allow(*EDITORS))):
    payload = await read_json(request)
    return await call(broadcasts.audience_count, request.app.state.services, who.workspace, payload)


@router.post("/v1/broadcasts", status_code=201, summary="Create a broadcast: publish its journey, target the audience")
async def create(request: Request, who: Caller = Depends(allow(*EDITORS))):
    payload = await read_json(request)
    return await call(broadcasts.create, request.app.state.services, who.workspace, payload)


@router.get("/v1/broadcasts", summary="All broadcasts, newest first, with status and progress")
async def list_broadcasts(request: Request, who: Caller = Depends(allow(*READERS))):
    return {"items": await call(broadcasts.list_broadcasts, request.app.state.services, who.workspace)}


@router.get("/v1/broadcasts/{broadcast_id}", summary="A broadcast with live progress")
async def get_broadcast(request: Request, broadcast_id: str, who: Caller = Depends(allow(*READERS))):
    return await call(broadcasts.get, request.app.state.services, who.workspace, broadcast_id)


@router.post("/v1/broadcasts/{broadcast_id}/cancel", summary="Stop a broadcast: no further messages; sent ones stay")
async def cancel(request: Request, broadcast_id: str, who: Caller = Depends(allow(*EDITORS))):
    return await call(broadcasts.cancel, request.app.state.services, who.workspace, broadcast_id)
