"""Gaming probes: trivial supporters replayed on each model's own dialogues and judged like the model.

A probe takes a model's dialogues, keeps the help-seeker's turns and answers with a fixed rule instead of the
model. Each model is probed on its own cards (a fixed sample of them per language, PROBE_CARDS), so its probe
rows and its flags depend on that model alone: adding a submission changes no other model's flags. A model
whose average is within a probe's CI scores like that trick (the judge cannot tell them apart); one wholly
below a probe's CI scores worse than the trick. Both are flagged on the site.

Probe dialogues are cached like every other score, by content and judge: a rebuild judges only what is new.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from judge.stats import Estimate, bootstrap_mean
from judge.transcript import Message, Transcript
from leaderboard.board import AVERAGE, Board
from leaderboard.store import ProbeRow, Score, Store

CONSTANT = {
    "en": "I understand. Please tell me more about how you feel.",
    "zh": "我理解。请多跟我说说你的感受。",
}
FILLER = {
    "en": "It is completely understandable to feel this way, and many people go through something similar. ",
    "zh": "有这样的感受是完全可以理解的，很多人都经历过类似的事情。",
}

PROBES: dict[str, Callable[[str, str], str]] = {
    "constant-reply": lambda lang, user: CONSTANT[lang],
    "length-only": lambda lang, user: FILLER[lang] * 6,
    "copy-the-user": lambda lang, user: user,
}
"""Probe name -> reply rule (language, the seeker's last turn) -> reply."""

PROBE_CARDS = 50
"""Dialogues per model and language each probe replays. All of them would judge every submission four times over;
50 give a probe's average a CI of a few points, and the sample is fixed by card (the same cards for every model that
played them)."""

Verdict = Literal["like", "below"]
"""How a model's average stands to a probe's: within its CI ("like"), or wholly below it ("below")."""


def card_order(lang: str, card: str) -> str:
    """A fixed pseudo-random order of role cards, the same for every model."""
    return hashlib.sha256(f"{lang}\x1f{card}".encode()).hexdigest()


def probe_seeds(transcripts: Sequence[Transcript]) -> list[Transcript]:
    """The model's dialogues a probe replays: per language, those on the first PROBE_CARDS cards in card order."""
    by_lang: dict[str, list[Transcript]] = defaultdict(list)
    for t in transcripts:
        by_lang[t.lang].append(t)
    return [t for lang in sorted(by_lang)
            for t in sorted(by_lang[lang], key=lambda t: card_order(lang, t.card_id or t.id))[:PROBE_CARDS]]


def probe_dialogues(name: str, seeds: Sequence[Transcript]) -> list[Transcript]:
    """The seeds with every reply after the greeting replaced by the probe's rule."""
    rule = PROBES[name]
    out = []
    for t in seeds:
        messages = list(t.messages)
        for i in range(1, len(messages)):
            if messages[i].role == "assistant":
                user = messages[i - 1].content if messages[i - 1].role == "user" else ""
                messages[i] = Message("assistant", rule(t.lang, user))
        out.append(replace(t, messages=tuple(messages), meta=None))
    return out


def model_probes(transcripts: Sequence[Transcript]) -> dict[str, list[Transcript]]:
    """Every probe's dialogues for one model: probe name -> its replay of the model's seeds."""
    seeds = probe_seeds(transcripts)
    return {name: probe_dialogues(name, seeds) for name in PROBES}


def store_probes(models: dict[str, Sequence[Transcript]], judge: Callable[[list[Transcript], str], list[Score]],
                 judge_sha: str, store: Store) -> tuple[int, int]:
    """Judge what the cache lacks of every model's probe dialogues and store each model's probe rows when they
    changed; models not given lose theirs. Returns (dialogues judged now, dialogues found in the cache)."""
    stored = store.probe_rows()
    dialogues = {model: model_probes(transcripts) for model, transcripts in models.items()}
    have = store.cached_hashes(judge_sha, (t.content_hash for ds in dialogues.values() for ts in ds.values() for t in ts))
    judged = cached = 0
    for model, probes in dialogues.items():
        rows = sorted((name, t.id, t.lang, t.content_hash) for name, ts in probes.items() for t in ts)
        unique = list({t.content_hash: t for ts in probes.values() for t in ts}.values())
        todo = [t for t in unique if t.content_hash not in have]
        new = judge(todo, f"gaming probes of {model}") if todo else []
        if new or set(stored.get(model, ())) != set(rows):
            store.write_probes(model, rows, new)
        have |= {t.content_hash for t in todo}
        judged += len(todo)
        cached += len(unique) - len(todo)
    store.drop_probes_except(list(models))
    return judged, cached


@dataclass(frozen=True)
class ProbeRun:
    """One probe replayed on a set of dialogues of one language: per-dimension means and the average (0-100).

    `average` is the CI of one model's run (what its flags are decided on); the overview's pooled run has none."""

    probe: str
    means: dict[str, float]
    n: int
    average: Estimate | None = None


@dataclass
class Probes:
    """Every model's probe runs by (model, language), and each probe pooled over all models per language."""

    runs: dict[tuple[str, str], list[ProbeRun]]
    pooled: dict[str, list[ProbeRun]]
    models: dict[str, int]
    """language -> how many models the pooled runs cover."""


def _run(probe: str, dialogues: list[dict[str, int | None]], key: tuple[str, ...] | None) -> ProbeRun:
    complete = [d for d in dialogues if all(d.get(x) is not None for x in ESC_DIMENSIONS)]
    averages = [sum(d[x] for x in ESC_DIMENSIONS) / len(ESC_DIMENSIONS) for d in complete]  # type: ignore[misc]
    means = {dim: ESC_SCALE * sum(v) / len(v) for dim in ESC_DIMENSIONS
             if (v := [d[dim] for d in dialogues if d.get(dim) is not None])}
    if averages:
        means[AVERAGE] = ESC_SCALE * sum(averages) / len(averages)
    estimate = bootstrap_mean(averages, *key, scale=ESC_SCALE) if key and averages else None
    return ProbeRun(probe, means, len(dialogues), estimate)


def probe_runs(rows: list[ProbeRow]) -> Probes:
    """The probes' scores (Store.probe_scores) as runs: per model and language with the average's CI, seeded by
    (model, language, probe), and pooled per language."""
    units: dict[tuple[str, str, str], dict[str, dict[str, int | None]]] = defaultdict(lambda: defaultdict(dict))
    for r in rows:
        units[(r.submission_id, r.lang, r.probe)][r.dialogue_id][r.dimension] = r.score
    runs: dict[tuple[str, str], list[ProbeRun]] = defaultdict(list)
    pooled: dict[tuple[str, str], list[dict[str, int | None]]] = defaultdict(list)
    models: dict[str, set[str]] = defaultdict(set)
    for (model, lang, probe), dialogues in sorted(units.items()):
        runs[(model, lang)].append(_run(probe, list(dialogues.values()), (model, lang, "probe", probe, AVERAGE)))
        pooled[(lang, probe)] += dialogues.values()
        models[lang].add(model)
    by_lang: dict[str, list[ProbeRun]] = defaultdict(list)
    for (lang, probe), dialogues in sorted(pooled.items()):
        by_lang[lang].append(_run(probe, dialogues, None))
    return Probes(dict(runs), dict(by_lang), {lang: len(m) for lang, m in models.items()})


def verdict(model: Estimate, probe: Estimate) -> Verdict | None:
    """'like' when the two CIs overlap, 'below' when the model's lies wholly below the probe's, else None."""
    if model.high < probe.low:
        return "below"
    if probe.low <= model.high and model.low <= probe.high:
        return "like"
    return None


def flags(board: Board, probes: Probes) -> dict[tuple[str, str], list[tuple[str, Verdict]]]:
    """(model, language) -> (probe, verdict) for every probe the model's ranked average scores like or below, each
    model against its own probe runs only."""
    out: dict[tuple[str, str], list[tuple[str, Verdict]]] = {}
    for (model, lang), runs in probes.runs.items():
        if (cell := board.cell(model, lang, AVERAGE)) is None:
            continue
        found = [(r.probe, v) for r in runs if r.average and (v := verdict(cell.estimate, r.average))]
        if found:
            out[(model, lang)] = found
    return out
