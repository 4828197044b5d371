"""Contacts: list/search, detail (attributes, tags, recent events, journey positions),
create/update/delete (as events), and CSV import with per-line errors.

Writes are events: they return 202 at once, or wait until the read model shows them
with ``?wait=true`` (read-your-writes, up to 5 s)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, EmailStr, Field

from api.auth import EDITORS, READERS, Caller, allow
from api.errors import ORJSONResponse, ApiError, body
from api.ingest import check_items
from journeys.contacts_csv import contact_id_for, parse_contacts_csv, rows_to_events
from projections import queries

router = APIRouter(tags=["contacts"])
MAX_IMPORT_BYTES = 20 * 1024 * 1024


class ContactPatch(BaseModel):
    """The fields a contact's attributes can be set or changed with."""

    model_config = ConfigDict(extra="forbid")
    email: EmailStr | None = None
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9 ().\-]{6,20}$")
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    attributes: dict[str, Any] = Field(default_factory=dict)


class ContactIn(ContactPatch):
    contact_id: str | None = Field(default=None, min_length=1, max_length=128)
    tags: list[str] = Field(default_factory=list)


def _data(model: BaseModel) -> dict[str, Any]:
    fields = model.model_dump(exclude_unset=True, exclude={"attributes", "tags", "contact_id"})
    data = {**model.attributes, **{k: v for k, v in fields.items()}}
    if isinstance(data.get("email"), str):
        data["email"] = data["email"].lower()
    return data


async def _emit(request: Request, who: Caller, envelopes: list[dict[str, Any]], wait: bool) -> dict[str, Any]:
    services = request.app.state.services
    records, errors = check_items(envelopes, who.workspace, "")
    if errors:
        raise ApiError(422, "validation_error", "the request is not valid", errors)
    positions = await run_in_threadpool(services.append, records)
    projected = await run_in_threadpool(services.wait_visible, records, positions) if wait else True
    return {"event_ids": [r["id"] for r in records], "projected": projected}


@router.get("/v1/contacts", summary="List and search contacts (cursor pagination)")
def list_contacts(request: Request, search: str | None = Query(default=None, max_length=200),
                  limit: int = Query(default=50, ge=1, le=500), cursor: str | None = None,
                  who: Caller = Depends(allow(*READERS))):
    try:
        return queries.list_contacts(request.app.state.services.read_db(), who.workspace, search, limit, cursor)
    except ValueError as exc:  # a cursor we did not make
        raise ApiError(422, "validation_error", str(exc), [{"loc": "cursor", "message": str(exc)}]) from None


@router.get("/v1/contacts/{contact_id}", summary="One contact with tags, recent events and journey positions")
def get_contact(request: Request, contact_id: str, who: Caller = Depends(allow(*READERS))):
    found = queries.get_contact(request.app.state.services.read_db(), who.workspace, contact_id)
    if found is None:
        raise ApiError(404, "not_found", f"no contact '{contact_id}' in workspace '{who.workspace}'")
    return found


@router.post("/v1/contacts", status_code=202, summary="Create a contact (emits contact.created)")
async def create_contact(request: Request, contact: ContactIn, wait: bool = False,
                         who: Caller = Depends(allow(*EDITORS))):
    if not (contact.contact_id or contact.email or contact.phone):
        raise ApiError(422, "validation_error", "give a contact_id, an email or a phone",
                       [{"loc": "contact_id", "message": "contact_id, email or phone is required"}])
    contact_id = contact.contact_id or contact_id_for(who.workspace, contact.email, contact.phone)
    services = request.app.state.services
    if await run_in_threadpool(queries.contact_exists, services.read_db(), who.workspace, contact_id):
        raise ApiError(409, "conflict", f"contact '{contact_id}' exists; use PATCH /v1/contacts/{contact_id}")
    data = _data(contact)
    if contact.tags:
        data["tags"] = sorted({t.strip().lower() for t in contact.tags if t.strip()})
    result = await _emit(request, who, [{"type": "contact.created", "contact_id": contact_id, "data": data}], wait)
    return ORJSONResponse({"contact_id": contact_id, **result}, status_code=202)


@router.patch("/v1/contacts/{contact_id}", status_code=202, summary="Update attributes (null removes one)")
async def update_contact(request: Request, contact_id: str, patch: ContactPatch, wait: bool = False,
                         who: Caller = Depends(allow(*EDITORS))):
    services = request.app.state.services
    if not await run_in_threadpool(queries.contact_exists, services.read_db(), who.workspace, contact_id):
        raise ApiError(404, "not_found", f"no contact '{contact_id}'")
    data = _data(patch)
    if not data:
        raise ApiError(422, "validation_error", "nothing to change", [{"loc": "body", "message": "give at least one field"}])
    result = await _emit(request, who, [{"type": "contact.updated", "contact_id": contact_id, "data": data}], wait)
    return ORJSONResponse({"contact_id": contact_id, **result}, status_code=202)


@router.delete("/v1/contacts/{contact_id}", status_code=202, summary="Erase a contact (emits contact.deleted)")
async def delete_contact(request: Request, contact_id: str, wait: bool = False, who: Caller = Depends(allow(*EDITORS))):
    services = request.app.state.services
    if not await run_in_threadpool(queries.contact_exists, services.read_db(), who.workspace, contact_id):
        raise ApiError(404, "not_found", f"no contact '{contact_id}'")
    result = await _emit(request, who, [{"type": "contact.deleted", "contact_id": contact_id, "data": {}}], wait)
    return ORJSONResponse({"contact_id": contact_id, **result}, status_code=202)


@router.post("/v1/contacts/import", summary="Import contacts from a CSV file (errors per line)")
async def import_contacts(request: Request, file: UploadFile = File(...), first_line: int = Form(default=1, ge=1),
                          wait: bool = False, who: Caller = Depends(allow(*EDITORS))):
    raw = await file.read(MAX_IMPORT_BYTES + 1)
    if len(raw) > MAX_IMPORT_BYTES:
        raise ApiError(413, "too_large", f"the file is larger than {MAX_IMPORT_BYTES} bytes; split it (the CLI does)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(422, "validation_error", f"the file is not UTF-8 (byte {exc.start})",
                       [{"loc": "file", "message": "save the CSV as UTF-8"}]) from None
    services = request.app.state.services
    result = await run_in_threadpool(_parse, services, who.workspace, text, first_line)
    parsed, known = result
    events = rows_to_events(parsed.rows, known, who.workspace)
    emitted = await _emit(request, who, events, wait) if events else {"event_ids": [], "projected": True}
    summary = {
        "rows": len(parsed.rows) + len({e["line"] for e in parsed.errors}),
        "created": sum(1 for e in events if e["type"] == "contact.created"),
        "updated": sum(1 for e in events if e["type"] == "contact.updated"),
        "failed": len({e["line"] for e in parsed.errors}),
        "projected": emitted["projected"],
    }
    if parsed.errors:
        return ORJSONResponse(body("validation_error", f"{summary['failed']} row(s) could not be imported; "
                                   "the other rows were imported", parsed.errors, **summary), status_code=422)
    return summary


def _parse(services, workspace: str, text: str, first_line: int):
    conn = services.read_db()
    parsed = parse_contacts_csv(text, workspace, first_line,
                                existing=lambda ws, email, phone: queries.find_contact_by_address(conn, ws, email, phone))
    known = {r.contact_id for r in parsed.rows if queries.contact_exists(conn, workspace, r.contact_id)}
    return parsed, known
