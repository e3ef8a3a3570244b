"""The ESC track: ESC-Eval dialogues with a role-player, judged per dialogue on seven 0-4 dimensions."""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jinja2 import Environment

from judge.console import progress
from judge.dimensions import ESC_DIMENSIONS, ESC_SCALE
from judge.errors import Problem
from judge.esc import DialogueScore, score_transcripts
from judge.safety_judge import SafetyScorer
from judge.transcript import Transcript
from leaderboard.board import AVERAGE, Board, Metric
from leaderboard.esc.probes import PROBES, probe_dialogues, seed_dialogues
from leaderboard.esc.protocol import check_dialogues
from leaderboard.esc.rolecards import RoleCard, card_set, card_set_hash, embedded_cards, select_cards
from leaderboard.esc.roleplay import RUNS_FILE
from leaderboard.site.esc import render_esc
from leaderboard.site.render import TrackSite
from leaderboard.stats import Estimate, bootstrap_mean
from leaderboard.runner.records import last_settings
from leaderboard.store import Coverage, Score, Store, Unit
from leaderboard.submission import LoadedSubmission
from leaderboard.tracks import Track

RUBRICS = {
    AVERAGE: "Mean of the seven dimensions per dialogue.",
    "fluency": "Fluency: replies read naturally, are coherent and consistent with what came before.",
    "expression": "Expression (diversity): varied wording and forms of support, not one template repeated.",
    "empathy": "Empathy: recognises and reflects the seeker's feelings and situation.",
    "information": "Information (suggestion effectiveness): concrete, useful, well-fitted suggestions.",
    "skill": "Skill (emotional knowledge): uses sound emotional-support strategies at the right moment.",
    "humanoid": "Humanoid: talks like a caring person, not like an AI assistant reading out lists.",
    "overall": "Overall: how much a person would prefer this supporter.",
}


