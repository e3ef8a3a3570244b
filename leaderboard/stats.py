"""Leaderboard statistics: means with seeded bootstrap CIs, and ranks that admit ties.

A rank alone overstates small differences; every model also gets the range of ranks its CI allows
(best: 1 + models whose CI lies wholly above; worst: N - models whose CI lies wholly below), as
HELM- and MTEB-style leaderboards are asked to show.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000
BASE_SEED = 20240620  # ESC-Eval's arXiv month; any fixed number keeps the CIs reproducible


@dataclass(frozen=True)
class Estimate:
    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Rank:
    rank: int
    best: int
    worst: int

    @property
    def label(self) -> str:
        return str(self.rank) if self.best == self.worst else f"{self.best}–{self.worst}"


def seed_for(*key: str) -> int:
    """A seed derived from what is being estimated, so each CI is the same whatever else is built."""
    digest = hashlib.sha256("\x1f".join((str(BASE_SEED), *key)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def bootstrap_mean(values: Sequence[float], *key: str, scale: float = 1.0) -> Estimate:
    """Mean and 95% percentile-bootstrap CI of values x scale; seeded by key."""
    x = np.asarray(values, dtype=np.float64) * scale
    if x.size == 0:
        raise ValueError("no values to estimate a mean from")
    mean = float(x.mean())
    if x.size < 2 or np.all(x == x[0]):
        return Estimate(mean, mean, mean, int(x.size))
    result = stats.bootstrap(
        (x,), np.mean, n_resamples=RESAMPLES, confidence_level=CONFIDENCE, method="percentile",
        rng=np.random.default_rng(seed_for(*key)), vectorized=True,
    )
    ci = result.confidence_interval
    return Estimate(mean, float(ci.low), float(ci.high), int(x.size))


def compare_settings() -> dict[str, float | int]:
    """What the site's paired comparison (site/assets/compare.js) resamples with, so the page and the build agree:
    the resample count, the confidence level and the base seed (dimension k of a comparison uses seed + k)."""
    return {"resamples": RESAMPLES, "confidence": CONFIDENCE, "seed": BASE_SEED}


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
