"""The board of a track: estimates and ranks per (model, language, dimension, metric), from stored scores.

Every track fills the same Board: it turns its unit scores into estimates (`Track.estimates`), and
ranking, tie groups, medians and the download rows are worked out here, once, for all tracks.
"""
from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leaderboard.stats import Estimate, Rank, rank_with_intervals, tie_groups
from leaderboard.store import Coverage, ScoreRow

AVERAGE = "average"
"""Every track's composite dimension, shown first."""
BOARD_SCHEMA_VERSION = 2
"""Version of leaderboard.json / leaderboard.csv and every other table; bumped when a field changes meaning or goes away.
2: rows of every track in leaderboard.json, each with its metric and direction; `judge` became `judges` {track: judge}."""

Key = tuple[str, str, str, str]
"""(model, language, dimension, metric)"""


@dataclass(frozen=True)
class Metric:
    """What a track reports per dimension, on 0-100, and which way is better."""

    name: str
    label: str
    higher_is_better: bool
    help: str

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_is_better else "↓"


@dataclass(frozen=True)
class Cell:
    estimate: Estimate
    rank: Rank
    group: int  # tie group within its (language, dimension, metric); see stats.tie_groups


UnitScores = dict[tuple[str, str], dict[str, dict[str, int | None]]]
"""(model, language) -> unit id -> dimension -> score (None: left out by a rule)."""


@dataclass
class Board:
    """Everything the site and the downloads show for one track."""

    track: str
    judge: str
    judge_sha: str
    dimensions: tuple[str, ...]
    metrics: tuple[Metric, ...]
    cells: dict[Key, Cell] = field(default_factory=dict)
    unit_scores: UnitScores = field(default_factory=dict)
    coverage: dict[str, Coverage] = field(default_factory=dict)
    """model -> language -> (items brought, items declared); a model short in any language is partial."""

    def partial(self, model: str) -> Coverage:
        """The languages a model brought too little of, with (n, N); empty when it is complete and ranked."""
        return {lang: (n, of) for lang, (n, of) in self.coverage.get(model, {}).items() if n < of}

    @property
    def languages(self) -> list[str]:
        return sorted({lang for _, lang, _, _ in self.cells}, key=lambda l: (l != "en", l))

    @property
    def primary(self) -> str:
        """The metric a track is ranked by first (its overview's order)."""
        return self.metrics[0].name

    def cell(self, model: str, lang: str, dim: str, metric: str | None = None) -> Cell | None:
        return self.cells.get((model, lang, dim, metric or self.primary))

    def models(self, lang: str, dim: str = AVERAGE, metric: str | None = None) -> list[str]:
        """Models with this cell, best first; models of the language without it follow in name order."""
        metric = metric or self.primary
        ranked = sorted((m for (m, l, d, k) in self.cells if l == lang and d == dim and k == metric),
                        key=lambda m: self.cells[(m, lang, dim, metric)].rank.rank)
        rest = sorted({m for (m, l, _, _) in self.cells if l == lang} - set(ranked))
        return ranked + rest

    def model_languages(self, model: str) -> list[str]:
        return [l for l in self.languages if (model, l) in self.unit_scores]

    def median(self, lang: str, dim: str, metric: str | None = None) -> float:
        """The field's median score, the reference line of every model's radar."""
        return statistics.median(c.estimate.mean for m in self.models(lang, dim, metric)
                                 if (c := self.cell(m, lang, dim, metric)))

    def left_out(self, model: str, lang: str, dim: str) -> int:
        """Units of the dimension a rule did not count (score None)."""
        return sum(1 for d in self.unit_scores.get((model, lang), {}).values() if dim in d and d[dim] is None)

    def rows(self, names: Mapping[str, str]) -> list[dict[str, Any]]:
        """Flat rows for the downloads, one per model x language x dimension x metric."""
        lower = {m.name: not m.higher_is_better for m in self.metrics}
        return [
            {"model": model, "name": names.get(model, model), "track": self.track, "lang": lang, "dimension": dim,
             "metric": metric, "lower_is_better": lower[metric], "score": round(c.estimate.mean, 2),
             "ci_low": round(c.estimate.low, 2), "ci_high": round(c.estimate.high, 2), "n": c.estimate.n,
             "rank": c.rank.rank, "rank_best": c.rank.best, "rank_worst": c.rank.worst, "tie_group": c.group,
             "judge": self.judge}
            for (model, lang, dim, metric), c in sorted(self.cells.items())
        ]


def unit_scores(rows: list[ScoreRow]) -> UnitScores:
    """Stored rows grouped by model and language, then by unit, in the store's order."""
    grouped: dict[tuple[str, str], dict[str, dict[str, int | None]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        grouped[(r.submission_id, r.lang)][r.unit_id][r.dimension] = r.score
    return {k: dict(v) for k, v in grouped.items()}


def ranked(board: Board, estimates: Mapping[tuple[str, str, str], Mapping[str, Estimate]]) -> Board:
    """Fill the board's cells from estimates by (language, dimension, metric) -> model, ranked in each metric's direction."""
    better = {m.name: m.higher_is_better for m in board.metrics}
    for (lang, dim, metric), by_model in estimates.items():
        ranks = rank_with_intervals(by_model, better[metric])
        groups = tie_groups(ranks)
        for model, rank in ranks.items():
            board.cells[(model, lang, dim, metric)] = Cell(by_model[model], rank, groups[model])
    return board
