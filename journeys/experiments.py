"""A/B tests and holdouts, the arithmetic: from per-variant counts (contacts who entered
each variant of a split, and how many of them converted) to conversion rates, a
frequentist and a Bayesian comparison, and a verdict a marketer can act on.

Pure (standard library only, no I/O, deterministic):

- ``z_test(control, variant)``: the two-proportion z-test (pooled standard error) for
  the p-value, and Newcombe's score interval for the confidence interval of the difference;
- ``probability_best(variants)``: with a uniform prior, each variant's rate has a
  Beta(1 + converted, 1 + entered - converted) posterior; the probability that each
  variant has the highest rate is integrated numerically (no random draws);
- ``sample_size(p1, p2, alpha)``: contacts per variant to detect that difference with
  80% power;
- ``analyze(counts, ...)``: all of it plus the verdict, ``winner: <handle>``,
  ``not yet significant (...)`` or ``no difference``; see ``verdict`` for the rules.

And the split-node helpers the shell needs: ``splits(graph)`` (every split with its
variants, their targets and the experiment settings) and ``reweighted(graph, ...)`` (the
graph with the winner at 100 and the others at 0, noted in ``data.auto_winner.applied``).
"""

from __future__ import annotations

import math
from copy import deepcopy
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Sequence

DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_PER_VARIANT = 100
# Differences smaller than this share of the control's rate are "no difference".
DEFAULT_MIN_LIFT = 0.05
POWER = 0.8
_NORMAL = NormalDist()
_GRID = 800  # integration points per variant (over its posterior's mean +- 12 sd)


@dataclass(frozen=True)
class VariantCounts:
    """Contacts who entered a variant, and how many of them converted."""

    handle: str
    entered: int
    converted: int

    def __post_init__(self) -> None:
        if not (isinstance(self.entered, int) and isinstance(self.converted, int)):
            raise ValueError(f"variant '{self.handle}': counts must be whole numbers")
        if not 0 <= self.converted <= self.entered:
            raise ValueError(f"variant '{self.handle}': converted ({self.converted}) must be between 0 and"
                             f" entered ({self.entered})")

    @property
    def rate(self) -> float | None:
        return self.converted / self.entered if self.entered else None


@dataclass(frozen=True)
class Comparison:
    """A variant against the control: difference of rates (variant - control), relative
    lift, z statistic, two-sided p-value, confidence interval of the difference."""

    difference: float
    lift: float | None
    z: float
    p_value: float
    ci_low: float
    ci_high: float
    confidence: float


def z_test(control: VariantCounts, variant: VariantCounts, confidence: float = DEFAULT_CONFIDENCE) -> Comparison | None:
    """Two-proportion z-test of ``variant`` against ``control``; None if either has no contacts."""
    if not control.entered or not variant.entered:
        return None
    p1, p2 = control.converted / control.entered, variant.converted / variant.entered
    n1, n2 = control.entered, variant.entered
    pooled = (control.converted + variant.converted) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    difference = p2 - p1
    z = difference / se_pooled if se_pooled > 0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2)) if se_pooled > 0 else 1.0
    z_ci = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    low1, high1 = wilson_interval(control.converted, n1, z_ci)
    low2, high2 = wilson_interval(variant.converted, n2, z_ci)
    # Newcombe's hybrid score interval (his method 10): unlike the plain Wald interval, it
    # stays sensible at rates near 0% or 100% and with few contacts
    ci_low = difference - math.sqrt((p2 - low2) ** 2 + (high1 - p1) ** 2)
    ci_high = difference + math.sqrt((high2 - p2) ** 2 + (p1 - low1) ** 2)
    return Comparison(difference=difference, lift=difference / p1 if p1 > 0 else None, z=z, p_value=min(1.0, p_value),
                      ci_low=ci_low, ci_high=ci_high, confidence=confidence)


def wilson_interval(converted: int, entered: int, z: float) -> tuple[float, float]:
    """Wilson's score interval of a conversion rate (``z``: the normal quantile, 1.96 for 95%)."""
    if not entered:
        return 0.0, 1.0
    p, n = converted / entered, entered
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def sample_size(p1: float, p2: float, alpha: float = 1 - DEFAULT_CONFIDENCE, power: float = POWER) -> int | None:
    """Contacts per variant for a two-sided test at ``alpha`` to detect rates ``p1`` vs
    ``p2`` with ``power``; None when the rates are equal (no effect to detect)."""
    if p1 == p2:
        return None
    z_alpha, z_power = _NORMAL.inv_cdf(1 - alpha / 2), _NORMAL.inv_cdf(power)
    mean = (p1 + p2) / 2
    root = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_power * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root * root / (p1 - p2) ** 2)