class EscTrack(Track):
    name = "esc"
    title = "Emotional support"
    folder = "transcripts"
    runs_file = RUNS_FILE
    noun = "dialogues"
    run_command = "run"
    unit = "dialogue"
    dimensions = (AVERAGE, *ESC_DIMENSIONS)
    scales = {d: 4 for d in ESC_DIMENSIONS}
    metrics = (Metric("score", "Score", True, f"the mean 0–4 score × {ESC_SCALE:g}, on 0–100. Higher is better ↑."),)
    rubrics = RUBRICS

    def __init__(self, card_files: Sequence[Path] = ()):
        self.card_files = tuple(card_files)
        self._cards: dict[tuple[str, str], RoleCard] | None = None

    @property
    def cards(self) -> dict[tuple[str, str], RoleCard]:
        """The shipped role cards and those of the given files, read once when first needed."""
        if self._cards is None:
            self._cards = card_set(self.card_files)
        return self._cards

    def items(self, sub: LoadedSubmission) -> list[Transcript]:
        return sub.transcripts

    def digests(self, sub: LoadedSubmission) -> list[str]:
        return [f"{t.id}\t{t.content_hash}" for t in sub.transcripts]

    def check(self, sub: LoadedSubmission) -> list[Problem]:
        return check_dialogues(sub.transcripts, self.cards)

    def protocol_hash(self) -> str:
        return card_set_hash(self.cards)

    def declared_cards(self, sub: LoadedSubmission, lang: str) -> list[RoleCard]:
        """The card set a submission declares for a language: the selection its last run recorded in
        roleplay-runs.jsonl (card files, topics, seeded sample), else every card the leaderboard knows."""
        selection = (last_settings(sub.folder / RUNS_FILE) or {}).get("cards")
        if not isinstance(selection, dict):
            return [c for c in self.cards.values() if c.lang == lang]
        embedded = embedded_cards(lang)  # type: ignore[arg-type]
        pool = embedded if selection.get("files") == "embedded" else [c for c in self.cards.values() if c not in embedded]
        return select_cards(pool, lang, selection.get("topics"), selection.get("sample"), selection.get("seed", 0))  # type: ignore[arg-type]

    def coverage(self, sub: LoadedSubmission) -> Coverage:
        """Per declared language: its dialogues on the declared cards, of how many cards there are."""
        played = {(t.lang, t.card_id) for t in sub.transcripts}
        return {lang: (sum((lang, c.id) in played for c in cards), len(cards))
                for lang in sub.meta.languages for cards in [self.declared_cards(sub, lang)]}

    def units(self, sub: LoadedSubmission) -> list[Unit]:
        return [Unit(t.id, t.lang, t.content_hash) for t in sub.transcripts]

    def score(self, sub: LoadedSubmission, units: list[Unit], scorer: SafetyScorer) -> list[Score]:
        wanted = {u.hash for u in units}
        return _judge([t for t in {t.content_hash: t for t in sub.transcripts}.values() if t.content_hash in wanted],
                      scorer, sub.id)

    def content(self, sub: LoadedSubmission) -> list[list]:
        return [[sub.id, t.id, t.lang, t.card_id, t.content_hash, str(t.source.relative_to(sub.folder)), t.line,
                 json.dumps(t.to_json()["messages"], ensure_ascii=False)] for t in sub.transcripts]

    def store_extras(self, subs: list[LoadedSubmission], scorer: SafetyScorer, store: Store) -> None:
        """Judge the gaming probes on the submissions' role cards, in one transaction."""
        seeds = seed_dialogues([s for s in subs if self.takes(s)])
        dialogues = {name: probe_dialogues(name, seeds) for name in PROBES}
        new: list[Score] = []
        for name, transcripts in dialogues.items():
            cached = store.cached_hashes(scorer.judge.sha, (t.content_hash for t in transcripts))
            new += _judge(list({t.content_hash: t for t in transcripts if t.content_hash not in cached}.values()),
                          scorer, f"probe {name}")
        store.write_probes({name: [(t.id, t.lang, t.content_hash) for t in ts] for name, ts in dialogues.items()}, new)

    def estimates(self, board: Board) -> dict[tuple[str, str, str], dict[str, Estimate]]:
        """Bootstrap every (language, dimension) on 0-100, plus the 7-dimension average per dialogue."""
        estimates: dict[tuple[str, str, str], dict[str, Estimate]] = defaultdict(dict)
        for (model, lang), dialogues in board.unit_scores.items():
            for dim in ESC_DIMENSIONS:
                values = [d[dim] for d in dialogues.values() if dim in d]
                if values:
                    estimates[(lang, dim, "score")][model] = bootstrap_mean(values, model, lang, dim, scale=ESC_SCALE)
            averages = [sum(d[x] for x in ESC_DIMENSIONS) / len(ESC_DIMENSIONS) for d in dialogues.values()  # type: ignore[misc]
                        if all(x in d for x in ESC_DIMENSIONS)]
            if averages:
                estimates[(lang, AVERAGE, "score")][model] = bootstrap_mean(averages, model, lang, AVERAGE, scale=ESC_SCALE)
        return estimates

    def probe_board(self, store: Store, board: Board) -> Board:
        """The gaming probes, judged and estimated like submissions (the probe's name as the model)."""
        return self.board(store.probe_scores(board.judge_sha), board.judge, board.judge_sha, {})

    def site(self, env: Environment, board: Board, store: Store, common: dict[str, Any]) -> TrackSite:
        return render_esc(env, board, store, {**common, "rubrics": self.rubrics}, self.cards, self.probe_board(store, board))


def _judge(transcripts: list[Transcript], scorer: SafetyScorer, label: str) -> list[Score]:
    """Every dimension's score of each dialogue; the judge's model loads on first need."""
    if not transcripts:
        return []
    judge = scorer.judge
    runtime = scorer.runtime(judge.parts[0])
    with progress(f"judging {label}", len(transcripts)) as advance:
        scored: list[DialogueScore] = score_transcripts(runtime, transcripts, advance)  # type: ignore[arg-type]
    return [Score(t.content_hash, judge.sha, dim, s.scores[dim], s.expected[dim])
            for t, s in zip(transcripts, scored) for dim in s.scores]
