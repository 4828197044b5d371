"""Event ingestion: ``POST /v1/events`` (one envelope or ``{"batch": [...]}``) and the
Segment-spec ``/v1/identify`` and ``/v1/track``."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError

from api.auth import INGEST, Caller, allow
from api.errors import ORJSONResponse, ApiError, body, pydantic_details
from api.ingest import Identify, Track, check_items, identify_envelope, track_envelope
from projections import queries

router = APIRouter(tags=["events"])


async def read_json(request: Request) -> Any:
    limit = request.app.state.services.settings.max_body_bytes
    raw = await request.body()
    if len(raw) > limit:
        raise ApiError(413, "too_large", f"the body is {len(raw)} bytes; the limit is {limit}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


async def append(request: Request, records: list[dict[str, Any]]) -> tuple[list[str], list[str], int]:
    services = request.app.state.services
    positions = await run_in_threadpool(services.append, records) if records else []
    accepted = [r["id"] for r, p in zip(records, positions) if p is not None]
    duplicates = [r["id"] for r, p in zip(records, positions) if p is None]
    return accepted, duplicates, max((p for p in positions if p), default=0)


@router.post("/v1/events", status_code=202, summary="Ingest one event or a batch of up to 1000")
async def ingest(request: Request, who: Caller = Depends(allow(*INGEST))):
    payload = await read_json(request)
    max_batch = request.app.state.services.settings.max_batch
    if isinstance(payload, dict) and "batch" in payload:
        if set(payload) != {"batch"}:
            raise ApiError(422, "validation_error", "a batch body has only the field 'batch'",
                           [{"loc": k, "message": "unknown field"} for k in payload if k != "batch"])
        items, prefix = payload["batch"], "batch"
        if not isinstance(items, list):
            raise ApiError(422, "validation_error", "batch must be a list of events", [{"loc": "batch", "message": "must be a list"}])
        if len(items) > max_batch:
            raise ApiError(413, "batch_too_large", f"a batch holds at most {max_batch} events; this one has {len(items)}")
        if not items:
            raise ApiError(422, "validation_error", "the batch is empty", [{"loc": "batch", "message": "must not be empty"}])
    else:
        items, prefix = [payload], ""
    records, errors = check_items(items, who.workspace, prefix)
    accepted, duplicates, _ = await append(request, records)
    result = {"accepted": accepted, "duplicates": duplicates}
    if errors:
        return ORJSONResponse(body("validation_error", f"{len(errors)} problem(s) in {len(items)} event(s); "
                                   "the valid events were accepted", errors, **result), status_code=422)
    return ORJSONResponse(result, status_code=202)


def _segment(model, payload: Any):
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", "the request is not valid", pydantic_details(exc)) from None


async def _one(request: Request, who: Caller, envelope: dict[str, Any]):
    records, errors = check_items([envelope], who.workspace, "")
    if errors:
        raise ApiError(422, "validation_error", "the request is not valid", errors)
    accepted, duplicates, _ = await append(request, records)
    return ORJSONResponse({"accepted": accepted, "duplicates": duplicates}, status_code=202)


@router.post("/v1/identify", status_code=202, summary="Segment-spec identify: traits become contact attributes")
async def identify(request: Request, who: Caller = Depends(allow(*INGEST))):
    data = _segment(Identify, await read_json(request))
    try:
        contact_id = data.contact()
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), [{"loc": "userId", "message": str(exc)}]) from None
    services = request.app.state.services
    exists = await run_in_threadpool(queries.contact_exists, services.read_db(), who.workspace, contact_id)
    return await _one(request, who, identify_envelope(data, exists))


@router.post("/v1/track", status_code=202, summary="Segment-spec track: a custom or e-commerce event")
async def track(request: Request, who: Caller = Depends(allow(*INGEST))):
    data = _segment(Track, await read_json(request))
    try:
        envelope = track_envelope(data)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), [{"loc": "userId", "message": str(exc)}]) from None
    return await _one(request, who, envelope)
