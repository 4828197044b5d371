"""The A/B arithmetic (journeys.experiments) against values worked out by hand or published:
the two-proportion z-test, Newcombe's interval, the sample size, the Bayesian probability to
be best (checked against the closed form for two variants), the verdict rules and the
split-node helpers."""

from __future__ import annotations

import math

import pytest

from journeys.experiments import (VariantCounts, analyze, pick_control, probability_best, reweighted, sample_size,
                                  splits, wilson_interval, z_test)


def counts(handle: str, entered: int, converted: int) -> VariantCounts:
    return VariantCounts(handle, entered, converted)


# -- z-test ---------------------------------------------------------------------------------------
def test_z_test_matches_the_hand_computation():
    # pooled rate 230/2000 = 0.115; se = sqrt(0.115 * 0.885 * (2/1000)) = 0.0142671; z = 0.03 / se
    result = z_test(counts("a", 1000, 100), counts("b", 1000, 130))
    assert result.difference == pytest.approx(0.03)
    assert result.lift == pytest.approx(0.30)
    assert result.z == pytest.approx(2.10274, abs=1e-5)
    assert result.p_value == pytest.approx(0.035488, abs=1e-6)
    assert result.ci_low < 0.03 < result.ci_high and result.ci_low > 0  # significant at 95%: CI excludes 0


def test_z_test_is_symmetric_and_two_sided():
    up = z_test(counts("a", 1000, 100), counts("b", 1000, 130))
    down = z_test(counts("b", 1000, 130), counts("a", 1000, 100))
    assert down.z == pytest.approx(-up.z) and down.p_value == pytest.approx(up.p_value)
    assert (down.ci_low, down.ci_high) == pytest.approx((-up.ci_high, -up.ci_low))


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), Statistics in Medicine 17:873, example 56/70 - 48/80, method 10: 0.0524 to 0.3339
    result = z_test(counts("control", 80, 48), counts("variant", 70, 56))
    assert result.difference == pytest.approx(0.2)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_extreme_rates_keep_a_real_interval():
    # Wilson's interval of 0/10 is [0, 0.2775] (and of 10/10 [0.7225, 1])
    assert wilson_interval(0, 10, 1.959964) == pytest.approx((0.0, 0.2775), abs=5e-5)
    assert wilson_interval(10, 10, 1.959964) == pytest.approx((0.7225, 1.0), abs=5e-5)
    result = z_test(counts("a", 10, 0), counts("b", 10, 10))
    assert result.z == pytest.approx(math.sqrt(20))  # pooled 0.5: se = sqrt(0.25 * 0.2)
    assert result.ci_low == pytest.approx(1 - math.sqrt(2) * 0.27753, abs=1e-4) and result.ci_high == pytest.approx(1.0)
    assert result.lift is None  # no relative lift over a 0% control


def test_no_difference_and_no_data():
    same = z_test(counts("a", 500, 50), counts("b", 500, 50))
    assert same.z == 0 and same.p_value == pytest.approx(1.0)
    nothing = z_test(counts("a", 500, 0), counts("b", 500, 0))
    assert nothing.p_value == 1.0 and nothing.difference == 0
    assert z_test(counts("a", 0, 0), counts("b", 10, 1)) is None


# -- sample size ----------------------------------------------------------------------------------
def test_sample_size_matches_the_standard_formula():
    # 10% -> 12%, two-sided 5%, power 80%: 3,841 per variant (as in Evan Miller's calculator)
    assert sample_size(0.10, 0.12) == 3841
    assert sample_size(0.12, 0.10) == 3841
    assert sample_size(0.10, 0.12, alpha=0.025) > 3841  # a stricter level needs more contacts
    assert sample_size(0.10, 0.10) is None


# -- probability to be best -----------------------------------------------------------------------
def _closed_form_b_beats_a(a: VariantCounts, b: VariantCounts) -> float:
    """P(rate_b > rate_a) for Beta posteriors with a uniform prior (Evan Miller's formula)."""
    def log_beta(x, y):
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    alpha_a, beta_a = 1 + a.converted, 1 + a.entered - a.converted
    alpha_b, beta_b = 1 + b.converted, 1 + b.entered - b.converted
    return sum(math.exp(log_beta(alpha_a + i, beta_a + beta_b) - math.log(beta_b + i) - log_beta(1 + i, beta_b)
                        - log_beta(alpha_a, beta_a)) for i in range(alpha_b))


