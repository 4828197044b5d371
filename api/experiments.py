"""A/B tests and holdouts, the shell: reports per split node from the read model, and
the auto-winner, which re-weights a split once a variant has won and publishes that as
a new journey version.

- ``report(services, workspace, journey_id, ...)``: for each published version (or one)
  and each split node in it: the variants' counts, rates, lift, p-value, probability to
  be best and the verdict (``journeys.experiments``), counted by ``projections.experiments``.
- ``apply_winners(services, workspace, journey_id, ...)``: for the latest version's split
  nodes (those with ``data.auto_winner`` only, unless ``configured_only=False``): when a
  variant wins at the node's confidence with at least ``min_per_variant`` contacts in
  every variant, save a draft with the winner at weight 100 and the others at 0 (noted in
  ``data.auto_winner.applied``) and publish it. A split whose latest version carries that
  note is never re-weighted again. The marketer's unpublished draft edits are kept: the
  draft is restored afterwards, with the same re-weighting applied to it.
- ``check_all(services)``: ``apply_winners`` for every published journey of every workspace.
- ``AutoWinnerChecker(services, interval)``: ``start()``/``stop()`` a daemon thread that
  runs ``check_all`` every ``interval`` seconds (``engine.worker.Worker``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from api.reading import reading
from engine.definitions import DefinitionError
from engine.worker import Worker
from journeys.durations import seconds
from journeys.events import iso_from_epoch
from journeys.experiments import Split, analyze, reweighted, splits
from projections.experiments import Conversion, split_counts

logger = logging.getLogger("switchback.experiments")

CHECK_INTERVAL = 60.0
_apply_lock = threading.Lock()  # one re-weighting at a time in this process (thread + on-demand route)


class ExperimentError(Exception):
    """A refused request: ``code`` (``state``, ``not_found``, ``conflict``), ``message`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message




def conversion_of(graph: dict[str, Any], split: Split, event: str | None = None,
                  window: str | None = None) -> tuple[Conversion | None, list[str]]:
    """What counts as converting for ``split`` (the query's event/window, else the node's
    ``auto_winner`` event/window, else the journey goal), and warnings about it."""
    settings = split.auto_winner or {}
    event = event or settings.get("event")
    window = window or settings.get("window")
    conversion = Conversion(event=event, window=seconds(window) if window else None)
    warnings = []
    if event is None:
        if not (graph.get("settings") or {}).get("goal"):
            return None, ["the journey has no goal: set settings.goal, or measure an event with ?event=<type>"]
        holdouts = split.holdouts()
        if holdouts:
            warnings.append(
                f"{', '.join(holdouts)} lead(s) straight to an end node: those contacts leave the journey at once and"
                " can never reach its goal; measure an event instead (?event=<type>&window=P14D, or"
                " auto_winner.event/window)")
    return conversion, warnings


def _experiment(conn, workspace: str, journey_id: str, version: int, graph: dict[str, Any], split: Split,
                event: str | None, window: str | None) -> dict[str, Any]:
    conversion, warnings = conversion_of(graph, split, event, window)
    item: dict[str, Any] = {"version": version, "node_id": split.node_id,
                            "weights": {v.handle: v.weight for v in split.variants},
                            "conversion": conversion.describe() if conversion else None, "warnings": warnings}
    if conversion is None:  # who took which variant is still worth showing
        counts = split_counts(conn, workspace, journey_id, version, split)
        empty = dict.fromkeys(("converted", "rate", "probability_best", "difference", "lift", "p_value", "ci"))
        item.update(control=split.control, confidence=split.confidence, min_per_variant=split.min_per_variant,
                    verdict="no conversion defined", outcome="no_conversion", winner=None, more_per_variant_needed=None,
                    variants=[{"handle": c.handle, "control": c.handle == split.control, "entered": c.entered, **empty}
                              for c in counts])
        return item
    counts = split_counts(conn, workspace, journey_id, version, split, conversion)
    analysis = analyze(counts, split.control, split.confidence, split.min_per_variant).as_dict()
    item.update(analysis)
    if split.applied:
        note = split.applied
        item.update(verdict=f"winner: {note.get('handle')} (applied from version {note.get('from_version')})",
                    outcome="applied", winner=note.get("handle"), applied=note, more_per_variant_needed=None)
    return item


def _versions(definitions, workspace: str, journey_id: str, version: int | None) -> list[tuple[int, dict[str, Any]]]:
    info = definitions.get_journey(workspace, journey_id)
    numbers = [v["version"] for v in info["versions"]]
    if version is not None:
        numbers = [version]  # get_version says which exist when it is not one of them
    return [(n, definitions.get_version(workspace, journey_id, n)) for n in sorted(numbers, reverse=True)]


def report(services, workspace: str, journey_id: str, version: int | None = None, event: str | None = None,
           window: str | None = None) -> dict[str, Any]:
    """Every split of every published version (newest first), or of ``version``."""
    versions = _versions(services.definitions, workspace, journey_id, version)
    items = []
    with reading(services) as conn:
        for number, graph in versions:
            for split in splits(graph):
                items.append(_experiment(conn, workspace, journey_id, number, graph, split, event, window))
    return {"journey_id": journey_id, "experiments": items}


# -- auto-winner ---------------------------------------------------------------------------
def _comparable(graph: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in graph.items() if k not in ("status", "version")}


def _publish(services, workspace: str, journey_id: str, previous: dict[str, Any], graph: dict[str, Any],
             applied: list[dict[str, Any]]) -> dict[str, Any]:
    """Publish ``graph`` (``previous`` re-weighted) as the next version.

    The marketer's draft is kept: if it had unpublished edits, it is restored afterwards
    with the same re-weighting (so their next publish does not undo the winner); if the
    publish fails, it is restored exactly as it was.
    """
    definitions = services.definitions
    info = definitions.get_journey(workspace, journey_id)
    if info["current_version"] != previous["version"]:  # another process published meanwhile: look again later
        raise ExperimentError("conflict", f"journey '{journey_id}' was published meanwhile (version"
                                          f" {info['current_version']}); the winner was not applied")
    draft = info["draft"]
    definitions.save_draft(workspace, graph)
    try:
        published = definitions.publish(workspace, journey_id)
    except BaseException:
        definitions.save_draft(workspace, draft)
        raise
    if _comparable(draft) != _comparable(previous):
        for entry in applied:
            note = {k: v for k, v in entry.items() if k != "node_id"}
            draft = reweighted(draft, entry["node_id"], entry["handle"], note)
        definitions.save_draft(workspace, draft)
    services.notify()
    return published


def _note(item: dict[str, Any], version: int, now: float) -> dict[str, Any]:
    """What ``data.auto_winner.applied`` records: who won, when, on which evidence."""
    row = next(v for v in item["variants"] if v["handle"] == item["winner"])
    p_value = row["p_value"]
    if p_value is None:  # the control won: every other variant was significantly worse
        p_value = max(v["p_value"] for v in item["variants"] if v["p_value"] is not None)
    return {"handle": item["winner"], "at": iso_from_epoch(now), "from_version": version, "p_value": p_value,
            "probability_best": row["probability_best"], "confidence": item["confidence"],
            "entered": {v["handle"]: v["entered"] for v in item["variants"]},
            "converted": {v["handle"]: v["converted"] for v in item["variants"]}}


def apply_winners(services, workspace: str, journey_id: str, node_id: str | None = None,
                  configured_only: bool = True) -> dict[str, Any]:
    """Re-weight every split of the latest version that has a winner, in one new version.

    ``configured_only``: only splits with ``data.auto_winner`` (the background checker);
    on demand, every split (with the default confidence and minimum where not set).
    Returns ``{"journey_id", "applied": [{node_id, handle, version (the new one), ...}],
    "experiments": [the latest version's analysis of the splits looked at]}``. Only a
    published (not paused, not archived) journey is changed: publishing would resume it.
    A split with warnings (a holdout measured by the journey goal) is never applied.
    """
    definitions = services.definitions
    with _apply_lock:
        info = definitions.get_journey(workspace, journey_id)
        if not info["versions"]:
            raise ExperimentError("state", f"journey '{journey_id}' has no published version yet")
        if info["status"] != "published":
            raise ExperimentError("state", f"journey '{journey_id}' is {info['status']}; a winner is applied only to"
                                           " a published journey (publishing would resume it)")
        number = info["versions"][-1]["version"]
        previous = definitions.get_version(workspace, journey_id, number)
        chosen = [s for s in splits(previous) if node_id in (None, s.node_id)]
        if node_id is not None and not chosen:
            raise ExperimentError("not_found", f"version {number} of journey '{journey_id}' has no split node '{node_id}'")
        graph, applied, items = previous, [], []
        with reading(services) as conn:
            for split in chosen:
                if configured_only and split.auto_winner is None:
                    continue
                item = _experiment(conn, workspace, journey_id, number, previous, split, None, None)
                items.append(item)
                if split.applied or item["outcome"] != "winner" or item["warnings"]:
                    continue
                note = _note(item, number, services.clock.now())
                graph = reweighted(graph, split.node_id, note["handle"], note)
                applied.append({"node_id": split.node_id, **note})
        if applied:
            published = _publish(services, workspace, journey_id, previous, graph, applied)
            for entry in applied:
                entry["version"] = published["version"]
            logger.info("auto-winner: journey %s/%s version %s: %s", workspace, journey_id, published["version"],
                        ", ".join(f"{a['node_id']} -> {a['handle']}" for a in applied))
    return {"journey_id": journey_id, "applied": applied, "experiments": items}


def check_all(services) -> int:
    """``apply_winners`` on every published journey with an auto-winner split; how many
    journeys got a new version. A failure on one journey is logged and does not stop the others."""
    changed = 0
    for workspace, graph, status in services.definitions.published():
        if status != "published" or not any(s.auto_winner and not s.applied for s in splits(graph)):
            continue
        try:
            if apply_winners(services, workspace, graph["id"])["applied"]:
                changed += 1
        except (DefinitionError, ExperimentError) as exc:
            logger.warning("auto-winner: journey %s/%s not re-weighted: %s", workspace, graph["id"], exc)
    return changed


class AutoWinnerChecker:
    """Runs ``check_all(services)`` now and then every ``interval`` seconds in a daemon thread."""

    def __init__(self, services, interval: float = CHECK_INTERVAL):
        self.services, self.interval = services, interval
        self._wake = threading.Event()
        self.worker = Worker("auto-winner", self.run_once, self._idle, wake=self._wake.set, retry_after=interval)

    def run_once(self) -> int:
        check_all(self.services)
        return 0  # then wait for the interval (a new version is never re-weighted again anyway)

    def _idle(self) -> None:
        self._wake.wait(self.interval)

    def start(self) -> None:
        self._wake.clear()
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()

    @property
    def last_error(self) -> str | None:
        return self.worker.last_error