# -- Bayesian: probability to be best ----------------------------------------------------------
def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _pdf(p: float, a: float, b: float, log_norm: float) -> float:
    if p <= 0.0:
        return math.exp(-log_norm) if a == 1 else 0.0
    if p >= 1.0:
        return math.exp(-log_norm) if b == 1 else 0.0
    return math.exp((a - 1) * math.log(p) + (b - 1) * math.log1p(-p) - log_norm)


def probability_best(variants: Sequence[VariantCounts]) -> list[float]:
    """For each variant, the posterior probability that its rate is the highest.

    Posterior Beta(1 + converted, 1 + entered - converted) (uniform prior). P(i best) =
    integral of pdf_i(p) * prod_{j != i} cdf_j(p) dp, by the trapezoid rule on a grid
    that is dense where each posterior has its mass; the results are normalized to sum to 1.
    """
    if not variants:
        return []
    if len(variants) == 1:
        return [1.0]
    params = [(1.0 + v.converted, 1.0 + v.entered - v.converted) for v in variants]
    points: set[float] = {0.0, 1.0}
    for a, b in params:
        mean, sd = a / (a + b), math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
        low, high = max(0.0, mean - 12 * sd), min(1.0, mean + 12 * sd)
        step = (high - low) / _GRID
        points.update(low + i * step for i in range(_GRID + 1))
    grid = sorted(points)
    pdfs = [[_pdf(p, a, b, _log_beta(a, b)) for p in grid] for a, b in params]
    cdfs = []
    for pdf in pdfs:
        total, cdf = 0.0, [0.0]
        for k in range(1, len(grid)):
            total += (pdf[k] + pdf[k - 1]) * (grid[k] - grid[k - 1]) / 2
            cdf.append(total)
        cdfs.append([c / total for c in cdf] if total > 0 else cdf)
    scores = []
    for i, pdf in enumerate(pdfs):
        others = [cdfs[j] for j in range(len(params)) if j != i]
        integrand = [pdf[k] * math.prod(c[k] for c in others) for k in range(len(grid))]
        scores.append(sum((integrand[k] + integrand[k - 1]) * (grid[k] - grid[k - 1]) / 2
                          for k in range(1, len(grid))))
    total = sum(scores)
    return [s / total for s in scores] if total > 0 else [1 / len(params)] * len(params)


# -- the verdict ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    """``outcome``: ``winner`` | ``not_significant`` | ``no_difference``; ``text`` says it in words."""

    outcome: str
    text: str
    winner: str | None = None
    more_per_variant: int | None = None


@dataclass(frozen=True)
class Analysis:
    control: str
    confidence: float
    alpha: float  # per comparison (the significance level split over the comparisons)
    min_per_variant: int
    variants: list[VariantCounts]
    comparisons: dict[str, Comparison | None]
    best: list[float]
    verdict: Verdict
    min_lift: float = DEFAULT_MIN_LIFT

    def as_dict(self) -> dict[str, Any]:
        rows = []
        for variant, best in zip(self.variants, self.best):
            row: dict[str, Any] = {"handle": variant.handle, "control": variant.handle == self.control,
                                   "entered": variant.entered, "converted": variant.converted,
                                   "rate": variant.rate, "probability_best": best}
            comparison = self.comparisons.get(variant.handle)
            row.update(difference=None, lift=None, p_value=None, ci=None)
            if comparison is not None:
                row.update(difference=comparison.difference, lift=comparison.lift, p_value=comparison.p_value,
                           ci=[comparison.ci_low, comparison.ci_high])
            rows.append(row)
        return {"control": self.control, "confidence": self.confidence, "alpha": round(self.alpha, 12),
                "min_per_variant": self.min_per_variant, "variants": rows, "verdict": self.verdict.text,
                "outcome": self.verdict.outcome, "winner": self.verdict.winner,
                "more_per_variant_needed": self.verdict.more_per_variant}


