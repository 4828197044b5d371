"""Dry runs for the journey editor: ``POST /v1/journeys/{id}/simulate``.

The journey (the editor's unsaved ``graph``, or the stored draft) runs through the pure
simulator ``engine.simulate`` on a virtual clock: nothing is sent, stored or emitted.
The events are either a contact's recorded events (the read model's ``events`` table,
in log order, without what the engine itself emitted) or a list of envelopes the web
app parsed from an uploaded JSONL file (``{"advance": "PT4H"}`` lines included); each
bad item is reported with its index (``events[3]``) and line (``line 4``).

The answer, per contact: the steps entered in order with their virtual times, the
messages that would be sent or held back, the exits (``goal``, ``completed``, ...), and
the problems of the journey and the script.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import READERS, Caller, allow
from api.errors import ApiError
from api.routes.journeys import call
from engine.simulate import load_events_jsonl, simulate

router = APIRouter(tags=["journeys"])

MAX_EVENTS = 10_000
# what the engine emits about the journey itself is not replayed: the simulator makes its own
ENGINE_SOURCES = ("engine",)


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contact_id: str | None = Field(default=None, min_length=1, max_length=128,
                                   description="replay this contact's recorded events")
    events: list[Any] | None = Field(default=None, max_length=MAX_EVENTS,
                                     description="event envelopes (and {\"advance\": \"PT4H\"} items), e.g. from a JSONL file")
    graph: dict[str, Any] | None = Field(default=None, description="the editor's unsaved graph (default: the draft)")


def check_script(items: list[Any]) -> list[dict[str, str]]:
    """Field-path errors for the script items the simulator would refuse (item N is line N+1)."""
    errors = []
    for index, item in enumerate(items):
        try:
            load_events_jsonl(orjson.dumps(item).decode())
        except ValueError as exc:
            why = str(exc).removeprefix("line 1: ")
            errors.append({"loc": f"events[{index}]", "message": f"line {index + 1}: {why}"})
        except TypeError as exc:  # not JSON-serializable cannot come from JSON; kept for safety
            errors.append({"loc": f"events[{index}]", "message": f"line {index + 1}: {exc}"})
    return errors


def recorded_events(conn, workspace: str, contact_id: str) -> list[dict[str, Any]]:
    """The contact's events from the read model, in log order, as envelopes."""
    rows = conn.execute(
        "SELECT id, type, contact_id, occurred_at, source, data FROM events "
        "WHERE workspace = ? AND contact_id = ? ORDER BY position LIMIT ?",
        (workspace, contact_id, MAX_EVENTS)).fetchall()
    out = []
    for event_id, kind, cid, occurred_at, source, data in rows:
        if source in ENGINE_SOURCES or kind.startswith("journey."):
            continue
        envelope = {"id": event_id, "type": kind, "contact_id": cid, "workspace": workspace,
                    "data": orjson.loads(data) if isinstance(data, (str, bytes)) else (data or {})}
        if occurred_at:
            envelope["occurred_at"] = occurred_at if isinstance(occurred_at, str) else occurred_at.isoformat()
        out.append(envelope)
    return out


def describe(result, journey_id: str) -> dict[str, Any]:
    """The simulation as the editor shows it."""
    contacts = []
    for contact in result.contacts.values():
        contacts.append({
            "contact_id": contact.contact_id, "entered": contact.state is not None,
            "steps": contact.steps, "path": contact.path, "messages": contact.messages,
            "suppressed": contact.suppressed, "exits": contact.exits,
            "status": contact.state["state"] if contact.state else None,
            "waiting_at": contact.state.get("node") if contact.state and contact.state["state"] == "active" else None,
        })
    return {"journey_id": journey_id, "contacts": contacts, "problems": result.problems,
            "summary": result.summary(), "ended_at": result.ended_at,
            "simulated": not any(p.get("severity", "error") == "error" for p in result.problems)}


@router.post("/v1/journeys/{journey_id}/simulate",
             summary="Dry-run a journey against a contact's events or a list of events (nothing is sent)")
async def simulate_journey(request: Request, journey_id: str, body: SimulateIn, who: Caller = Depends(allow(*READERS))):
    services = request.app.state.services
    if (body.contact_id is None) == (body.events is None):
        raise ApiError(422, "validation_error", "give either contact_id or events",
                       [{"loc": "contact_id", "message": "give either contact_id or events, not both or neither"}])
    detail = await call(services.definitions.get_journey, who.workspace, journey_id)  # 404 for an unknown journey
    if body.graph is None:
        graph = detail.get("draft") or {}
    else:
        graph = {**body.graph, "id": body.graph.get("id") or journey_id}
    if body.events is not None:
        errors = check_script(body.events)
        if errors:
            raise ApiError(422, "validation_error", f"{len(errors)} event(s) cannot be simulated", errors)
        events = body.events
    else:
        if await run_in_threadpool(services.contact_state, who.workspace, body.contact_id) is None:
            raise ApiError(404, "not_found", f"no contact '{body.contact_id}'")
        events = await run_in_threadpool(recorded_events, services.read_db(), who.workspace, body.contact_id)
        if not events:
            raise ApiError(422, "validation_error", f"contact '{body.contact_id}' has no recorded events yet",
                           [{"loc": "contact_id", "message": "no recorded events"}])
    result = await run_in_threadpool(simulate, graph, events)
    return describe(result, journey_id)
