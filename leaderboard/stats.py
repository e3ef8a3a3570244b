"""Leaderboard statistics: ranks that admit ties, from the means and intervals of judge.stats.

A rank alone overstates small differences; every model also gets the range of ranks its CI allows
(best: 1 + models whose CI lies wholly above; worst: N - models whose CI lies wholly below), as
HELM- and MTEB-style leaderboards are asked to show.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from judge.stats import BASE_SEED, CONFIDENCE, MIN_PAIRS, RESAMPLES, Estimate


@dataclass(frozen=True)
class Rank:
    rank: int
    best: int
    worst: int

    @property
    def label(self) -> str:
        return str(self.rank) if self.best == self.worst else f"{self.best}–{self.worst}"


def compare_settings() -> dict[str, float | int]:
    """What the site's paired comparison (site/assets/compare.js) resamples with, so the page and the build agree:
    the resample count, the confidence level, the base seed (dimension k of a comparison uses seed + k) and the
    fewest shared dialogues that get an interval and a verdict."""
    return {"resamples": RESAMPLES, "confidence": CONFIDENCE, "seed": BASE_SEED, "min_pairs": MIN_PAIRS}


def rank_with_intervals(estimates: Mapping[str, Estimate], higher_is_better: bool = True) -> dict[str, Rank]:
    """Rank by mean; the rank interval counts only models whose CIs do not overlap."""
    sign = 1.0 if higher_is_better else -1.0
    order = sorted(estimates, key=lambda k: (-sign * estimates[k].mean, k))
    ranks: dict[str, Rank] = {}
    for position, name in enumerate(order, start=1):
        e = estimates[name]
        if higher_is_better:
            clearly_better = sum(o.low > e.high for o in estimates.values())
            clearly_worse = sum(o.high < e.low for o in estimates.values())
        else:
            clearly_better = sum(o.high < e.low for o in estimates.values())
            clearly_worse = sum(o.low > e.high for o in estimates.values())
        ranks[name] = Rank(position, 1 + clearly_better, len(estimates) - clearly_worse)
    return ranks


def tie_groups(ranks: Mapping[str, Rank]) -> dict[str, int]:
    """Number consecutive groups of models that could all share the group leader's rank.

    Walking down by rank, a model joins the current group when its best possible rank reaches the
    leader's position; otherwise it leads a new group. Groups are what the site shades together.
    """
    groups: dict[str, int] = {}
    group, leader = -1, 0
    for name in sorted(ranks, key=lambda k: ranks[k].rank):
        if group < 0 or ranks[name].best > leader:
            group, leader = group + 1, ranks[name].rank
        groups[name] = group
    return groups