@pytest.mark.parametrize("a, b", [
    (counts("a", 1000, 100), counts("b", 1000, 130)),
    (counts("a", 40, 3), counts("b", 35, 9)),
    (counts("a", 20000, 1000), counts("b", 20000, 1040)),
    (counts("a", 12, 0), counts("b", 15, 1)),
])
def test_probability_best_agrees_with_the_closed_form(a, b):
    exact = _closed_form_b_beats_a(a, b)
    p_a, p_b = probability_best([a, b])
    assert p_b == pytest.approx(exact, abs=2e-4)
    assert p_a + p_b == pytest.approx(1.0)


def test_probability_best_is_deterministic_and_fair():
    three = [counts("a", 300, 30), counts("b", 300, 30), counts("c", 300, 30)]
    assert probability_best(three) == pytest.approx([1 / 3] * 3, abs=1e-3)
    assert probability_best(three) == probability_best(three)
    assert probability_best([counts("a", 0, 0), counts("b", 0, 0)]) == pytest.approx([0.5, 0.5])
    ranked = probability_best([counts("a", 5000, 500), counts("b", 5000, 540), counts("c", 5000, 600)])
    assert ranked[2] > ranked[1] > ranked[0] and sum(ranked) == pytest.approx(1.0)


# -- verdicts -------------------------------------------------------------------------------------
def test_a_significant_better_variant_wins():
    result = analyze([counts("a", 1000, 100), counts("b", 1000, 130)])
    assert result.verdict.text == "winner: b" and result.verdict.winner == "b"
    assert result.control == "a" and result.alpha == pytest.approx(0.05)
    row = result.as_dict()["variants"][1]
    assert row["p_value"] == pytest.approx(0.0355, abs=1e-4) and row["lift"] == pytest.approx(0.3)


def test_the_same_data_is_not_enough_at_higher_confidence():
    result = analyze([counts("a", 1000, 100), counts("b", 1000, 130)], confidence=0.99)
    assert result.verdict.outcome == "not_significant"
    assert result.verdict.text == f"not yet significant ({result.verdict.more_per_variant} more per variant needed at the observed effect)"
    assert result.verdict.more_per_variant == sample_size(0.10, 0.13, alpha=0.01) - 1000


def test_the_minimum_sample_comes_first():
    # an overwhelming difference, but 60 contacts per variant: the guard holds at 100
    result = analyze([counts("a", 60, 0), counts("b", 60, 60)], min_per_variant=100)
    assert result.verdict.text == "not yet significant (40 more per variant needed to reach the minimum of 100)"
    assert result.verdict.more_per_variant == 40
    assert analyze([counts("a", 60, 0), counts("b", 60, 60)], min_per_variant=50).verdict.text == "winner: b"


def test_below_the_minimum_with_a_small_effect_asks_for_the_larger_number():
    result = analyze([counts("a", 50, 5), counts("b", 50, 6)])  # 10% vs 12%
    assert result.verdict.more_per_variant == sample_size(0.10, 0.12) - 50
    assert "at the observed effect" in result.verdict.text


def test_flat_results_with_enough_contacts_are_no_difference():
    result = analyze([counts("a", 100_000, 10_000), counts("b", 100_000, 10_010)])
    assert result.verdict.text == "no difference" and result.verdict.outcome == "no_difference"
    # the same rates with fewer contacts: the interval is still too wide to tell
    small = analyze([counts("a", 1000, 100), counts("b", 1000, 101)])
    assert small.verdict.outcome == "not_significant" and small.verdict.more_per_variant > 0


def test_the_control_wins_when_every_variant_is_worse():
    result = analyze([counts("holdout", 2000, 300), counts("email", 2000, 220)], control="holdout")
    assert result.verdict.text == "winner: holdout"


