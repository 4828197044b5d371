"""Broadcasts, the shell: create (publish the one-node journey, pick the audience from the
engine's contact states, target each recipient with one event), count an audience,
list, show progress from the read model, cancel.

The pure parts (model, graph, audience matching, status) are in ``journeys.broadcasts``.
The broadcast's record lives in its journey's draft under ``broadcast`` (the graph keeps
unknown fields), so nothing new is stored anywhere: ``broadcast-<id>`` is an ordinary
journey in analytics.

Contact states are read where the engine keeps them: embedded, the ``contact_state``
table of ``events.db``; distributed, ``<schema>.contact_state`` in PostgreSQL. Both are
streamed (one snapshot, rows parsed one by one); only the recipients' ids are held.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from typing import Any, Iterable, Iterator, Literal

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from ulid import ULID

from api.reading import reading
from api.errors import ApiError, pydantic_details
from engine.definitions import DefinitionError
from engine.state import SEP, key_of
from journeys import broadcasts as model
from journeys.broadcasts import Audience, Broadcast, BroadcastError
from journeys.events import iso_from_epoch, parse_time
from journeys.graph import Journey
from journeys.validation import errors, validate_journey

logger = logging.getLogger("switchback.broadcasts")

# Targeting events per append (one log transaction each). Each append may wait for the
# runtime's commit of the batch it is working on, so fewer, larger appends are faster:
# 25,000 keeps a 50,000-recipient broadcast near 1 s here, 5,000 took 3.5 s.
CHUNK = 25_000
# Distributed workers reload journey definitions at most twice a second: targeting
# events wait this long after the publish so that no worker meets them with a stale
# catalogue (a contact whose event arrives before its journey is known never enters).
WORKER_REFRESH_GRACE = 0.6
RUNTIME_WAIT = 5.0  # embedded: how long to wait for the runtime to load the new journey
# per stage: messages that reached it; pending: queued, nothing reported since
_PROGRESS_SQL = (
    "SELECT " + ", ".join(f"COUNT({s}_at)" for s in model.PROGRESS)
    + ", COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0)"
    + " FROM messages WHERE workspace = ? AND journey_id = ?"
)
_INSTANCES_SQL = (
    "SELECT COUNT(*), COALESCE(SUM(CASE WHEN state = 'done' THEN 1 ELSE 0 END), 0)"
    " FROM journey_instances WHERE workspace = ? AND journey_id = ?"
)


class AudienceQuery(BaseModel):
    """``POST /v1/broadcasts/audience``: the audience (other broadcast fields are ignored,
    so a form can send the whole broadcast); ``channel`` adds how many are reachable."""

    model_config = ConfigDict(extra="ignore")
    audience: Audience
    channel: Literal["email", "sms", "whatsapp"] | None = None


# -- contact states ----------------------------------------------------------------------
def sqlite_contact_states(conn: sqlite3.Connection, workspace: str) -> Iterator[dict[str, Any]]:
    """The workspace's contact states in the embedded engine's ``contact_state`` table."""
    low, high = key_of(workspace, ""), workspace + chr(ord(SEP) + 1)
    for (body,) in conn.execute("SELECT body FROM contact_state WHERE key >= ? AND key < ?", (low, high)):
        yield orjson.loads(body)


def pg_contact_states(dsn: str, schema: str, workspace: str, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """The workspace's contact states in ``<schema>.contact_state`` (PostgreSQL), read with
    a server-side cursor in one snapshot."""
    import psycopg  # distributed mode only
    from psycopg import sql

    query = sql.SQL("SELECT body FROM {}.contact_state WHERE starts_with(key, %s)").format(sql.Identifier(schema))
    with psycopg.connect(dsn) as conn, conn.transaction():
        with conn.cursor(name="broadcast_audience") as cur:
            cur.itersize = batch
            cur.execute(query, (key_of(workspace, ""),))
            for (body,) in cur:
                yield orjson.loads(body)


def contact_states(services, workspace: str) -> Iterator[dict[str, Any]]:
    """Contact states from wherever this deployment's engine keeps them."""
    log = getattr(services, "log", None)
    if log is not None:
        return sqlite_contact_states(log.connection(), workspace)
    return pg_contact_states(services.settings.pg, services.schema, workspace)


