"""The DuckDB store: every SQL statement of the project lives in this module.

Scores are keyed by (dialogue content hash, judge sha, dimension), so the same dialogue is never
judged twice by the same judge, whichever submission it came from. A submission is written in one
transaction: a crash leaves the store as it was before.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from judge.bundle import JudgeBundle
from judge.errors import InputError, Problem
from judge.esc import DialogueScore
from judge.safety import RULE_DIMENSIONS, RULES_ID, SafetyScore
from leaderboard.submission import LoadedSubmission

if TYPE_CHECKING:
    from judge.safety_judge import SafetyJudge

STORE_VERSION = 1
"""Bumped whenever a table changes; a store of another version is refused, never half-migrated."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    submission_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    organisation TEXT NOT NULL,
    model_link TEXT,
    license TEXT,
    parameters BIGINT,
    kind TEXT NOT NULL,
    languages TEXT[] NOT NULL,
    tracks TEXT[] NOT NULL,
    metadata JSON NOT NULL,
    transcript_set_hash TEXT NOT NULL,
    written_at TIMESTAMP NOT NULL,
    run_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dialogues (
    submission_id TEXT NOT NULL,
    dialogue_id TEXT NOT NULL,
    lang TEXT NOT NULL,
    card_id TEXT,
    content_hash TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_line INTEGER NOT NULL,
    messages JSON NOT NULL,
    PRIMARY KEY (submission_id, dialogue_id)
);
CREATE TABLE IF NOT EXISTS judges (
    judge_sha TEXT PRIMARY KEY,
    judge_id TEXT NOT NULL,
    track TEXT NOT NULL,
    manifest JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    content_hash TEXT NOT NULL,
    judge_sha TEXT NOT NULL,
    dimension TEXT NOT NULL,
    score INTEGER NOT NULL,
    expected DOUBLE NOT NULL,
    PRIMARY KEY (content_hash, judge_sha, dimension)
);
CREATE TABLE IF NOT EXISTS probe_dialogues (
    probe TEXT NOT NULL,
    dialogue_id TEXT NOT NULL,
    lang TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (probe, dialogue_id)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    judge_sha TEXT NOT NULL,
    code_version TEXT NOT NULL,
    role_card_set_hash TEXT NOT NULL,
    submissions INTEGER,
    dialogues INTEGER,
    scored INTEGER,
    cached INTEGER
);
"""


@dataclass(frozen=True)
class ScoreRow:
    """One dialogue's score on one dimension, joined with where it came from."""

    submission_id: str
    dialogue_id: str
    lang: str
    dimension: str
    score: int


# --- safety track ---
SAFETY_SCHEMA = """
CREATE TABLE IF NOT EXISTS safety_items (
    submission_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    dimension TEXT NOT NULL,
    lang TEXT NOT NULL,
    prompt TEXT NOT NULL,
    image TEXT NOT NULL,
    response TEXT NOT NULL,
    unit_hash TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_line INTEGER NOT NULL,
    PRIMARY KEY (submission_id, item_id)
);
CREATE TABLE IF NOT EXISTS safety_scores (
    content_hash TEXT NOT NULL,
    judge_sha TEXT NOT NULL,
    dimension TEXT NOT NULL,
    score INTEGER,
    expected DOUBLE,
    detail TEXT NOT NULL,
    PRIMARY KEY (content_hash, judge_sha, dimension)
);
"""
"""A scoring unit is an item (judged dimensions) or a pair of items (rule dimensions; `unit_id` is the
pair's first item and both items carry the pair's hash). Rule scores are keyed by RULES_ID in place
of a judge sha, and a pair a rule leaves out is stored with a NULL score."""


@dataclass(frozen=True)
class SafetyRow:
    """One scoring unit's score (None: left out by its rule), joined with where it came from."""

    submission_id: str
    unit_id: str
    lang: str
    dimension: str
    score: int | None


def now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)  # stored as UTC, naive: no pytz needed


