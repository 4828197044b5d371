"""Segments: create/replace, list, read, delete; preview a rule before saving; current
members (paginated), CSV export, and member imports for static segments.

Saving a dynamic segment (new, or its rule changed) backfills its members at once: the
response says how many entered and exited. Membership itself lives in the read model
(``segment_membership``), fed by ``segment.entered``/``segment.exited`` events.
Roles: analysts, marketers and admins read; marketers and admins change."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api import segments
from api.auth import EDITORS, READERS, Caller, allow
from api.errors import ORJSONResponse, ApiError, body
from api.routes.events import read_json
from api.routes.journeys import definition_error
from engine.definitions import DefinitionError

router = APIRouter(tags=["segments"])
MAX_IMPORT_BYTES = 20 * 1024 * 1024


def _error(exc: DefinitionError) -> ApiError:
    if exc.code == "invalid":
        details = [{"loc": p.get("field") or "body", "message": p["message"]} for p in exc.problems or []]
        return ApiError(422, "validation_error", exc.message, details or [{"loc": "body", "message": exc.message}])
    return definition_error(exc)


async def _call(fn, *args):
    try:
        return await run_in_threadpool(fn, *args)
    except DefinitionError as exc:
        raise _error(exc) from None


async def _body(request: Request) -> dict[str, Any]:
    payload = await read_json(request)
    if not isinstance(payload, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object", [{"loc": "body", "message": "must be an object"}])
    return payload


def _saved(services, workspace: str, segment: dict[str, Any]) -> dict[str, Any]:
    """Save, wake the runtime (it reloads its segments), then backfill what changed."""
    saved = services.definitions.save_segment(workspace, segment)
    services.notify()
    saved.pop("previous", None)
    saved["backfill"] = None
    if saved["changed"] and saved["kind"] == "dynamic":
        saved["backfill"] = segments.backfill(services, workspace, saved)
    return saved


@router.get("/v1/segments", summary="All segments with their current member counts")
async def list_segments(request: Request, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services

    def listing() -> list[dict[str, Any]]:
        with segments.reading(services) as conn:
            return [s | {"members": segments.member_count(conn, who.workspace, s["id"])}
                    for s in services.definitions.list_segments(who.workspace)]

    return {"items": await _call(listing)}


@router.post("/v1/segments", status_code=201, summary="Create a segment (dynamic: backfills its members)")
async def create_segment(request: Request, who: Caller = Depends(allow(*EDITORS))):
    payload = await _body(request)
    services = request.app.state.services
    segment_id = payload.get("id")
    if not isinstance(segment_id, str) or not segment_id:
        raise ApiError(422, "validation_error", "a new segment needs an id", [{"loc": "id", "message": "is required"}])
    if segment_id in await _call(services.definitions.segment_ids, who.workspace):
        raise ApiError(409, "conflict", f"segment '{segment_id}' exists; change it with PUT /v1/segments/{segment_id}")
    return await _call(_saved, services, who.workspace, payload)


@router.post("/v1/segments/preview", summary="Count and sample the contacts a rule selects, before saving")
async def preview(request: Request, who: Caller = Depends(allow(*READERS))):
    payload = await _body(request)
    unknown = [k for k in payload if k not in ("rule", "limit")]
    if unknown:
        raise ApiError(422, "validation_error", "the body has only 'rule' (and 'limit')",
                       [{"loc": k, "message": "unknown field"} for k in unknown])
    limit = payload.get("limit", 20)
    if not isinstance(limit, int) or isinstance(limit, bool) or not 0 <= limit <= 100:
        raise ApiError(422, "validation_error", "limit is a whole number from 0 to 100",
                       [{"loc": "limit", "message": "must be 0..100"}])
    services = request.app.state.services
    rule = await _call(services.definitions.check_segment_rule, who.workspace, payload.get("rule"))

    def run() -> dict[str, Any]:
        with segments.reading(services) as conn:
            return segments.preview(conn, rule, who.workspace, services.clock.now(), limit)

    return await run_in_threadpool(run)


@router.get("/v1/segments/{segment_id}", summary="One segment and its member count")
async def get_segment(request: Request, segment_id: str, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services
    found = await _call(services.definitions.get_segment, who.workspace, segment_id)

    def count() -> int:
        with segments.reading(services) as conn:
            return segments.member_count(conn, who.workspace, segment_id)

    return found | {"members": await run_in_threadpool(count)}


@router.put("/v1/segments/{segment_id}", summary="Create or replace a segment (dynamic: backfills when the rule changed)")
async def put_segment(request: Request, segment_id: str, who: Caller = Depends(allow(*EDITORS))):
    payload = await _body(request)
    if payload.get("id", segment_id) != segment_id:
        raise ApiError(422, "validation_error", f"the body's id '{payload.get('id')}' differs from the URL's '{segment_id}'",
                       [{"loc": "id", "message": "must equal the id in the URL"}])
    return await _call(_saved, request.app.state.services, who.workspace, {**payload, "id": segment_id})


@router.delete("/v1/segments/{segment_id}", summary="Delete a segment; its members exit")
async def delete_segment(request: Request, segment_id: str, who: Caller = Depends(allow(*EDITORS))):
    services = request.app.state.services

    def delete() -> dict[str, Any]:
        info = services.definitions.delete_segment(who.workspace, segment_id)
        services.notify()
        return {"deleted": info["id"], **segments.remove_everyone(services, who.workspace, info)}

    return await _call(delete)


@router.get("/v1/segments/{segment_id}/members", summary="Current members, ordered by contact id (cursor pagination)")
async def members(request: Request, segment_id: str, limit: int = Query(default=50, ge=1, le=500),
                  cursor: str | None = None, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services
    await _call(services.definitions.get_segment, who.workspace, segment_id)

    def page() -> dict[str, Any]:
        with segments.reading(services) as conn:
            return segments.members_page(conn, who.workspace, segment_id, limit, cursor)

    try:
        return await run_in_threadpool(page)
    except ValueError as exc:
        raise ApiError(422, "validation_error", str(exc), [{"loc": "cursor", "message": str(exc)}]) from None


@router.get("/v1/segments/{segment_id}/export.csv", summary="Current members as CSV (streamed)")
async def export(request: Request, segment_id: str, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services
    await _call(services.definitions.get_segment, who.workspace, segment_id)
    return StreamingResponse(segments.export_csv(services, who.workspace, segment_id), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{segment_id}.csv"'})


@router.post("/v1/segments/{segment_id}/import",
             summary="Static segments: set members from a CSV of contact ids or emails (errors per line)")
async def import_members(request: Request, segment_id: str, file: UploadFile = File(...),
                         mode: Literal["replace", "add", "remove"] = Form(default="replace"),
                         who: Caller = Depends(allow(*EDITORS))):
    services = request.app.state.services
    segment = await _call(services.definitions.get_segment, who.workspace, segment_id)
    if segment["kind"] != "static":
        raise ApiError(409, "conflict", f"segment '{segment_id}' is dynamic: its members follow its rule; "
                       "only a static segment takes an import")
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise ApiError(413, "too_large", f"the file is larger than {MAX_IMPORT_BYTES} bytes; split it and use mode=add")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(422, "validation_error", f"the file is not UTF-8 (byte {exc.start})",
                       [{"loc": "file", "message": "save the CSV as UTF-8"}]) from None

    def run() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        rows, errors = segments.parse_member_csv(text)
        with segments.reading(services) as conn:
            ids, unknown = segments.resolve_members(conn, who.workspace, rows)
        unread = len({e["line"] for e in errors if e["line"] > 1})  # line 1 is the header
        errors = sorted(errors + unknown, key=lambda e: e["line"])
        summary = {"rows": len(rows) + unread, "failed": len({e["line"] for e in errors})}
        if errors:
            return summary, errors
        return summary | segments.set_static_members(services, who.workspace, segment_id, ids, mode), []

    summary, errors = await run_in_threadpool(run)
    if errors:
        return ORJSONResponse(body("validation_error", f"{len(errors)} line(s) could not be read; nothing was "
                                   "changed: fix them and import again", errors, **summary), status_code=422)
    return summary
