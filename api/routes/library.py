"""What the journey editor offers to pick from: the ready-made journeys ("new from
template") and the event types a trigger or an event wait can use."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from api.auth import READERS, Caller, allow
from journeys.events import CATALOGUE
from journeys.library import library_journeys

router = APIRouter(tags=["library"])
MAX_EVENT_TYPES = 500


@router.get("/v1/library/journeys", summary="The ready-made journeys (graphs to start a new journey from)")
def list_library_journeys(who: Caller = Depends(allow(*READERS))):
    return {"items": library_journeys()}


@router.get("/v1/event-types", summary="Event types seen in this workspace, then the catalogue's others")
def list_event_types(request: Request, who: Caller = Depends(allow(*READERS))):
    """``items``: ``{type, seen, description}``; ``seen`` counts the workspace's events of
    that type (0 for catalogue types never sent yet). Seen types come first, most used first."""
    rows = request.app.state.services.read_db().execute(
        "SELECT type, COUNT(*) AS n FROM events WHERE workspace = ? GROUP BY type ORDER BY n DESC, type LIMIT ?",
        (who.workspace, MAX_EVENT_TYPES)).fetchall()
    seen = {kind: int(count) for kind, count in rows}
    items = [{"type": kind, "seen": count, "description": CATALOGUE.get(kind, "custom event")}
             for kind, count in seen.items()]
    items += [{"type": kind, "seen": 0, "description": text} for kind, text in sorted(CATALOGUE.items())
              if kind not in seen]
    return {"items": items}