class Store:
    def __init__(self, path: Path, read_only: bool = False):
        self.path = Path(path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = duckdb.connect(str(self.path), read_only=read_only)
        self.run_id = ""
        tables = {r[0] for r in self.db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        version = (self.db.execute("SELECT value FROM store_meta WHERE key = 'version'").fetchone()
                   if "store_meta" in tables else None)
        if tables and (version is None or int(version[0]) != STORE_VERSION):
            self.db.close()
            found = version[0] if version else "none"
            raise InputError([Problem(self.path, None, None, f"store version {found}, this code writes {STORE_VERSION}: "
                                      "it is a cache the build recreates, so delete it or pass another --store")])
        if not read_only:
            self.db.execute("BEGIN TRANSACTION; " + SCHEMA + SAFETY_SCHEMA)  # a new store is made whole or not at all
            self.db.execute("INSERT OR IGNORE INTO store_meta VALUES ('version', ?)", [str(STORE_VERSION)])
            self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing: what a crash interrupts is rolled back by DuckDB on the next open."""
        self.db.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _records(self, sql: str, params: list | None = None) -> list[dict]:
        """A query's rows as dicts keyed by column name."""
        cur = self.db.execute(sql, params or [])
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def _insert(self, sql: str, rows: list[list]) -> None:
        """Insert many rows in one vectorised statement (executemany goes row by row: 100x slower).

        sql is "INSERT [OR IGNORE] INTO table"; rows are given as lists in the table's column order.
        """
        if not rows:
            return
        columns = [list(c) for c in zip(*rows)]
        select = ", ".join("unnest(?)" for _ in columns)
        self.db.execute(f"{sql} SELECT {select}", columns)

    def register_judge(self, bundle: JudgeBundle) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO judges VALUES (?, ?, ?, ?)",
            [bundle.sha, bundle.id, bundle.manifest.track, bundle.manifest.model_dump_json()],
        )

    def is_current(self, sub: LoadedSubmission, set_hash: str) -> bool:
        """True when the stored row already has this transcript set and this metadata: nothing to rewrite."""
        row = self.db.execute(
            "SELECT transcript_set_hash, metadata FROM submissions WHERE submission_id = ?", [sub.id]
        ).fetchone()
        return row is not None and row[0] == set_hash and row[1] == sub.meta.model_dump_json()

    def cached_hashes(self, judge_sha: str, hashes: Iterable[str], table: str = "scores") -> set[str]:
        """Which content hashes this judge (or the safety rules, RULES_ID) has already scored.

        table is "scores" (dialogues) or "safety_scores" (safety units).
        """
        wanted = sorted(set(hashes))
        if not wanted:
            return set()
        rows = self.db.execute(
            f"SELECT DISTINCT content_hash FROM {table} WHERE judge_sha = ? AND content_hash IN (SELECT unnest(?))",
            [judge_sha, wanted],
        ).fetchall()
        return {r[0] for r in rows}

    def write_submission(
        self, sub: LoadedSubmission, set_hash: str, judge_sha: str, new_scores: dict[str, DialogueScore]
    ) -> None:
        """Replace a submission, its dialogues and the scores new to the cache, all or nothing."""
        with self.transaction():
            self._insert("INSERT OR IGNORE INTO scores", [
                [content_hash, judge_sha, dim, result.scores[dim], result.expected[dim]]
                for content_hash, result in new_scores.items() for dim in result.scores
            ])
            self.db.execute("DELETE FROM dialogues WHERE submission_id = ?", [sub.id])
            self._replace_submission_row(sub, set_hash)
            self._insert("INSERT INTO dialogues", [
                [sub.id, t.id, t.lang, t.card_id, t.content_hash, str(t.source.relative_to(sub.folder)), t.line,
                 json.dumps(t.to_json()["messages"], ensure_ascii=False)]
                for t in sub.transcripts
            ])

    def _replace_submission_row(self, sub: LoadedSubmission, set_hash: str) -> None:
        """The submissions row, written alike by both tracks (inside their transaction)."""
        meta = sub.meta
        self.db.execute("DELETE FROM submissions WHERE submission_id = ?", [sub.id])
        self.db.execute(
            "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sub.id, meta.name, meta.organisation, str(meta.model_link), meta.license, meta.parameters,
                meta.kind, meta.languages, meta.tracks, meta.model_dump_json(), set_hash, now(), self.run_id,
            ],
        )

    def remove_submissions_except(self, keep: list[str]) -> list[str]:
        """Drop submissions whose folders are gone; returns their ids."""
        gone = [r[0] for r in self.db.execute(
            "SELECT submission_id FROM submissions WHERE submission_id NOT IN (SELECT unnest(?::TEXT[]))", [keep]
        ).fetchall()]
        if gone:
            with self.transaction():
                for table in ("dialogues", "safety_items", "submissions"):  # table names are ours
                    self.db.execute(f"DELETE FROM {table} WHERE submission_id IN (SELECT unnest(?::TEXT[]))", [gone])
        return gone

    def judge_sha(self, judge_id: str) -> str:
        row = self.db.execute("SELECT judge_sha FROM judges WHERE judge_id = ?", [judge_id]).fetchone()
        if row is None:
            raise KeyError(f"no judge {judge_id} in the store")
        return row[0]

    def write_probes(self, dialogues: dict[str, list[tuple[str, str, str]]], judge_sha: str,
                     new_scores: dict[str, DialogueScore]) -> None:
        """Replace the gaming probes' dialogues (probe -> (dialogue id, lang, hash)) and their new scores."""
        with self.transaction():
            self._insert("INSERT OR IGNORE INTO scores",
                         [[h, judge_sha, d, r.scores[d], r.expected[d]] for h, r in new_scores.items() for d in r.scores])
            self.db.execute("DELETE FROM probe_dialogues")
            self._insert("INSERT INTO probe_dialogues",
                         [[probe, i, lang, h] for probe, items in dialogues.items() for i, lang, h in items])

    def probe_scores(self, judge_sha: str) -> list[ScoreRow]:
        """The probes' scores, shaped like submissions' (the probe's name as the submission id)."""
        rows = self.db.execute(
            """
            SELECT p.probe, p.dialogue_id, p.lang, s.dimension, s.score
            FROM probe_dialogues p JOIN scores s ON s.content_hash = p.content_hash AND s.judge_sha = ?
            ORDER BY p.probe, p.lang, p.dialogue_id, s.dimension
            """,
            [judge_sha],
        ).fetchall()
        return [ScoreRow(*r) for r in rows]

    def provenance(self) -> dict[str, dict]:
        """Per submission: the transcript set, and the run (code version, judge, role cards) that wrote it."""
        rows = self._records(
            """
            SELECT s.submission_id, s.transcript_set_hash, r.code_version, r.judge_sha, r.role_card_set_hash
            FROM submissions s JOIN runs r USING (run_id)
            """
        )
        return {row["submission_id"]: row for row in rows}

    def start_run(self, run_id: str, judge_sha: str, code_version: str, role_card_set_hash: str) -> None:
        """Every row written from here on names this run: its code, judge and role cards."""
        self.db.execute(
            "INSERT INTO runs (run_id, started_at, judge_sha, code_version, role_card_set_hash) VALUES (?, ?, ?, ?, ?)",
            [run_id, now(), judge_sha, code_version, role_card_set_hash],
        )
        self.run_id = run_id

    def finish_run(self, run_id: str, submissions: int, dialogues: int, scored: int, cached: int) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, submissions = ?, dialogues = ?, scored = ?, cached = ? WHERE run_id = ?",
            [now(), submissions, dialogues, scored, cached, run_id],
        )

    def submissions(self) -> list[dict]:
        return self._records("SELECT * FROM submissions ORDER BY submission_id")

    def esc_scores(self, judge_sha: str) -> list[ScoreRow]:
        """Every stored dialogue's scores by the given judge."""
        rows = self.db.execute(
            """
            SELECT d.submission_id, d.dialogue_id, d.lang, s.dimension, s.score
            FROM dialogues d JOIN scores s ON s.content_hash = d.content_hash AND s.judge_sha = ?
            ORDER BY d.submission_id, d.lang, d.dialogue_id, s.dimension
            """,
            [judge_sha],
        ).fetchall()
        return [ScoreRow(*r) for r in rows]

    def dialogues(self, submission_id: str) -> list[dict]:
        rows = self._records(
            "SELECT dialogue_id, lang, card_id, content_hash, source_file, source_line, messages FROM dialogues "
            "WHERE submission_id = ? ORDER BY lang, dialogue_id",
            [submission_id],
        )
        return [{**row, "messages": json.loads(row["messages"])} for row in rows]

    # --- safety track ---
    def register_safety_judge(self, judge: SafetyJudge) -> None:
        """A safety judge under its one sha: one bundle's manifest, or the parts' manifests and routes (GuardRank)."""
        self.db.execute("INSERT OR IGNORE INTO judges VALUES (?, ?, ?, ?)", [judge.sha, judge.id, "safety", judge.manifest_json()])

    def write_safety_submission(self, sub: LoadedSubmission, set_hash: str, items: list[dict],
                                new_scores: dict[tuple[str, str], SafetyScore]) -> None:
        """Replace a submission's responses and add the scores new to the cache, all or nothing.

        items: safety_items rows as dicts; new_scores: (unit hash, judge sha or RULES_ID) -> score.
        """
        with self.transaction():
            self._insert("INSERT OR IGNORE INTO safety_scores",
                         [[h, judge, r.dimension, r.score, r.expected, r.detail] for (h, judge), r in new_scores.items()])
            self.db.execute("DELETE FROM safety_items WHERE submission_id = ?", [sub.id])
            self._replace_submission_row(sub, set_hash)
            self._insert("INSERT INTO safety_items",
                         [[sub.id, i["item_id"], i["unit_id"], i["dimension"], i["lang"], i["prompt"], i["image"],
                           i["response"], i["unit_hash"], i["source_file"], i["source_line"]] for i in items])

    def drop_safety_items_except(self, keep: list[str]) -> None:
        """Forget the responses of submissions that no longer bring any."""
        self.db.execute("DELETE FROM safety_items WHERE submission_id NOT IN (SELECT unnest(?::TEXT[]))", [keep])

    def safety_scores(self, judge_sha: str) -> list[SafetyRow]:
        """One row per stored scoring unit: judged dimensions by the given judge, rule dimensions by RULES_ID."""
        rows = self.db.execute(
            """
            SELECT DISTINCT i.submission_id, i.unit_id, i.lang, i.dimension, s.score
            FROM safety_items i JOIN safety_scores s ON s.content_hash = i.unit_hash AND s.dimension = i.dimension
              AND s.judge_sha = CASE WHEN i.dimension IN (SELECT unnest(?::TEXT[])) THEN ? ELSE ? END
            ORDER BY i.submission_id, i.lang, i.dimension, i.unit_id
            """,
            [list(RULE_DIMENSIONS), RULES_ID, judge_sha],
        ).fetchall()
        return [SafetyRow(*r) for r in rows]

    def safety_items(self, submission_id: str, judge_sha: str) -> list[dict]:
        """A submission's responses with the score of their unit, for its pages."""
        return self._records(
            """
            SELECT i.item_id, i.unit_id, i.dimension, i.lang, i.prompt, i.image, i.response, s.score, s.detail
            FROM safety_items i LEFT JOIN safety_scores s ON s.content_hash = i.unit_hash AND s.dimension = i.dimension
              AND s.judge_sha = CASE WHEN i.dimension IN (SELECT unnest(?::TEXT[])) THEN ? ELSE ? END
            WHERE i.submission_id = ? ORDER BY i.lang, i.dimension, i.item_id
            """,
            [list(RULE_DIMENSIONS), RULES_ID, judge_sha, submission_id],
        )