def _not_yet(needed: int | None, smallest: int, min_per_variant: int, why: str) -> Verdict:
    """"not yet significant", with how many more contacts each variant needs (if known)."""
    if smallest < min_per_variant and (needed is None or needed <= min_per_variant):
        more = min_per_variant - smallest
        return Verdict("not_significant", f"not yet significant ({more} more per variant needed to reach the"
                                          f" minimum of {min_per_variant})", more_per_variant=more)
    if needed is None:
        return Verdict("not_significant", f"not yet significant ({why})")
    more = max(1, needed - smallest)
    return Verdict("not_significant", f"not yet significant ({more} more per variant needed at the observed effect)",
                   more_per_variant=more)


def verdict(variants: Sequence[VariantCounts], control: str, comparisons: dict[str, Comparison | None],
            best: Sequence[float], confidence: float, alpha: float, min_per_variant: int,
            min_lift: float = DEFAULT_MIN_LIFT) -> Verdict:
    """The rules, in order:

    1. every variant needs ``min_per_variant`` contacts, else "not yet significant" with
       how many more are needed (at least the minimum; more if the observed effect needs it);
    2. "winner: <v>" when a variant is better than the control with p < alpha (the
       significance level ``1 - confidence`` split over the comparisons, Bonferroni) **and**
       its probability to be best is at least ``confidence``; the control wins when every
       other variant is significantly worse and its probability to be best is that high;
    3. "no difference" when no comparison is significant and every confidence interval of
       the difference lies within +-``min_lift`` x the control's rate (any real difference
       is too small to matter);
    4. otherwise "not yet significant", with the contacts per variant needed to detect
       the observed difference between the leader and the control (between the two best
       when several beat the control; with no observed difference, the smallest
       difference that matters).
    """
    by_handle = {v.handle: v for v in variants}
    base = by_handle[control]
    chance = dict(zip((v.handle for v in variants), best))
    smallest = min(v.entered for v in variants)
    rate = lambda h: by_handle[h].rate or 0.0  # noqa: E731

    def needed_between(first: str, second: str) -> int | None:
        p1, p2 = by_handle[first].rate, by_handle[second].rate
        if p1 is None or p2 is None:
            return None
        if p1 == p2 and p1 > 0:  # no observed effect: size for the smallest one that matters
            p2 = min(1.0, p1 * (1 + min_lift))
        return sample_size(p1, p2, alpha)

    leader = max(by_handle, key=lambda h: (chance[h], rate(h)))
    rival = leader if leader != control else max((h for h in by_handle if h != control), key=lambda h: (rate(h), chance[h]))
    needed = needed_between(control, rival)
    if smallest < min_per_variant:
        return _not_yet(needed, smallest, min_per_variant, "no conversions yet")
    tested = {h: c for h, c in comparisons.items() if c is not None}
    better = [h for h, c in tested.items() if c.p_value < alpha and c.difference > 0]
    worse = [h for h, c in tested.items() if c.p_value < alpha and c.difference < 0]
    if better:
        top = max(better, key=lambda h: (rate(h), chance[h]))
        if chance[top] >= confidence:
            return Verdict("winner", f"winner: {top}", winner=top)
        # several variants beat the control: it is the best among them that is not clear yet
        runner_up = max((h for h in by_handle if h != top), key=lambda h: (rate(h), chance[h]))
        return _not_yet(needed_between(runner_up, top), smallest, min_per_variant, "too close to call")
    if tested and len(worse) == len(tested) and chance[control] >= confidence:
        return Verdict("winner", f"winner: {control}", winner=control)
    if not worse and base.rate is not None:
        margin = min_lift * base.rate
        if all(-margin <= c.ci_low and c.ci_high <= margin for c in tested.values()):
            return Verdict("no_difference", "no difference")
    return _not_yet(needed, smallest, min_per_variant, "no conversions yet, so no effect to size")


def pick_control(handles: Sequence[str], flagged: str | None = None) -> str:
    """The control: the flagged variant, else the one named ``control``, else the first."""
    if flagged in handles:
        return flagged  # type: ignore[return-value]
    return "control" if "control" in handles else handles[0]