def test_more_variants_split_the_significance_level():
    # b beats a with p = 0.035: enough with two variants, not with three (alpha 0.05 / 2)
    three = analyze([counts("a", 1000, 100), counts("b", 1000, 130), counts("c", 1000, 100)])
    assert three.alpha == pytest.approx(0.025)
    assert three.verdict.outcome == "not_significant"
    clear = analyze([counts("a", 2000, 200), counts("b", 2000, 290), counts("c", 2000, 205)])
    assert clear.verdict.text == "winner: b"


def test_two_good_variants_need_a_clear_best():
    # b and c both beat the control, but neither is the best with 95% probability
    result = analyze([counts("a", 3000, 300), counts("b", 3000, 420), counts("c", 3000, 425)])
    assert result.verdict.outcome == "not_significant"
    # sized for telling b (14.0%) from c (14.17%), not c from the control
    assert result.verdict.more_per_variant == sample_size(420 / 3000, 425 / 3000, alpha=0.025) - 3000


def test_bad_counts_and_settings_are_refused():
    with pytest.raises(ValueError, match="between 0 and entered"):
        counts("a", 10, 11)
    with pytest.raises(ValueError, match="at least two variants"):
        analyze([counts("a", 10, 1)])
    with pytest.raises(ValueError, match="control 'x'"):
        analyze([counts("a", 10, 1), counts("b", 10, 2)], control="x")
    with pytest.raises(ValueError, match="confidence"):
        analyze([counts("a", 10, 1), counts("b", 10, 2)], confidence=1.0)
    with pytest.raises(ValueError, match="min_per_variant"):
        analyze([counts("a", 10, 1), counts("b", 10, 2)], min_per_variant=0)


# -- split nodes ----------------------------------------------------------------------------------
def graph() -> dict:
    return {
        "id": "promo",
        "nodes": [
            {"id": "start", "type": "entry", "data": {"trigger": {"event": "signup"}}},
            {"id": "split", "type": "branch", "position": {"x": 1, "y": 2},
             "data": {"mode": "split", "variants": [{"handle": "email", "weight": 90, "label": "Mail"},
                                                     {"handle": "holdout", "weight": 10, "control": True}],
                      "auto_winner": {"confidence": 0.99}}},
            {"id": "cond", "type": "branch", "data": {"mode": "condition", "cases": []}},
            {"id": "send", "type": "send", "data": {}},
            {"id": "end", "type": "end"},
        ],
        "edges": [{"id": "e1", "source": "start", "target": "split"},
                  {"id": "e2", "source": "split", "sourceHandle": "email", "target": "send"},
                  {"id": "e3", "source": "split", "sourceHandle": "holdout", "target": "end"}],
    }


def test_splits_reads_variants_targets_and_settings():
    [split] = splits(graph())
    assert split.node_id == "split" and split.control == "holdout"
    assert [(v.handle, v.weight, v.target, v.target_type) for v in split.variants] == [
        ("email", 90.0, "send", "send"), ("holdout", 10.0, "end", "end")]
    assert split.holdouts() == ["holdout"]
    assert split.confidence == 0.99 and split.min_per_variant == 100 and split.applied is None


def test_pick_control():
    assert pick_control(["a", "b"]) == "a"
    assert pick_control(["a", "control"]) == "control"
    assert pick_control(["a", "control", "b"], flagged="b") == "b"


def test_reweighted_sends_everyone_to_the_winner_and_keeps_the_rest():
    note = {"handle": "email", "at": "2026-01-01T00:00:00Z", "p_value": 0.001}
    original = graph()
    new = reweighted(original, "split", "email", note)
    data = next(n for n in new["nodes"] if n["id"] == "split")["data"]
    assert data["variants"] == [{"handle": "email", "weight": 100, "label": "Mail"},
                                {"handle": "holdout", "weight": 0, "control": True}]
    assert data["auto_winner"] == {"confidence": 0.99, "applied": note}
    assert next(n for n in original["nodes"] if n["id"] == "split")["data"]["variants"][0]["weight"] == 90
    assert [n for n in new["nodes"] if n["id"] != "split"] == [n for n in original["nodes"] if n["id"] != "split"]
    assert splits(new)[0].applied == note
    assert reweighted(original, "split", "nobody", note) == original
    assert reweighted(original, "cond", "email", note) == original
