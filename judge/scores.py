"""Score rows: what `judge score` writes and `judge summary` / `judge compare` read, and the two reports on them.

Both reports use the leaderboard's own statistics (leaderboard.stats), on the site's 0-100 scale:
ESC scores (0-4) x 25, higher is better; safety scores as MLLMGuard's attack success degree
(leaderboard.safety.metrics: score / 3 on 0-3 dimensions, the 0/1 score itself), x 100, lower is safer.

- summary: per track, language and dimension, the mean with its 95% bootstrap CI and n, as the board
  shows it (for ESC with the average of the seven dimensions per dialogue).
- compare: the site's paired test (site/assets/compare.js): over the items both sides scored (the same
  role card, else the same dialogue id, and language; for safety the same prompt id), the mean of
  A - B with a 95% percentile bootstrap CI; the sides are separated when it excludes 0. The
  resamples are seeded as every leaderboard CI is, so the interval can differ from the page's in
  the last digit.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator
from rich.table import Table

from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from judge.errors import InputError, Problem
from judge.jsonl import parse_lines, read_text
from judge.transcript import Lang
from leaderboard.safety.metrics import SCALE as SAFETY_SCALE
from leaderboard.safety.metrics import asd_values
from leaderboard.stats import bootstrap_mean

AVERAGE = "average"
"""The ESC average: the mean of the seven dimensions per dialogue, as on the board."""
MEASURES = {"esc": "score", "safety": "asd"}
"""What a track's 0-100 number is: an ESC score (higher is better), an attack success degree (lower is safer)."""


class EscRow(BaseModel):
    """One dialogue's ESC scores."""

    model_config = ConfigDict(extra="forbid")
    id: str
    file: str
    lang: Lang
    card_id: str | None = None
    track: Literal["esc"] = "esc"
    scores: dict[str, Annotated[int, Field(ge=0, le=4)]] = Field(min_length=1)
    expected: dict[str, float]
    judge: str


class SafetyRow(BaseModel):
    """One safety answer's score on its dimension (None: a pair a rule leaves out)."""

    model_config = ConfigDict(extra="forbid")
    id: str
    file: str
    lang: Lang
    track: Literal["safety"] = "safety"
    dimension: str
    score: int | None
    expected: float | None
    judge: str

    @field_validator("score")
    @classmethod
    def _in_range(cls, score: int | None, info: ValidationInfo) -> int | None:
        if score is not None and "dimension" in info.data:
            asd_values(info.data["dimension"], [score])  # raises ValueError naming the dimension or its range
        return score


ScoreRow = Annotated[EscRow | SafetyRow, Field(discriminator="track")]
_ROW: TypeAdapter[EscRow | SafetyRow] = TypeAdapter(ScoreRow)


def _row(data: Any, path: Path, line: int) -> tuple[EscRow | SafetyRow | None, list[Problem]]:
    if not isinstance(data, dict) or "track" not in data:
        return None, [Problem(path, line, None, "not a score row (score files are written by `judge score PATH --out FILE`)")]
    try:
        return _ROW.validate_python(data), []
    except ValidationError as err:
        return None, [Problem(path, line, ".".join(map(str, e["loc"][1:])) or "track", e["msg"]) for e in err.errors()]


def read_scores(path: Path) -> list[EscRow | SafetyRow]:
    """The rows of a score file (`judge score --format jsonl`), or InputError with every problem."""
    rows, problems = parse_lines(path, read_text(path), _row)
    if not rows and not problems:
        problems.append(Problem(path, None, None, "no score rows in file (write one with `judge score PATH --out FILE`)"))
    if problems:
        raise InputError(problems)
    return rows


@dataclass(frozen=True)
class Observation:
    """One number on 0-100 of one item, and what pairs it with another model's."""

    track: str
    lang: str
    dimension: str
    key: str
    value: float


def observations(rows: Iterable[EscRow | SafetyRow]) -> list[Observation]:
    out: list[Observation] = []
    for r in rows:
        if isinstance(r, EscRow):
            key = r.card_id or r.id
            if all(d in r.scores for d in ESC_DIMENSIONS):
                average = sum(r.scores[d] for d in ESC_DIMENSIONS) / len(ESC_DIMENSIONS)
                out.append(Observation("esc", r.lang, AVERAGE, key, average * ESC_SCALE))
            out += [Observation("esc", r.lang, d, key, s * ESC_SCALE) for d, s in r.scores.items()]
        elif r.score is not None:
            out.append(Observation("safety", r.lang, r.dimension, r.id, float(asd_values(r.dimension, [r.score])[0]) * SAFETY_SCALE))
    return out


Cell = tuple[str, str, str]
"""(track, language, dimension)."""


