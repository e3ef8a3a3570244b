"""Bootstrap CIs are reproducible and sane; rank intervals follow from CI overlap."""
from __future__ import annotations

import numpy as np
import pytest

from leaderboard.stats import Estimate, bootstrap_mean, rank_with_intervals


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


def test_degenerate_samples() -> None:
    assert bootstrap_mean([3, 3, 3], "k") == Estimate(3.0, 3.0, 3.0, 3)
    assert bootstrap_mean([2], "k", scale=25) == Estimate(50.0, 50.0, 50.0, 1)
    with pytest.raises(ValueError):
        bootstrap_mean([], "k")


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
