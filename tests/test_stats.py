"""Intervals are reproducible, sane, and honest at small n; rank intervals follow from CI overlap."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from judge.stats import MIN_PAIRS, Estimate, bootstrap_mean, paired_difference, weighted_means
from leaderboard.stats import compare_settings, rank_with_intervals


def test_bootstrap_is_seeded_by_what_it_estimates() -> None:
    values = np.random.default_rng(0).integers(0, 5, 200)
    a = bootstrap_mean(values, "m", "en", "empathy", scale=25)
    assert a == bootstrap_mean(values, "m", "en", "empathy", scale=25)
    assert a != bootstrap_mean(values, "m", "en", "fluency", scale=25)
    assert a.mean == pytest.approx(values.mean() * 25) and a.n == 200
    assert a.low < a.mean < a.high
    # the percentile CI of a mean of 200 draws is close to mean +- 1.96 standard errors
    se = values.std(ddof=1) / np.sqrt(200) * 25
    assert (a.high - a.low) / 2 == pytest.approx(1.96 * se, rel=0.15)


def test_small_samples_of_integer_scores_never_get_a_zero_width_interval() -> None:
    """Five dialogues all scored 3 are not 75.0 for certain, nor is one dialogue 50.0 (issue 24, item 5)."""
    five = bootstrap_mean([3] * 5, "k", scale=25)
    assert five.mean == 75.0 and five.low < 65 and five.high > 80 and five.n == 5
    one = bootstrap_mean([2], "k", scale=25)
    assert one.low < 15 and one.high > 85
    wide, narrow = (bootstrap_mean([3] * n, "k", scale=25) for n in (5, 200))
    assert narrow.high - narrow.low < (wide.high - wide.low) / 4  # and it narrows as n grows
    with pytest.raises(ValueError):
        bootstrap_mean([], "k")
    with pytest.raises(ValueError, match="0-100"):
        bootstrap_mean([5], "k", scale=25)  # a 0-4 score of 5 is off the scale


@pytest.mark.parametrize(("successes", "n"), [(0, 10), (3, 10), (20, 20), (12, 40)])
def test_on_0_1_scores_the_interval_is_jeffreys(successes: int, n: int) -> None:
    """Half an observation at each end of the scale: on 0/1 scores the Beta(s + 1/2, n - s + 1/2) interval."""
    e = bootstrap_mean([1] * successes + [0] * (n - successes), "m", "en", "bias", scale=100)
    low, high = stats.beta(successes + 0.5, n - successes + 0.5).ppf([0.025, 0.975]) * 100
    assert e.low == pytest.approx(min(low, e.mean), abs=1.5) and e.high == pytest.approx(max(high, e.mean), abs=1.5)


def test_a_composite_draws_each_part_and_never_collapses() -> None:
    constant = weighted_means([(0.5, [1.0, 1.0]), (0.5, [0.0])], "k", scale=100)
    assert constant.mean == 50.0 and constant.n == 3 and constant.low < 40 and constant.high > 60
    parts = [(0.5, [0.0, 1.0] * 10), (0.5, [0.0, 0.0, 1.0] * 10)]
    assert weighted_means(parts, "k", scale=100) == weighted_means(parts, "k", scale=100)


def test_the_paired_test_gives_no_interval_below_the_minimum() -> None:
    few = paired_difference([25.0] * (MIN_PAIRS - 1), "judge compare", "esc", "en", "empathy")
    assert (few.mean, few.low, few.high, few.n) == (25.0, None, None, MIN_PAIRS - 1)
    diffs = np.random.default_rng(1).integers(-2, 3, 60) * 25.0
    enough = paired_difference(diffs, "judge compare", "esc", "en", "empathy")
    assert enough.low < enough.mean < enough.high and enough.n == 60
    assert compare_settings()["min_pairs"] == MIN_PAIRS  # the compare page reads the same minimum


def test_rank_intervals_from_overlap() -> None:
    est = {
        "a": Estimate(80, 75, 85, 50), "b": Estimate(78, 70, 86, 50),  # overlap: tied for 1-2
        "c": Estimate(50, 45, 55, 50),                                  # clearly third
        "d": Estimate(49, 30, 69, 50),                                  # wide: overlaps c only... and b? no
    }
    ranks = rank_with_intervals(est)
    assert [ranks[k].rank for k in "abcd"] == [1, 2, 3, 4]
    assert [ranks[k].label for k in "abcd"] == ["1–2", "1–2", "3–4", "3–4"]
    lower = rank_with_intervals(est, higher_is_better=False)
    assert lower["d"].rank == 1 and lower["a"].label == "3–4"


def test_tie_groups_follow_rank_intervals() -> None:
    from leaderboard.stats import tie_groups
    est = {"a": Estimate(80, 75, 85, 9), "b": Estimate(78, 70, 86, 9), "c": Estimate(50, 45, 55, 9),
           "d": Estimate(49, 30, 69, 9), "e": Estimate(10, 5, 15, 9)}
    assert tie_groups(rank_with_intervals(est)) == {"a": 0, "b": 0, "c": 1, "d": 1, "e": 2}