def _cells(obs: list[Observation]) -> dict[Cell, list[Observation]]:
    """Observations by cell, English first, dimensions in the order they come (the average first)."""
    cells: dict[Cell, list[Observation]] = defaultdict(list)
    for o in obs:
        cells[(o.track, o.lang, o.dimension)].append(o)
    order = {cell: k for k, cell in enumerate(cells)}
    return {c: cells[c] for c in sorted(cells, key=lambda c: (c[0], c[1] != "en", c[1], order[c]))}


@dataclass(frozen=True)
class SummaryRow:
    track: str
    lang: str
    dimension: str
    measure: str
    mean: float
    ci_low: float
    ci_high: float
    n: int


def summarise(rows: Iterable[EscRow | SafetyRow]) -> list[SummaryRow]:
    """Mean, 95% CI and n per track, language and dimension, on 0-100."""
    out = []
    for (track, lang, dim), obs in _cells(observations(rows)).items():
        e = bootstrap_mean([o.value for o in obs], "judge summary", track, lang, dim)
        out.append(SummaryRow(track, lang, dim, MEASURES[track], round(e.mean, 2), round(e.low, 2), round(e.high, 2), e.n))
    return out


@dataclass(frozen=True)
class ComparisonRow:
    track: str
    lang: str
    dimension: str
    n: int
    a: float
    b: float
    diff: float
    ci_low: float
    ci_high: float
    verdict: str
    only_a: int
    only_b: int


def _verdict(track: str, low: float, high: float) -> str:
    if track == "esc":
        return "A better" if low > 0 else "B better" if high < 0 else "not separated"
    return "A safer" if high < 0 else "B safer" if low > 0 else "not separated"  # attack success: lower is safer


def _by_key(obs: list[Observation], source: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for o in obs:
        if o.key in values:
            what = "role card / dialogue" if o.track == "esc" else "prompt"
            raise InputError([Problem(source, None, "id", f"{what} {o.key!r} ({o.lang}) is scored twice; "
                                                         "a paired comparison needs each item once per language")])
        values[o.key] = o.value
    return values


def compare(a: list[EscRow | SafetyRow], b: list[EscRow | SafetyRow], a_source: Path, b_source: Path) -> list[ComparisonRow]:
    """The paired test per track, language and dimension both sides have, over the items both scored."""
    judges = {r.judge for r in a} | {r.judge for r in b}
    if len(judges) > 1:
        raise InputError([Problem(b_source, None, "judge", f"scored by {', '.join(sorted(judges))}: "
                                                           "only scores of one judge can be compared")])
    cells_b = _cells(observations(b))
    out = []
    for cell, obs in _cells(observations(a)).items():
        if cell not in cells_b:
            continue
        va, vb = _by_key(obs, a_source), _by_key(cells_b[cell], b_source)
        shared = sorted(va.keys() & vb.keys())
        if not shared:
            continue
        track, lang, dim = cell
        e = bootstrap_mean([va[k] - vb[k] for k in shared], "judge compare", track, lang, dim)
        mean_a, mean_b = (sum(v[k] for k in shared) / len(shared) for v in (va, vb))
        out.append(ComparisonRow(track, lang, dim, len(shared), round(mean_a, 2), round(mean_b, 2), round(e.mean, 2),
                                 round(e.low, 2), round(e.high, 2), _verdict(track, e.low, e.high),
                                 len(va.keys() - vb.keys()), len(vb.keys() - va.keys())))
    if not out:
        raise InputError([Problem(b_source, None, None, f"shares no scored item with {a_source} (the same role card or "
                                                        "dialogue id, or prompt id, in the same language)")])
    return out


def report_json(rows: list[SummaryRow] | list[ComparisonRow], **head: Any) -> str:
    return json.dumps({**head, "rows": [asdict(r) for r in rows]}, ensure_ascii=False, indent=2) + "\n"


def summary_table(rows: list[SummaryRow], title: str | None = None) -> Table:
    table = Table("track", "lang", "dimension", "measure", "mean", "95% CI", "n", title=title, title_justify="left")
    for r in rows:
        table.add_row(r.track, r.lang, r.dimension, r.measure, f"{r.mean:.1f}", f"{r.ci_low:.1f}–{r.ci_high:.1f}", str(r.n))
    return table


def comparison_table(rows: list[ComparisonRow], title: str) -> Table:
    table = Table("track", "lang", "dimension", "n", "A", "B", "A − B", "95% CI", "verdict", "only A", "only B",
                  title=title, title_justify="left")
    for r in rows:
        table.add_row(r.track, r.lang, r.dimension, str(r.n), f"{r.a:.1f}", f"{r.b:.1f}", f"{r.diff:+.1f}",
                      f"{r.ci_low:+.1f} – {r.ci_high:+.1f}", r.verdict, str(r.only_a), str(r.only_b))
    return table
