"""Experiments: A/B test and holdout results per split node (readers), and applying the
winner on demand (editors). See docs/experiments.md; the work is in ``api.experiments``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from api import experiments
from api.auth import EDITORS, READERS, Caller, allow
from api.errors import ApiError
from api.routes.journeys import definition_error
from engine.definitions import DefinitionError
from journeys.durations import DurationError, parse_duration

router = APIRouter(tags=["experiments"])
_STATUS = {"state": 409, "conflict": 409, "not_found": 404}


async def _call(fn, *args, **kwargs):
    try:
        return await run_in_threadpool(lambda: fn(*args, **kwargs))
    except DefinitionError as exc:
        raise definition_error(exc) from None
    except experiments.ExperimentError as exc:
        raise ApiError(_STATUS.get(exc.code, 409), exc.code, exc.message) from None


def _check_window(window: str | None) -> None:
    if window is None:
        return
    try:
        parse_duration(window)
    except DurationError as exc:
        raise ApiError(422, "validation_error", f"window {exc}", [{"loc": "window", "message": str(exc)}]) from None


@router.get("/v1/journeys/{journey_id}/experiments",
            summary="A/B tests and holdouts: per split node, the variants' results and a verdict")
async def list_experiments(
    request: Request, journey_id: str,
    version: int | None = Query(None, ge=1, description="one published version (default: all, newest first)"),
    event: str | None = Query(None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$",
                              description="count this event type as the conversion instead of the journey goal"),
    window: str | None = Query(None, description="only conversions within this long after the split, e.g. P7D"),
    who: Caller = Depends(allow(*READERS)),
):
    _check_window(window)
    return await _call(experiments.report, request.app.state.services, who.workspace, journey_id, version, event, window)


@router.post("/v1/journeys/{journey_id}/experiments/apply-winner",
            summary="Send everyone to the winning variant: publish a new version with the split re-weighted")
async def apply_winner(
    request: Request, journey_id: str,
    node_id: str | None = Query(None, min_length=1, max_length=100, description="only this split node"),
    who: Caller = Depends(allow(*EDITORS)),
):
    return await _call(experiments.apply_winners, request.app.state.services, who.workspace, journey_id,
                       node_id=node_id, configured_only=False)
