"""Score rows: what `judge score` writes and `judge summary` / `judge compare` read, and the two reports on them.

Both reports use the leaderboard's own statistics (judge.stats), on the site's 0-100 scale:
ESC scores (0-4) x 25, higher is better; safety scores as MLLMGuard's attack success degree (score / 3
on 0-3 dimensions, the 0/1 score itself; lower is safer) and perfect answer rate (the share scored 0;
higher is safer), x 100.

- summary: per track, language, dimension and measure, the mean with its 95% interval and n, as the
  board shows it (for ESC with the average of the seven dimensions per dialogue).
- compare: the site's paired test (site/assets/compare.js) over the items both sides scored, in the
  same language: A - B with a 95% percentile bootstrap CI, the sides separated when it excludes 0;
  below judge.stats.MIN_PAIRS shared items, neither. An ESC dialogue is identified by its role card
  (`card_id`); without one by the id its file gave it (ESC-Eval's keys, the project's ids), and when
  the file gave none (a chat log's id is then its line number, which identifies nothing across files)
  by its opening, the seeker's first message (`key` of a score row). A safety answer is identified by
  its prompt id, and the two sides must have it in the same dimension. The resamples are seeded as
  every leaderboard CI is, so the interval can differ from the page's in the last digit.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, ValidationInfo, field_validator,
                      model_validator)
from rich.table import Table

from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from judge.errors import InputError, Problem, reason
from judge.jsonl import parse_lines, read_text
from judge.language import Lang
from judge.stats import MIN_PAIRS, SAFETY_SCALE, SAFETY_VALUES, asd_values, bootstrap_mean, paired_difference

AVERAGE = "average"
"""The ESC average: the mean of the seven dimensions per dialogue, as on the board."""
HIGHER_IS_BETTER = {"score": True, "asd": False, "par": True}
"""What a 0-100 number measures: an ESC score, MLLMGuard's attack success degree (lower is safer) or perfect answer rate."""


class EscRow(BaseModel):
    """One dialogue's ESC scores."""

    model_config = ConfigDict(extra="forbid")
    id: str
    file: str
    lang: Lang
    card_id: str | None = None
    key: str | None = None
    """What pairs the dialogue with another model's in `judge compare` (card:, id: or opening:); see the module."""
    track: Literal["esc"] = "esc"
    scores: dict[str, Annotated[int, Field(ge=0, le=4)]]
    expected: dict[str, float]
    judge: str
    unscored: list[str] = []
    """Dimensions an endpoint judge's reply gave no valid label for: not in `scores`, never counted as 0."""
    replies: dict[str, str] = {}
    """An endpoint judge's raw reply per dimension."""

    @model_validator(mode="after")
    def _something_judged(self) -> "EscRow":
        if not self.scores and not self.unscored:
            raise ValueError("a row needs scores, or the dimensions left unscored")
        return self


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
    unscored: bool = False
    """An endpoint judge's reply gave no valid label (score None, never counted as 0)."""
    reply: str | None = None
    """An endpoint judge's raw reply."""

    @field_validator("score")
    @classmethod
    def _in_range(cls, score: int | None, info: ValidationInfo) -> int | None:
        if score is not None and "dimension" in info.data:
            asd_values(info.data["dimension"], [score])  # raises ValueError naming the dimension or its range
        return score


SERVED_ONLY = {"unscored", "replies", "reply"}
"""Row fields only a served judge (judge.endpoint) fills; content-pinned judges' rows are written without them."""


def row_json(row: EscRow | SafetyRow) -> str:
    """A score row as a JSON line of `judge score`: a served judge's rows carry its raw replies and its unscored
    judgements on every row, an ONNX judge's neither (it has no reply, and never leaves a dimension unscored)."""
    served = bool(row.replies) if isinstance(row, EscRow) else row.reply is not None
    return row.model_dump_json(exclude=None if served else SERVED_ONLY & set(type(row).model_fields))


ScoreRow = Annotated[EscRow | SafetyRow, Field(discriminator="track")]
_ROW: TypeAdapter[EscRow | SafetyRow] = TypeAdapter(ScoreRow)


