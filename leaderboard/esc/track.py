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
from judge.stats import Estimate, bootstrap_mean
from judge.transcript import Transcript
from leaderboard.board import AVERAGE, Board, Metric
from leaderboard.esc.probes import Probes, probe_runs, store_probes
from leaderboard.esc.protocol import check_dialogues
from leaderboard.esc.rolecards import (LANGS, CardFile, RoleCard, card_set, card_set_hash, embedded_cards,
                                       read_card_files, recorded_files, select_cards)
from leaderboard.esc.roleplay import RUNS_FILE
from leaderboard.site.esc import render_esc
from leaderboard.runner.records import last_start
from leaderboard.store import Coverage, Score, Store, Unit
from leaderboard.submission import LoadedSubmission
from leaderboard.track import Track, TrackSite

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
        self._files: list[CardFile] | None = None
        self._cards: dict[tuple[str, str], RoleCard] | None = None

    @property
    def files(self) -> list[CardFile]:
        """The given role card files (--role-cards), read once when first needed."""
        if self._files is None:
            self._files = read_card_files(self.card_files)
        return self._files

    @property
    def cards(self) -> dict[tuple[str, str], RoleCard]:
        """The shipped role cards and those of the given files."""
        if self._cards is None:
            self._cards = card_set(self.files)
        return self._cards

    def items(self, sub: LoadedSubmission) -> list[Transcript]:
        return sub.transcripts

    def digests(self, sub: LoadedSubmission) -> list[str]:
        return [f"{t.id}\t{t.content_hash}" for t in sub.transcripts]

    def check(self, sub: LoadedSubmission) -> list[Problem]:
        """The protocol, and that the card files its run recorded are given; when one is not, that is said once
        instead of once per dialogue on its cards."""
        missing = self.declared(sub)[2]
        return missing + check_dialogues(sub.transcripts, self.cards, report_unknown=not missing)

    def protocol_hash(self) -> str:
        return card_set_hash(self.cards)

    def declared(self, sub: LoadedSubmission) -> tuple[dict[str, Any] | None, list[RoleCard], list[Problem]]:
        """The card selection the submission's last run recorded in roleplay-runs.jsonl (None without one), the
        cards it drew from (the embedded ones, or those of its card files, found by sha256 among the given
        files), and the problems finding them."""
        line, settings = last_start(sub.folder / RUNS_FILE) or (None, {})
        selection = settings.get("cards")
        if not isinstance(selection, dict):
            return None, [], []
        if selection.get("files", "embedded") == "embedded":
            return selection, [c for lang in LANGS for c in embedded_cards(lang)], []
        files, problems = recorded_files(selection["files"], self.files, sub.folder / RUNS_FILE, line)
        return selection, [c for f in files for c in f.cards], problems

    def declared_cards(self, sub: LoadedSubmission, lang: str) -> list[RoleCard]:
        """The card set a submission declares for a language: the selection its last run recorded (card files,
        topics, seeded sample); without a run log, every card of each card file (the shipped set, or a given
        file) that one of its dialogues in the language is on."""
        selection, pool, _ = self.declared(sub)
        if selection is None:
            played = {t.card_id for t in sub.transcripts if t.lang == lang}
            sets = [embedded_cards(lang), *[list(f.cards) for f in self.files]]  # type: ignore[arg-type]
            return [c for cards in sets if any(c.id in played for c in cards if c.lang == lang)
                    for c in cards if c.lang == lang]
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

    def store_extras(self, subs: list[LoadedSubmission], scorer: SafetyScorer, store: Store) -> tuple[int, int]:
        """Judge what the cache lacks of each model's gaming probes (leaderboard/esc/probes.py)."""
        return store_probes({s.id: s.transcripts for s in subs if self.takes(s)},
                            lambda todo, label: _judge(todo, scorer, label), scorer.judge.sha, store)

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

    def site(self, env: Environment, board: Board, store: Store, common: dict[str, Any]) -> TrackSite:
        probes: Probes = probe_runs(store.probe_scores(board.judge_sha))
        return render_esc(env, board, store, {**common, "rubrics": self.rubrics}, self.cards, probes)


def _judge(transcripts: list[Transcript], scorer: SafetyScorer, label: str) -> list[Score]:
    """Every dimension's score of each dialogue; the judge's model loads on first need."""
    if not transcripts:
        return []
    judge = scorer.judge
    runtime = scorer.runtime(judge.parts[0])
    with progress(f"judging {label}", len(transcripts)) as advance:
        scored: list[DialogueScore] = score_transcripts(runtime, transcripts, advance)  # type: ignore[arg-type]
    return [Score(t.content_hash, judge.sha, dim, s.scores.get(dim), s.expected.get(dim), s.replies.get(dim, ""))
            for t, s in zip(transcripts, scored) for dim in [*s.scores, *s.unscored]]  # unscored: NULL, never 0
