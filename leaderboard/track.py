"""The track specification: what makes ESC and safety two instances of one pipeline.

A Track says, in one place, what its submissions bring (a folder of JSON Lines), how they are
checked against its protocol (role cards; the prompt set), the unit a judge scores (a dialogue; a
response or a pair of responses), which judge scores it, its dimensions, label scales, metrics and
their direction, rubric texts, and its pages. Intake, validation, scoring, the one score cache, the
store, the board, the downloads and the site loop over `tracks()`; a third track is one folder
(`leaderboard/<track>/`) and one entry in `tracks()` (leaderboard/tracks.py, the registry above the tracks).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from markupsafe import Markup

from judge.bundle import DEFAULT_JUDGES, MANIFEST, bundle_for_track, shipped_bundles
from judge.console import say
from judge.errors import Problem
from judge.safety_judge import SafetyJudge, SafetyScorer, with_routes
from leaderboard.board import Board, Metric, ranked, unit_scores
from leaderboard.store import Coverage, Score, ScoreRow, Store, Unit
from leaderboard.submission import LoadedSubmission

if TYPE_CHECKING:
    from jinja2 import Environment

Judge = SafetyJudge
"""A judge of any track: its bundles, and for every dimension the bundle that scores it (one bundle, usually)."""


@dataclass
class TrackSite:
    """What a track adds to the site: its pages, the snippets shared pages embed, its downloads and nav."""

    pages: dict[str, str] = field(default_factory=dict)
    tables: dict[str, Markup] = field(default_factory=dict)  # language -> its tables on the overview
    profiles: dict[str, Markup] = field(default_factory=dict)  # model -> its section of the model page
    downloads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # download name -> rows
    scripts: dict[str, tuple[str, Any]] = field(default_factory=dict)  # file name -> (window variable, data)
    files: dict[str, bytes] = field(default_factory=dict)  # path in the site -> its bytes (the safety images)
    nav: list[Any] = field(default_factory=list)


class Track(ABC):
    """One track of the leaderboard; subclasses fill in the class attributes and the abstract methods."""

    name: ClassVar[str]
    title: ClassVar[str]
    folder: ClassVar[str]
    """The submission folder holding what this track judges, `<folder>/*.jsonl`."""
    runs_file: ClassVar[str]
    """The log of settings that the track's runner keeps in a submission folder."""
    noun: ClassVar[str]
    """What a submission brings, in words (the model page counts them)."""
    run_command: ClassVar[str]
    """The `leaderboard` command that produces a submission's items from its endpoint."""
    unit: ClassVar[str]
    """What one judge call scores, in words."""
    dimensions: ClassVar[tuple[str, ...]]
    """Shown dimensions, the composite first."""
    scales: ClassVar[dict[str, int]]
    """Top label of every scored dimension (0..top)."""
    metrics: ClassVar[tuple[Metric, ...]]
    rubrics: ClassVar[dict[str, str]]

    @abstractmethod
    def items(self, sub: LoadedSubmission) -> Sequence[Any]:
        """What the submission brought to this track (dialogues, responses)."""

    @abstractmethod
    def digests(self, sub: LoadedSubmission) -> list[str]:
        """One line per item, `id<TAB>hash of its content`: what the submission's set hashes are made of."""

    def takes(self, sub: LoadedSubmission) -> bool:
        return self.name in sub.meta.tracks and bool(self.items(sub))

    @abstractmethod
    def check(self, sub: LoadedSubmission) -> list[Problem]:
        """Every way the submission's items break the track's protocol; checked before anything is scored."""

    @abstractmethod
    def coverage(self, sub: LoadedSubmission) -> Coverage:
        """Per declared language: (items brought, items of the set the submission declared). Ranked only when complete."""

    @abstractmethod
    def protocol_hash(self) -> str:
        """Hash of the protocol data submissions are checked against, recorded with every run."""

    def judge(self, name: str | None, allow_test_judge: bool) -> Judge | None:
        """The judge named (None: the track's default); None when the default is not installed (the track is skipped)."""
        if name is None and not (shipped_bundles() / DEFAULT_JUDGES[self.name] / MANIFEST).is_file():
            say(f"{self.name} track skipped: its default judge "
                f"{DEFAULT_JUDGES[self.name]} is not installed (name one with the judge option)", "warning", "yellow")
            return None
        return with_routes(bundle_for_track(name, self.name, allow_test_judge), allow_test_judge)

    def judge_problems(self, judge: Judge, subs: list[LoadedSubmission]) -> list[Problem]:
        """What the judge cannot score of the submissions' units."""
        return []

    @abstractmethod
    def units(self, sub: LoadedSubmission) -> list[Unit]:
        """The scoring units of a checked submission, each with the hash its score is cached under."""

    @abstractmethod
    def score(self, sub: LoadedSubmission, units: list[Unit], scorer: SafetyScorer) -> list[Score]:
        """Scores of these units (never seen before by their judge or rules); the scorer opens models when first used."""

    @abstractmethod
    def content(self, sub: LoadedSubmission) -> list[list[Any]]:
        """Rows of the track's content table (store.CONTENT_TABLES) for the submission's pages."""

    def store_extras(self, subs: list[LoadedSubmission], scorer: SafetyScorer, store: Store) -> tuple[int, int]:
        """Anything else the track judges, cached like the submissions' units (ESC: the gaming probes): returns
        (dialogues or units judged now, found in the cache)."""
        return 0, 0

    @abstractmethod
    def estimates(self, board: Board) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Estimates by (language, dimension, metric) -> model, from the board's unit scores."""

    @abstractmethod
    def site(self, env: Environment, board: Board, store: Store, common: dict[str, Any]) -> TrackSite:
        """The track's pages, and the snippets the shared pages embed (leaderboard/site/<track>.py)."""

    def board(self, rows: list[ScoreRow], judge_id: str, judge_sha: str, coverage: dict[str, Coverage]) -> Board:
        """The track's board from unit scores (Store.unit_scores: its judge's and rules'); partial submissions
        (Store.coverage) keep their scores on their own pages but are left out of the ranks."""
        board = Board(self.name, judge_id, judge_sha, self.dimensions, self.metrics, coverage=coverage)
        board.unit_scores = unit_scores(rows)
        estimates = {key: {m: e for m, e in by_model.items() if not board.partial(m)}
                     for key, by_model in self.estimates(board).items()}
        return ranked(board, {key: by_model for key, by_model in estimates.items() if by_model})
