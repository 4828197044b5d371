"""Journeys: save drafts (kept even when invalid), validate, publish immutable
versions, pause/resume, list, read versions, and live per-node stats."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.auth import EDITORS, READERS, Caller, allow
from api.broadcasts import refuse_cancelled
from api.errors import ApiError, pydantic_details
from api.routes.events import read_json
from engine.definitions import DefinitionError
from projections import queries

router = APIRouter(tags=["journeys"])
_STATUS = {"not_found": 404, "invalid": 422, "conflict": 409, "state": 409}


def definition_error(exc: DefinitionError) -> ApiError:
    status = _STATUS.get(exc.code, 409 if exc.code.endswith("state") else 400)
    extra: dict[str, Any] = {}
    if getattr(exc, "problems", None):
        extra["problems"] = exc.problems
    return ApiError(status, exc.code, exc.message, **extra)


async def call(fn, *args):
    try:
        return await run_in_threadpool(fn, *args)
    except DefinitionError as exc:
        raise definition_error(exc) from None


async def change(request: Request, fn, *args):
    """A change the runtime must see now (publish, pause, resume): wake it up."""
    result = await call(fn, *args)
    request.app.state.services.notify()
    return result


@router.get("/v1/journeys", summary="All journeys with status and version")
async def list_journeys(request: Request, who: Caller = Depends(allow(*READERS))):
    return {"items": await call(request.app.state.services.definitions.list_journeys, who.workspace)}


@router.put("/v1/journeys/{journey_id}", summary="Save the draft graph (problems are returned; the draft is kept)")
async def save_journey(request: Request, journey_id: str, who: Caller = Depends(allow(*EDITORS))):
    graph = await read_json(request)
    if not isinstance(graph, dict):
        raise ApiError(422, "validation_error", "the body must be a journey graph object", [{"loc": "body", "message": "must be an object"}])
    if graph.get("id", journey_id) != journey_id:
        raise ApiError(422, "validation_error", f"the body's id '{graph.get('id')}' differs from the URL's '{journey_id}'",
                       [{"loc": "id", "message": "must equal the id in the URL"}])
    graph = {**graph, "id": journey_id}
    try:
        return await call(request.app.state.services.definitions.save_draft, who.workspace, graph)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", "the graph cannot be read", pydantic_details(exc)) from None


@router.get("/v1/journeys/{journey_id}", summary="A journey: draft, status, versions")
async def get_journey(request: Request, journey_id: str, who: Caller = Depends(allow(*READERS))):
    return await call(request.app.state.services.definitions.get_journey, who.workspace, journey_id)


@router.get("/v1/journeys/{journey_id}/versions/{version}", summary="A published version (immutable)")
async def get_version(request: Request, journey_id: str, version: int, who: Caller = Depends(allow(*READERS))):
    return await call(request.app.state.services.definitions.get_version, who.workspace, journey_id, version)


@router.post("/v1/journeys/{journey_id}/validate", summary="Check the draft; problems name their node or edge")
async def validate(request: Request, journey_id: str, who: Caller = Depends(allow(*READERS))):
    problems = await call(request.app.state.services.definitions.validate, who.workspace, journey_id)
    return {"valid": not any(p.get("severity", "error") == "error" for p in problems), "problems": problems}


@router.post("/v1/journeys/{journey_id}/publish", summary="Publish the draft as a new immutable version")
async def publish(request: Request, journey_id: str, who: Caller = Depends(allow(*EDITORS))):
    await call(refuse_cancelled, request.app.state.services.definitions, who.workspace, journey_id)
    return await change(request, request.app.state.services.definitions.publish, who.workspace, journey_id)


@router.post("/v1/journeys/{journey_id}/pause", summary="Stop new entries and hold contacts before their next message")
async def pause(request: Request, journey_id: str, who: Caller = Depends(allow(*EDITORS))):
    return await change(request, request.app.state.services.definitions.pause, who.workspace, journey_id)


@router.post("/v1/journeys/{journey_id}/resume", summary="Resume a paused journey; held contacts continue")
async def resume(request: Request, journey_id: str, who: Caller = Depends(allow(*EDITORS))):
    await call(refuse_cancelled, request.app.state.services.definitions, who.workspace, journey_id)
    return await change(request, request.app.state.services.definitions.resume, who.workspace, journey_id)


@router.get("/v1/journeys/{journey_id}/stats", summary="Per node: entered, at the node now, exited; totals")
async def stats(request: Request, journey_id: str, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services
    await call(services.definitions.get_journey, who.workspace, journey_id)
    return await run_in_threadpool(queries.journey_stats, services.read_db(), who.workspace, journey_id)