# -- input --------------------------------------------------------------------------------
def _parse(kind: type[BaseModel], payload: Any) -> Any:
    if not isinstance(payload, dict):
        raise ApiError(422, "validation_error", "the body must be a JSON object", [{"loc": "body", "message": "must be an object"}])
    try:
        return kind.model_validate(payload)
    except ValidationError as exc:
        raise ApiError(422, "validation_error", "the request is not valid", pydantic_details(exc)) from None


def _invalid(details: list[dict[str, str]]) -> ApiError:
    return ApiError(422, "validation_error", f"the broadcast cannot be sent as asked: {details[0]['loc']}: "
                    f"{details[0]['message']}", details)


def _template_channel(definitions, workspace: str, template_id: str) -> str | None:
    try:
        return definitions.get_template(workspace, template_id).get("channel", "email")
    except DefinitionError as exc:
        if exc.code == "not_found":
            return None
        raise


def audience_count(services, workspace: str, payload: Any) -> dict[str, int]:
    """``{"count": n}`` (and ``reachable`` with a channel) with the selection code of ``create``."""
    query = _parse(AudienceQuery, payload)
    found = model.audience_problems(query.audience)
    if found:
        raise _invalid(found)
    return model.count(query.audience, contact_states(services, workspace), services.clock.now(), query.channel)


# -- create ---------------------------------------------------------------------------------
def new_broadcast_id() -> str:
    return str(ULID()).lower()


def _await_journey_loaded(services, published_at: float) -> None:
    """Make sure the runtime knows the new journey before its targeting events arrive."""
    processor = getattr(getattr(services, "runtime", None), "processor", None)
    if processor is not None and hasattr(processor, "_changes"):
        target = services.definitions.changes()
        deadline = time.monotonic() + RUNTIME_WAIT
        while processor._changes < target and time.monotonic() < deadline:
            services.notify()
            time.sleep(0.005)
        return
    left = WORKER_REFRESH_GRACE - (time.monotonic() - published_at)
    if left > 0:
        time.sleep(left)