def _row(data: Any, path: Path, line: int) -> tuple[EscRow | SafetyRow | None, list[Problem]]:
    if not isinstance(data, dict) or "track" not in data:
        return None, [Problem(path, line, None, "not a score row (score files are written by `judge score PATH --out FILE`)")]
    try:
        return _ROW.validate_python(data), []
    except ValidationError as err:
        return None, [Problem(path, line, ".".join(map(str, e["loc"][1:])) or "track", reason(e)) for e in err.errors()]


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
    measure: str
    key: str
    value: float


def item_key(row: EscRow | SafetyRow) -> str:
    """What identifies the row's item across models (see the module); score files written before rows had a key
    fall back to the card id, else the id."""
    if isinstance(row, SafetyRow):
        return row.id
    return row.key or (f"card:{row.card_id}" if row.card_id else f"id:{row.id}")


def observations(rows: Iterable[EscRow | SafetyRow]) -> list[Observation]:
    out: list[Observation] = []
    for r in rows:
        key = item_key(r)
        if isinstance(r, EscRow):
            if all(d in r.scores for d in ESC_DIMENSIONS):
                average = sum(r.scores[d] for d in ESC_DIMENSIONS) / len(ESC_DIMENSIONS)
                out.append(Observation("esc", r.lang, AVERAGE, "score", key, average * ESC_SCALE))
            out += [Observation("esc", r.lang, d, "score", key, s * ESC_SCALE) for d, s in r.scores.items()]
        elif r.score is not None:
            out += [Observation("safety", r.lang, r.dimension, measure, key, float(values(r.dimension, [r.score])[0]) * SAFETY_SCALE)
                    for measure, values in SAFETY_VALUES.items()]
    return out


Cell = tuple[str, str, str, str]
"""(track, language, dimension, measure)."""


def _cells(obs: list[Observation]) -> dict[Cell, list[Observation]]:
    """Observations by cell, English first, dimensions in the order they come (the average first)."""
    cells: dict[Cell, list[Observation]] = defaultdict(list)
    for o in obs:
        cells[(o.track, o.lang, o.dimension, o.measure)].append(o)
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
    file: str | None = None
    """The score file summarised; None for `judge score`'s own summary and for pooled files."""


def summarise(rows: Iterable[EscRow | SafetyRow], file: str | None = None) -> list[SummaryRow]:
    """Mean, 95% interval and n per track, language, dimension and measure, on 0-100."""
    out = []
    for (track, lang, dim, measure), obs in _cells(observations(rows)).items():
        e = bootstrap_mean([o.value for o in obs], "judge summary", track, lang, dim, measure)
        out.append(SummaryRow(track, lang, dim, measure, round(e.mean, 2), round(e.low, 2), round(e.high, 2), e.n, file))
    return out


@dataclass(frozen=True)
class ComparisonRow:
    track: str
    lang: str
    dimension: str
    measure: str
    n: int
    a: float
    b: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    """None below judge.stats.MIN_PAIRS shared items."""
    verdict: str
    only_a: int
    only_b: int


