"""The ESC board: per model x language x dimension estimates and ranks, from stored scores."""
from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from leaderboard.stats import Estimate, Rank, bootstrap_mean, rank_with_intervals, tie_groups
from leaderboard.store import ScoreRow

AVERAGE = "average"
BOARD_SCHEMA_VERSION = 1
"""Version of leaderboard.json / leaderboard.csv; bumped when a field changes meaning or goes away."""


@dataclass(frozen=True)
class Cell:
    estimate: Estimate
    rank: Rank
    group: int  # tie group within its (language, dimension); see stats.tie_groups


@dataclass
class EscBoard:
    """Everything the site shows for the ESC track."""

    judge: str
    dimensions: tuple[str, ...] = (AVERAGE, *ESC_DIMENSIONS)
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=dict)  # (model, lang, dim)
    dialogue_scores: dict[tuple[str, str], dict[str, dict[str, int]]] = field(default_factory=dict)

    @property
    def languages(self) -> list[str]:
        return sorted({lang for _, lang, _ in self.cells}, key=lambda l: (l != "en", l))

    def models(self, lang: str, dim: str = AVERAGE) -> list[str]:
        """Models with scores in lang, best first by dim."""
        found = [m for (m, l, d) in self.cells if l == lang and d == dim]
        return sorted(found, key=lambda m: self.cells[(m, lang, dim)].rank.rank)

    def median(self, lang: str, dim: str) -> float:
        """The field's median score, the reference line of every model's radar."""
        return statistics.median(self.cells[(m, lang, dim)].estimate.mean for m in self.models(lang, dim))

    def rows(self, names: dict[str, str]) -> list[dict[str, Any]]:
        """Flat rows for leaderboard.json / .csv."""
        out = []
        for (model, lang, dim), cell in sorted(self.cells.items()):
            e, r = cell.estimate, cell.rank
            out.append({
                "model": model, "name": names.get(model, model), "track": "esc", "lang": lang, "dimension": dim,
                "score": round(e.mean, 2), "ci_low": round(e.low, 2), "ci_high": round(e.high, 2), "n": e.n,
                "rank": r.rank, "rank_best": r.best, "rank_worst": r.worst, "tie_group": cell.group,
                "judge": self.judge,
            })
        return out


def esc_board(rows: list[ScoreRow], judge: str) -> EscBoard:
    """Bootstrap every (model, language, dimension) on 0-100, plus the 7-dimension average per dialogue."""
    per_dialogue: dict[tuple[str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        per_dialogue[(r.submission_id, r.lang)][r.dialogue_id][r.dimension] = r.score
    board = EscBoard(judge)
    board.dialogue_scores = {k: dict(v) for k, v in per_dialogue.items()}
    estimates: dict[tuple[str, str], dict[str, Estimate]] = defaultdict(dict)
    for (model, lang), dialogues in per_dialogue.items():
        for dim in ESC_DIMENSIONS:
            values = [d[dim] for d in dialogues.values() if dim in d]
            if values:
                estimates[(lang, dim)][model] = bootstrap_mean(values, model, lang, dim, scale=ESC_SCALE)
        averages = [sum(d[x] for x in ESC_DIMENSIONS) / len(ESC_DIMENSIONS) for d in dialogues.values()
                    if all(x in d for x in ESC_DIMENSIONS)]
        if averages:
            estimates[(lang, AVERAGE)][model] = bootstrap_mean(averages, model, lang, AVERAGE, scale=ESC_SCALE)
    for (lang, dim), by_model in estimates.items():
        ranks = rank_with_intervals(by_model)
        groups = tie_groups(ranks)
        for model, rank in ranks.items():
            board.cells[(model, lang, dim)] = Cell(by_model[model], rank, groups[model])
    return board