def analyze(variants: Sequence[VariantCounts], control: str | None = None, confidence: float = DEFAULT_CONFIDENCE,
            min_per_variant: int = DEFAULT_MIN_PER_VARIANT, min_lift: float = DEFAULT_MIN_LIFT) -> Analysis:
    """Rates, comparisons with the control, probability to be best, and the verdict."""
    variants = list(variants)
    handles = [v.handle for v in variants]
    if len(handles) < 2 or len(set(handles)) != len(handles):
        raise ValueError("an experiment needs at least two variants with distinct handles")
    if not 0.5 <= confidence < 1:
        raise ValueError("confidence must be at least 0.5 and below 1, e.g. 0.95")
    if isinstance(min_per_variant, bool) or not isinstance(min_per_variant, int) or min_per_variant < 1:
        raise ValueError("min_per_variant must be a whole number of at least 1")
    if control is not None and control not in handles:
        raise ValueError(f"control '{control}' is not one of the variants {handles}")
    control = control or pick_control(handles)
    alpha = (1 - confidence) / (len(variants) - 1)
    by_handle = {v.handle: v for v in variants}
    comparisons = {v.handle: z_test(by_handle[control], v, 1 - alpha) for v in variants if v.handle != control}
    best = probability_best(variants)
    result = verdict(variants, control, comparisons, best, confidence, alpha, min_per_variant, min_lift)
    return Analysis(control=control, confidence=confidence, alpha=alpha, min_per_variant=min_per_variant,
                    variants=variants, comparisons=comparisons, best=best, verdict=result, min_lift=min_lift)


# -- split nodes in a graph -------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    handle: str
    weight: float
    target: str | None  # the node the variant's out-edge leads to
    target_type: str | None


@dataclass(frozen=True)
class Split:
    """A split node of a published graph, with its experiment settings."""

    node_id: str
    variants: list[Variant]
    control: str
    auto_winner: dict[str, Any] | None  # the node's data.auto_winner (None when not set)

    @property
    def applied(self) -> dict[str, Any] | None:
        """The note left when a winner was applied (then this version is no experiment any more)."""
        note = (self.auto_winner or {}).get("applied")
        return note if isinstance(note, dict) else None

    @property
    def confidence(self) -> float:
        return float((self.auto_winner or {}).get("confidence", DEFAULT_CONFIDENCE))

    @property
    def min_per_variant(self) -> int:
        return int((self.auto_winner or {}).get("min_per_variant", DEFAULT_MIN_PER_VARIANT))

    def holdouts(self) -> list[str]:
        """Variants that go straight to an end node (their contacts leave the journey at once)."""
        return [v.handle for v in self.variants if v.target_type == "end"]


def splits(graph: dict[str, Any]) -> list[Split]:
    """Every well-formed split node of ``graph`` (a published version's JSON), in node order."""
    types = {n.get("id"): n.get("type") for n in graph.get("nodes", [])}
    targets = {(e.get("source"), e.get("sourceHandle") or "default"): e.get("target") for e in graph.get("edges", [])}
    found = []
    for node in graph.get("nodes", []):
        data = node.get("data") or {}
        if node.get("type") != "branch" or data.get("mode") != "split" or not isinstance(data.get("variants"), list):
            continue
        variants, flagged = [], None
        for item in data["variants"]:
            if not isinstance(item, dict) or not isinstance(item.get("handle"), str):
                continue
            target = targets.get((node["id"], item["handle"]))
            variants.append(Variant(item["handle"], float(item.get("weight") or 0), target, types.get(target)))
            if item.get("control") is True:
                flagged = item["handle"]
        if len(variants) < 2:
            continue
        settings = data.get("auto_winner") if isinstance(data.get("auto_winner"), dict) else None
        found.append(Split(node["id"], variants, pick_control([v.handle for v in variants], flagged), settings))
    return found


def reweighted(graph: dict[str, Any], node_id: str, winner: str, note: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``graph`` whose split ``node_id`` sends everyone to ``winner`` (weight 100,
    the others 0), with ``note`` kept as ``data.auto_winner.applied``. A graph without that
    split, or whose split has no variant ``winner``, comes back unchanged."""
    graph = deepcopy(graph)
    for node in graph.get("nodes", []):
        data = node.get("data") or {}
        if node.get("id") != node_id or data.get("mode") != "split" or not isinstance(data.get("variants"), list):
            continue
        if not any(isinstance(v, dict) and v.get("handle") == winner for v in data["variants"]):
            return graph
        for variant in data["variants"]:
            if isinstance(variant, dict):
                variant["weight"] = 100 if variant.get("handle") == winner else 0
        settings = data.get("auto_winner") if isinstance(data.get("auto_winner"), dict) else {}
        data["auto_winner"] = {**settings, "applied": dict(note)}
        node["data"] = data
    return graph