def _chunks(records: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for record in records:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def create(services, workspace: str, payload: Any) -> dict[str, Any]:
    """Validate, publish ``broadcast-<id>``, target the audience; returns the broadcast."""
    broadcast: Broadcast = _parse(Broadcast, payload)
    definitions = services.definitions
    now = services.clock.now()
    try:
        model.check(broadcast, now, _template_channel(definitions, workspace, broadcast.template))
    except BroadcastError as exc:
        raise _invalid(exc.details) from None
    bid = new_broadcast_id()
    graph = model.broadcast_journey(broadcast, bid, now)
    blocking = errors(validate_journey(Journey.model_validate(graph), templates=[broadcast.template]))
    if blocking:  # the builder makes valid graphs; never publish one that is not
        raise ApiError(500, "internal", f"the broadcast's journey is not valid: {blocking[0]}")
    jid = graph["id"]
    definitions.save_draft(workspace, graph)
    definitions.publish(workspace, jid)
    published_at = time.monotonic()
    services.notify()
    try:
        recipients = list(model.select(broadcast.audience, contact_states(services, workspace), now))
        _await_journey_loaded(services, published_at)
        for chunk in _chunks(model.targeted_events(bid, workspace, recipients, now), CHUNK):
            services.append(chunk)
    except BaseException:
        logger.exception("targeting broadcast %s failed; it is cancelled", bid)
        try:
            _stop(services, workspace, jid)
            _save_record(definitions, workspace, jid, status="cancelled", cancelled_at=iso_from_epoch(services.clock.now()))
        except Exception:  # noqa: BLE001 - the first error is the one to report
            logger.exception("could not mark broadcast %s cancelled", bid)
        raise
    record = _save_record(definitions, workspace, jid, status="scheduled" if broadcast.send_at() else "sending",
                          targeted=len(recipients))
    logger.info("broadcast %s targets %d contacts", bid, len(recipients))
    return record


def _save_record(definitions, workspace: str, jid: str, **changes: Any) -> dict[str, Any]:
    """Update the broadcast's fields in its journey draft; returns the record."""
    draft = definitions.get_journey(workspace, jid)["draft"]
    draft["broadcast"] = {**draft.get("broadcast", {}), **changes}
    definitions.save_draft(workspace, draft)
    return draft["broadcast"]


def _stop(services, workspace: str, jid: str) -> None:
    try:
        services.definitions.pause(workspace, jid)
    except DefinitionError as exc:
        if exc.code != "conflict":  # already paused (or never published): nothing moves
            raise
    services.notify()


# -- read -----------------------------------------------------------------------------------


def progress(conn, workspace: str, jid: str, targeted: int) -> dict[str, int]:
    """Live counts of a broadcast's journey from the read model."""
    row = conn.execute(_PROGRESS_SQL, (workspace, jid)).fetchone()
    entered, finished = conn.execute(_INSTANCES_SQL, (workspace, jid)).fetchone()
    counts = {"targeted": targeted, "entered": int(entered or 0), "finished": int(finished or 0)}
    counts.update({name: int(value or 0) for name, value in zip((*model.PROGRESS, "pending"), row)})
    return counts


def _view(info: dict[str, Any], conn, workspace: str, now: float) -> dict[str, Any]:
    record = dict(info["draft"]["broadcast"])
    counts = progress(conn, workspace, record["journey_id"], int(record.get("targeted") or 0))
    send_at = parse_time(record["send_at"]) if record.get("send_at") else None
    record["status"] = model.status(record.get("status", "sending"), info["status"], send_at, now,
                                    counts["targeted"], counts["finished"], counts["pending"])
    record["journey_status"] = info["status"]
    record["progress"] = counts
    return record


def _journey(definitions, workspace: str, broadcast_id: str) -> dict[str, Any]:
    jid = model.journey_id(broadcast_id)
    not_found = ApiError(404, "not_found", f"no broadcast '{broadcast_id}' in this workspace")
    if not model.is_broadcast_id(broadcast_id):
        raise not_found
    try:
        info = definitions.get_journey(workspace, jid)
    except DefinitionError as exc:
        if exc.code == "not_found":
            raise not_found from None
        raise
    if not isinstance(info["draft"].get("broadcast"), dict):
        raise not_found
    return info


def get(services, workspace: str, broadcast_id: str) -> dict[str, Any]:
    """The broadcast with its live status and progress."""
    info = _journey(services.definitions, workspace, broadcast_id)
    with reading(services) as conn:
        return _view(info, conn, workspace, services.clock.now())


def list_broadcasts(services, workspace: str) -> list[dict[str, Any]]:
    """Every broadcast of the workspace, newest first, with status and progress."""
    definitions = services.definitions
    now = services.clock.now()
    items = []
    with reading(services) as conn:
        for journey in definitions.list_journeys(workspace):
            if model.broadcast_id_of(journey["id"]) is None:
                continue
            info = definitions.get_journey(workspace, journey["id"])
            if isinstance(info["draft"].get("broadcast"), dict):
                items.append(_view(info, conn, workspace, now))
    items.sort(key=lambda b: (b.get("created_at") or "", b["id"]), reverse=True)
    return items


# -- cancel ---------------------------------------------------------------------------------
def cancel(services, workspace: str, broadcast_id: str) -> dict[str, Any]:
    """No further messages: pause the journey (contacts are held before their message and
    nobody new enters) and mark the broadcast cancelled. Sent messages stay sent."""
    info = _journey(services.definitions, workspace, broadcast_id)
    jid = model.journey_id(broadcast_id)
    if info["status"] == "published":
        _stop(services, workspace, jid)
    if info["draft"]["broadcast"].get("status") != "cancelled":
        _save_record(services.definitions, workspace, jid, status="cancelled",
                     cancelled_at=iso_from_epoch(services.clock.now()))
    return get(services, workspace, broadcast_id)


def refuse_cancelled(definitions, workspace: str, journey_id: str) -> None:
    """Guard for the journeys API: a cancelled (paused) broadcast's journey is never resumed
    or published again, so held contacts never get the message by accident."""
    if model.broadcast_id_of(journey_id) is None:
        return
    try:
        info = definitions.get_journey(workspace, journey_id)
    except DefinitionError:
        return
    if info["status"] != "paused":
        return
    published = definitions.get_version(workspace, journey_id, info["current_version"]) if info["current_version"] else {}
    # the published version counts too: a draft saved over the broadcast's must not free it
    if isinstance(info["draft"].get("broadcast"), dict) or isinstance(published.get("broadcast"), dict):
        raise DefinitionError("conflict", f"journey '{journey_id}' is a cancelled broadcast; cancelled broadcasts are"
                                          " never resumed or published again: create a new broadcast instead")