def _verdict(measure: str, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return f"no verdict: n < {MIN_PAIRS}"
    good = "better" if measure == "score" else "safer"
    ahead, behind = ("A", "B") if HIGHER_IS_BETTER[measure] else ("B", "A")
    return f"{ahead} {good}" if low > 0 else f"{behind} {good}" if high < 0 else "not separated"


def _by_key(obs: list[Observation], source: Path) -> dict[str, float]:
    values: dict[str, float] = {}
    for o in obs:
        if o.key in values:
            what = "dialogue" if o.track == "esc" else "prompt"
            raise InputError([Problem(source, None, "id", f"{what} {o.key!r} ({o.lang}) is scored twice; "
                                                         "a paired comparison needs each item once per language")])
        values[o.key] = o.value
    return values


IDENTIFIED_BY = {"card": "role card", "id": "id", "opening": "opening (no id in the file)"}


def _identified_by(rows: list[EscRow | SafetyRow]) -> str:
    kinds = sorted({item_key(r).split(":")[0] for r in rows if isinstance(r, EscRow)})
    return " and ".join(IDENTIFIED_BY.get(k, k) for k in kinds) or "prompt id"


def _same_prompts(a: list[EscRow | SafetyRow], b: list[EscRow | SafetyRow], a_source: Path, b_source: Path) -> None:
    """Safety answers pair by prompt id: an id in another dimension on the other side is another prompt set."""
    dims = {r.id: r.dimension for r in a if isinstance(r, SafetyRow)}
    clashes = {r.id: r.dimension for r in b if isinstance(r, SafetyRow) and dims.get(r.id, r.dimension) != r.dimension}
    if clashes:
        raise InputError([Problem(b_source, None, "dimension", f"prompt {i!r} is {d} here but {dims[i]} in {a_source}: "
                                                               "the two answer different prompt sets")
                          for i, d in clashes.items()])


def compare(a: list[EscRow | SafetyRow], b: list[EscRow | SafetyRow], a_source: Path, b_source: Path) -> list[ComparisonRow]:
    """The paired test per track, language, dimension and measure both sides have, over the items both scored."""
    judges = {r.judge for r in a} | {r.judge for r in b}
    if len(judges) > 1:
        raise InputError([Problem(b_source, None, "judge", f"scored by {', '.join(sorted(judges))}: "
                                                           "only scores of one judge can be compared")])
    _same_prompts(a, b, a_source, b_source)
    cells_b = _cells(observations(b))
    out = []
    for cell, obs in _cells(observations(a)).items():
        if cell not in cells_b:
            continue
        va, vb = _by_key(obs, a_source), _by_key(cells_b[cell], b_source)
        shared = sorted(va.keys() & vb.keys())
        if not shared:
            continue
        track, lang, dim, measure = cell
        d = paired_difference([va[k] - vb[k] for k in shared], "judge compare", *cell)
        mean_a, mean_b = (sum(v[k] for k in shared) / len(shared) for v in (va, vb))
        out.append(ComparisonRow(track, lang, dim, measure, len(shared), round(mean_a, 2), round(mean_b, 2),
                                 round(d.mean, 2), _rounded(d.low), _rounded(d.high), _verdict(measure, d.low, d.high),
                                 len(va.keys() - vb.keys()), len(vb.keys() - va.keys())))
    if not out:
        raise InputError([Problem(b_source, None, None,
                                  f"shares no scored item with {a_source}: items pair by role card, else by the id their "
                                  "file gave, else by the seeker's first message (safety: by prompt id), in the same "
                                  f"language; A's are identified by {_identified_by(a)}, B's by {_identified_by(b)}")])
    return out


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def report_json(rows: list[SummaryRow] | list[ComparisonRow], **head: Any) -> str:
    return json.dumps({**head, "rows": [asdict(r) for r in rows]}, ensure_ascii=False, indent=2) + "\n"


def summary_table(rows: list[SummaryRow], title: str | None = None) -> Table:
    by_file = any(r.file for r in rows)
    table = Table(*(["file"] if by_file else []), "track", "lang", "dimension", "measure", "mean", "95% CI", "n",
                  title=title, title_justify="left")
    for r in rows:
        table.add_row(*([r.file or ""] if by_file else []), r.track, r.lang, r.dimension, r.measure, f"{r.mean:.1f}",
                      f"{r.ci_low:.1f}–{r.ci_high:.1f}", str(r.n))
    return table


def comparison_table(rows: list[ComparisonRow], title: str) -> Table:
    table = Table("track", "lang", "dimension", "measure", "n", "A", "B", "A − B", "95% CI", "verdict", "only A",
                  "only B", title=title, title_justify="left")
    for r in rows:
        ci = f"n too small (< {MIN_PAIRS})" if r.ci_low is None else f"{r.ci_low:+.1f} – {r.ci_high:+.1f}"
        table.add_row(r.track, r.lang, r.dimension, r.measure, str(r.n), f"{r.a:.1f}", f"{r.b:.1f}", f"{r.diff:+.1f}",
                      ci, r.verdict, str(r.only_a), str(r.only_b))
    return table
