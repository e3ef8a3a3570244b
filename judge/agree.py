"""Agreement between two judges on the same items: how far one judge (esc-lite) is from another (a served ESC-RANK, a
frontier chat model), per track, language and dimension.

On the labels both judges gave the same item: Spearman's rank correlation, Cohen's kappa with quadratic weights
(the labels are ordinal: 0 vs 4 disagrees more than 3 vs 4), and the share of items with the same label (exact,
ESC-Eval's ACC) or labels at most one apart (ESC-Eval's ACC±1). Each has a 95% percentile bootstrap interval over
items, seeded by what is measured (judge.stats.seed_for), so a table is the same on every run. An unscored
judgement (an endpoint judge's reply without a valid label) pairs with nothing: it is left out, and counted.
`judge agree` reads two score files; the site's judge page reads the store (leaderboard.store).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from rich.table import Table

from judge.endpoint.judge import LABELS
from judge.stats import CONFIDENCE, RESAMPLES, seed_for

Cell = tuple[str, str, str]
"""(track, language, dimension)."""
_DRAW_CELLS = 1 << 22  # resamples are drawn in blocks of at most this many labels


@dataclass(frozen=True)
class Interval:
    value: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class AgreementRow:
    track: str
    lang: str
    dimension: str
    n: int
    spearman: Interval
    qwk: Interval
    exact: Interval
    within_one: Interval
    mean_a: float | None
    mean_b: float | None
    only_a: int
    only_b: int


def _spearman(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (ties get mean ranks); nan where either row is constant."""
    from scipy.stats import rankdata  # here, not at the top: scipy.stats would slow every `judge` command's start

    rx, ry = rankdata(xs, axis=1), rankdata(ys, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rx * ry).sum(axis=1) / den, np.nan)


def _qwk(xs: np.ndarray, ys: np.ndarray, top: int) -> np.ndarray:
    """Quadratic-weighted kappa of each row pair on labels 0..top; nan where chance agreement is already perfect."""
    k, rows, n = top + 1, xs.shape[0], xs.shape[1]
    codes = xs * k + ys + (np.arange(rows) * k * k)[:, None]
    observed = np.bincount(codes.ravel(), minlength=rows * k * k).reshape(rows, k, k).astype(np.float64)
    chance = observed.sum(axis=2)[:, :, None] * observed.sum(axis=1)[:, None, :] / n
    weights = (np.subtract.outer(np.arange(k), np.arange(k)) ** 2) / max(1, top) ** 2
    num, den = (observed * weights).sum(axis=(1, 2)), (chance * weights).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 1 - num / den, np.nan)


def _measures(xs: np.ndarray, ys: np.ndarray, top: int) -> np.ndarray:
    """[rows, 4]: Spearman, QWK, exact and within-one agreement of each row pair."""
    return np.stack([_spearman(xs, ys), _qwk(xs, ys, top), (xs == ys).mean(axis=1),
                     (np.abs(xs - ys) <= 1).mean(axis=1)], axis=1)


def _interval(value: float, draws: np.ndarray) -> Interval:
    if np.isnan(value):
        return Interval(None, None, None)
    draws = draws[~np.isnan(draws)]
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail]) if draws.size else (value, value)
    return Interval(round(float(value), 4), round(float(low), 4), round(float(high), 4))


def measure(cell: Cell, a: list[int], b: list[int], only_a: int = 0, only_b: int = 0) -> AgreementRow:
    """The four measures of one cell's paired labels, each with its bootstrap interval over items."""
    track, lang, dim = cell
    top = max(LABELS.get(dim, [0]) + a + b)
    x, y = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    n = x.size
    if n < 2:
        empty = Interval(None, None, None)
        exact = Interval(float(x[0] == y[0]), None, None) if n else empty
        within = Interval(float(abs(x[0] - y[0]) <= 1), None, None) if n else empty
        return AgreementRow(track, lang, dim, n, empty, empty, exact, within, float(x.mean()) if n else None,
                            float(y.mean()) if n else None, only_a, only_b)
    point = _measures(x[None], y[None], top)[0]
    rng = np.random.default_rng(seed_for("judge agree", track, lang, dim))
    draws, per_block = [], max(1, _DRAW_CELLS // n)
    for start in range(0, RESAMPLES, per_block):
        idx = rng.integers(0, n, size=(min(per_block, RESAMPLES - start), n))
        draws.append(_measures(x[idx], y[idx], top))
    sample = np.concatenate(draws)
    spearman, qwk, exact, within = (_interval(float(point[k]), sample[:, k]) for k in range(4))
    return AgreementRow(track, lang, dim, n, spearman, qwk, exact, within, round(float(x.mean()), 4),
                        round(float(y.mean()), 4), only_a, only_b)


def agreement(a: Mapping[Cell, Mapping[str, int | None]], b: Mapping[Cell, Mapping[str, int | None]]) -> list[AgreementRow]:
    """Per cell both judges have: the measures over the items both gave a label (item key -> label, None: unscored),
    n = 0 when no item has both. English first, then the order the cells come in."""
    rows = []
    order = {cell: k for k, cell in enumerate(a)}
    for cell in sorted(a.keys() & b.keys(), key=lambda c: (c[0], c[1] != "en", c[1], order[c])):
        la = {k: v for k, v in a[cell].items() if v is not None}
        lb = {k: v for k, v in b[cell].items() if v is not None}
        shared = sorted(la.keys() & lb.keys())
        if shared or la or lb:  # n = 0: no item labelled by both, shown rather than dropped
            rows.append(measure(cell, [la[k] for k in shared], [lb[k] for k in shared],
                                len(la.keys() - lb.keys()), len(lb.keys() - la.keys())))
    return rows


def cells_of_rows(rows: Iterable[Any]) -> dict[Cell, dict[str, int | None]]:
    """Score rows (judge.scores) as cell -> item (file and id) -> label; an ESC row's unscored dimensions as None."""
    cells: dict[Cell, dict[str, int | None]] = defaultdict(dict)
    for r in rows:
        if r.track == "esc":
            for dim in [*r.scores, *r.unscored]:
                cells[("esc", r.lang, dim)][f"{r.file}\x1f{r.id}"] = r.scores.get(dim)
        else:
            cells[("safety", r.lang, r.dimension)][f"{r.file}\x1f{r.id}"] = r.score
    return dict(cells)


def _fmt(i: Interval, digits: int = 2) -> str:
    if i.value is None:
        return "–"
    ci = "" if i.low is None else f" ({i.low:.{digits}f}–{i.high:.{digits}f})"
    return f"{i.value:.{digits}f}{ci}"


def agreement_table(rows: list[AgreementRow], title: str) -> Table:
    table = Table("track", "lang", "dimension", "n", "Spearman", "QWK", "exact", "±1", "mean A", "mean B",
                  "only A", "only B", title=title, title_justify="left")
    for r in rows:
        table.add_row(r.track, r.lang, r.dimension, str(r.n), _fmt(r.spearman), _fmt(r.qwk), _fmt(r.exact),
                      _fmt(r.within_one), *("–" if v is None else f"{v:.2f}" for v in (r.mean_a, r.mean_b)),
                      str(r.only_a), str(r.only_b))
    return table


def agreement_json(rows: list[AgreementRow], **head: Any) -> str:
    return json.dumps({**head, "confidence": CONFIDENCE, "resamples": RESAMPLES, "rows": [asdict(r) for r in rows]},
                      ensure_ascii=False, indent=2) + "\n"
