"""The DuckDB store: every SQL statement of the project lives in this module.

One cache for every track: a score is keyed by (unit content hash, judge sha or rules id, dimension),
so a unit (a dialogue, a response, a pair of responses) is never scored twice by the same judge,
whichever submission it came from. What a submission brings is kept per track (`dialogues`,
`safety_items`) and what is scored in `units`; a submission is written in one transaction, whatever
its track: a crash leaves the store as it was before.
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

from judge.errors import InputError, Problem
from leaderboard.submission import LoadedSubmission

if TYPE_CHECKING:
    from judge.safety_judge import SafetyJudge

STORE_VERSION = 5
"""Bumped whenever a table changes; a store of another version is refused, never half-migrated.
2: one scores table and a units table for both tracks; runs name every judge and protocol used.
3: submission_tracks.coverage, what a submission brought of what it declared, per language.
4: judges.content_pinned, false for an endpoint judge (a served model, named but not pinned by file hashes).
5: probe_dialogues.submission_id: every model is probed on its own dialogues; site_payloads, the transcript pages'
   compressed dialogues by what they hold (leaderboard/site/esc.py)."""

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
CREATE TABLE IF NOT EXISTS submission_tracks (
    submission_id TEXT NOT NULL,
    track TEXT NOT NULL,
    set_hash TEXT NOT NULL,
    coverage JSON NOT NULL,
    PRIMARY KEY (submission_id, track)
);
CREATE TABLE IF NOT EXISTS units (
    submission_id TEXT NOT NULL,
    track TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    lang TEXT NOT NULL,
    dimension TEXT,
    unit_hash TEXT NOT NULL,
    rules TEXT,
    PRIMARY KEY (submission_id, track, unit_id)
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
CREATE TABLE IF NOT EXISTS safety_items (
    submission_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    dimension TEXT NOT NULL,
    lang TEXT NOT NULL,
    prompt TEXT NOT NULL,
    image TEXT NOT NULL,
    response TEXT NOT NULL,
    source_file TEXT NOT NULL,
    source_line INTEGER NOT NULL,
    PRIMARY KEY (submission_id, item_id)
);
CREATE TABLE IF NOT EXISTS judges (
    judge_sha TEXT PRIMARY KEY,
    judge_id TEXT NOT NULL,
    track TEXT NOT NULL,
    manifest JSON NOT NULL,
    content_pinned BOOLEAN NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    content_hash TEXT NOT NULL,
    judge_sha TEXT NOT NULL,
    dimension TEXT NOT NULL,
    score INTEGER,
    expected DOUBLE,
    detail TEXT NOT NULL,
    PRIMARY KEY (content_hash, judge_sha, dimension)
);
CREATE TABLE IF NOT EXISTS probe_dialogues (
    submission_id TEXT NOT NULL,
    probe TEXT NOT NULL,
    dialogue_id TEXT NOT NULL,
    lang TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    PRIMARY KEY (submission_id, probe, dialogue_id)
);
CREATE TABLE IF NOT EXISTS site_payloads (
    key TEXT PRIMARY KEY,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TIMESTAMP NOT NULL,
    finished_at TIMESTAMP,
    code_version TEXT NOT NULL,
    judges JSON NOT NULL,
    protocols JSON NOT NULL,
    submissions INTEGER,
    units INTEGER,
    scored INTEGER,
    cached INTEGER
);
"""
"""`submission_tracks` holds the hash of what a submission brought to each track, so a track whose part did
not change is not rewritten, and its coverage {language: [items brought, items declared]}. `units.dimension` is NULL when the judge scores the unit on all its dimensions (a dialogue);
`units.rules` names the rules that score it in place of the track's judge (safety pairs). A score a
rule leaves out (a pair it does not count) is stored with a NULL score, and so is a judgement a judge gave no
valid label (an endpoint judge's reply without one: `detail` keeps the reply); neither counts on the board. `runs.judges` and
`runs.protocols` map each track built to its judge sha and to the hash of its protocol data."""

CONTENT_TABLES: dict[str, str] = {"esc": "dialogues", "safety": "safety_items"}
"""Where each track keeps what a submission brought, for its pages (the rest of the store is shared)."""


Coverage = dict[str, tuple[int, int]]
"""language -> (items a submission brought, items its declared set has): what decides whether it is ranked."""


@dataclass(frozen=True)
class Score:
    """One unit's score on one dimension by a judge (its sha) or rules (their id): the one score type stored."""

    hash: str
    scorer: str
    dimension: str
    score: int | None
    expected: float | None
    detail: str = ""


@dataclass(frozen=True)
class Unit:
    """What one judge call scores, as stored: a dialogue (all dimensions), a response or a pair (one dimension)."""

    id: str
    lang: str
    hash: str
    dimension: str | None = None
    rules: str | None = None


@dataclass(frozen=True)
class ScoreRow:
    """One unit's score on one dimension (None: left out by its rule), joined with where it came from."""

    submission_id: str
    unit_id: str
    lang: str
    dimension: str
    score: int | None


@dataclass(frozen=True)
class ProbeRow:
    """One gaming-probe dialogue's score on one dimension: the probe replayed on a submission's dialogue."""

    submission_id: str
    probe: str
    dialogue_id: str
    lang: str
    dimension: str
    score: int


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
            self.db.execute("BEGIN TRANSACTION; " + SCHEMA)  # a new store is made whole or not at all
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

    def register_judge(self, track: str, judge: SafetyJudge) -> None:
        """A judge under its one sha: one bundle's manifest, or the parts' manifests and routes (GuardRank), and
        whether its files pin it (not an endpoint judge's)."""
        self.db.execute("INSERT OR IGNORE INTO judges VALUES (?, ?, ?, ?, ?)",
                        [judge.sha, judge.id, track, judge.manifest_json(), judge.content_pinned])

    def judges(self) -> list[dict]:
        """Every judge that scored into this store, with how many judgements it made and left unscored."""
        return self._records(
            """
            SELECT j.judge_sha, j.judge_id, j.track, j.content_pinned, count(s.score) AS scored,
                   count(s.content_hash) - count(s.score) AS unscored
            FROM judges j LEFT JOIN scores s USING (judge_sha)
            GROUP BY ALL ORDER BY j.track, j.judge_id
            """
        )

    def judge_labels(self, track: str) -> list[tuple[str, str, str, str, int | None]]:
        """(judge sha, language, dimension, unit hash, label or None) of every judgement of a track's judges on a
        submission's unit: what the judge page compares judges on."""
        return self.db.execute(
            """
            SELECT s.judge_sha, u.lang, s.dimension, s.content_hash, s.score
            FROM scores s JOIN judges j ON j.judge_sha = s.judge_sha AND j.track = ?
              JOIN (SELECT DISTINCT unit_hash, lang FROM units WHERE track = ? AND rules IS NULL) u
                ON u.unit_hash = s.content_hash
            ORDER BY s.judge_sha, u.lang, s.dimension, s.content_hash
            """,
            [track, track],
        ).fetchall()

    def judge_sha(self, judge_id: str) -> str:
        row = self.db.execute("SELECT judge_sha FROM judges WHERE judge_id = ?", [judge_id]).fetchone()
        if row is None:
            raise KeyError(f"no judge {judge_id} in the store")
        return row[0]

    def is_current(self, sub: LoadedSubmission, track: str, track_hash: str) -> bool:
        """True when the store already has what the submission brings to this track, and its metadata: nothing to rewrite."""
        row = self.db.execute(
            "SELECT t.set_hash, s.metadata FROM submissions s JOIN submission_tracks t USING (submission_id) "
            "WHERE submission_id = ? AND t.track = ?", [sub.id, track]
        ).fetchone()
        return row is not None and row[0] == track_hash and row[1] == sub.meta.model_dump_json()

    def cached_hashes(self, scorer: str, hashes: Iterable[str]) -> set[str]:
        """Which content hashes this judge sha (or rules id) has already scored."""
        wanted = sorted(set(hashes))
        if not wanted:
            return set()
        rows = self.db.execute(
            "SELECT DISTINCT content_hash FROM scores WHERE judge_sha = ? AND content_hash IN (SELECT unnest(?))",
            [scorer, wanted],
        ).fetchall()
        return {r[0] for r in rows}

    def _insert_scores(self, scores: Iterable[Score]) -> None:
        self._insert("INSERT OR IGNORE INTO scores",
                     [[s.hash, s.scorer, s.dimension, s.score, s.expected, s.detail] for s in scores])

    def write_submission(self, sub: LoadedSubmission, set_hash: str, track: str, track_hash: str, units: list[Unit],
                         content: list[list], new_scores: list[Score], coverage: Coverage) -> None:
        """Replace what a submission brought to one track (its units and their content rows, in the column
        order of the track's content table) and add the scores new to the cache, all or nothing.

        set_hash covers everything the submission brings (all tracks), track_hash this track's part."""
        table = CONTENT_TABLES[track]  # table names are ours
        with self.transaction():
            self._insert_scores(new_scores)
            self.db.execute(f"DELETE FROM {table} WHERE submission_id = ?", [sub.id])
            for shared in ("units", "submission_tracks"):  # table names are ours
                self.db.execute(f"DELETE FROM {shared} WHERE submission_id = ? AND track = ?", [sub.id, track])
            self._replace_submission_row(sub, set_hash)
            self.db.execute("INSERT INTO submission_tracks VALUES (?, ?, ?, ?)", [sub.id, track, track_hash, json.dumps(coverage)])
            self._insert("INSERT INTO units", [[sub.id, track, u.id, u.lang, u.dimension, u.hash, u.rules] for u in units])
            self._insert(f"INSERT INTO {table}", content)

    def _replace_submission_row(self, sub: LoadedSubmission, set_hash: str) -> None:
        """The submissions row, written alike by every track (inside its transaction)."""
        meta = sub.meta
        self.db.execute("DELETE FROM submissions WHERE submission_id = ?", [sub.id])
        self.db.execute(
            "INSERT INTO submissions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                sub.id, meta.name, meta.organisation, str(meta.model_link), meta.license, meta.parameters,
                meta.kind, meta.languages, meta.tracks, meta.model_dump_json(), set_hash, now(), self.run_id,
            ],
        )

    def drop_track_except(self, track: str, keep: list[str]) -> None:
        """Forget what submissions outside keep brought to a track (they no longer bring any)."""
        with self.transaction():
            self.db.execute(f"DELETE FROM {CONTENT_TABLES[track]} WHERE submission_id NOT IN (SELECT unnest(?::TEXT[]))",
                            [keep])  # table names are ours
            for shared in ("units", "submission_tracks"):  # table names are ours
                self.db.execute(f"DELETE FROM {shared} WHERE track = ? AND submission_id NOT IN (SELECT unnest(?::TEXT[]))",
                                [track, keep])

    def remove_submissions_except(self, keep: list[str]) -> list[str]:
        """Drop submissions whose folders are gone; returns their ids."""
        gone = [r[0] for r in self.db.execute(
            "SELECT submission_id FROM submissions WHERE submission_id NOT IN (SELECT unnest(?::TEXT[]))", [keep]
        ).fetchall()]
        if gone:
            with self.transaction():
                for table in (*CONTENT_TABLES.values(), "units", "submission_tracks", "submissions"):  # table names are ours
                    self.db.execute(f"DELETE FROM {table} WHERE submission_id IN (SELECT unnest(?::TEXT[]))", [gone])
        return gone

    def unit_scores(self, track: str, judge_sha: str) -> list[ScoreRow]:
        """Every stored unit's scores of a track: by the given judge (its unscored judgements left out), or by the
        rules a unit names."""
        rows = self.db.execute(
            """
            SELECT u.submission_id, u.unit_id, u.lang, s.dimension, s.score
            FROM units u JOIN scores s ON s.content_hash = u.unit_hash AND s.judge_sha = coalesce(u.rules, ?)
              AND (u.dimension IS NULL OR s.dimension = u.dimension)
            WHERE u.track = ? AND (s.score IS NOT NULL OR u.rules IS NOT NULL)
            ORDER BY u.submission_id, u.lang, s.dimension, u.unit_id
            """,
            [judge_sha, track],
        ).fetchall()
        return [ScoreRow(*r) for r in rows]

    def coverage(self, track: str) -> dict[str, Coverage]:
        """Submission -> its coverage of a track: language -> (items brought, items declared)."""
        rows = self.db.execute("SELECT submission_id, coverage FROM submission_tracks WHERE track = ?", [track]).fetchall()
        return {sub: {lang: (n, of) for lang, (n, of) in json.loads(cov).items()} for sub, cov in rows}

    def write_probes(self, submission_id: str, rows: list[tuple[str, str, str, str]], new_scores: list[Score]) -> None:
        """Replace one submission's gaming-probe dialogues ((probe, dialogue id, lang, hash) rows) and add their new
        scores, all or nothing."""
        with self.transaction():
            self._insert_scores(new_scores)
            self.db.execute("DELETE FROM probe_dialogues WHERE submission_id = ?", [submission_id])
            self._insert("INSERT INTO probe_dialogues", [[submission_id, *row] for row in rows])

    def probe_rows(self) -> dict[str, list[tuple[str, str, str, str]]]:
        """Submission -> its stored probe dialogues as (probe, dialogue id, lang, hash): what write_probes wrote."""
        out: dict[str, list[tuple[str, str, str, str]]] = {}
        for sub, *row in self.db.execute("SELECT submission_id, probe, dialogue_id, lang, content_hash FROM probe_dialogues "
                                          "ORDER BY ALL").fetchall():
            out.setdefault(sub, []).append(tuple(row))  # type: ignore[arg-type]
        return out

    def drop_probes_except(self, keep: list[str]) -> None:
        """Forget the probe dialogues of submissions outside keep."""
        self.db.execute("DELETE FROM probe_dialogues WHERE submission_id NOT IN (SELECT unnest(?::TEXT[]))", [keep])

    def probe_scores(self, judge_sha: str) -> list[ProbeRow]:
        """Every submission's probe dialogues with their scores by the judge (unscored judgements left out)."""
        rows = self.db.execute(
            """
            SELECT p.submission_id, p.probe, p.dialogue_id, p.lang, s.dimension, s.score
            FROM probe_dialogues p JOIN scores s ON s.content_hash = p.content_hash AND s.judge_sha = ?
              AND s.score IS NOT NULL
            ORDER BY ALL
            """,
            [judge_sha],
        ).fetchall()
        return [ProbeRow(*r) for r in rows]

    def write_release(self, path: Path) -> None:
        """A compact copy of the store for the site's download: every table whole except the dialogues' text
        (`dialogues.messages`, most of the store's size: the submissions' own transcripts/*.jsonl hold it and the
        transcript pages show it). A fresh file of plain tables: no primary-key indexes (most of what is left)
        and no freed blocks come along."""
        path = Path(path)
        path.unlink(missing_ok=True)
        source = self.db.execute("SELECT current_database()").fetchone()[0]
        tables = [r[0] for r in self.db.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                                                "ORDER BY table_name", [source]).fetchall()]
        quoted = str(path).replace("'", "''")  # ATTACH takes no parameters
        self.db.execute(f"ATTACH '{quoted}' AS release (BLOCK_SIZE 16384)")  # small blocks: small tables stay small
        try:
            for table in (t for t in tables if t != "site_payloads"):  # a cache of site pages; table names are ours
                left_out = "EXCLUDE (messages) " if table == "dialogues" else ""
                self.db.execute(f'CREATE TABLE release."{table}" AS SELECT * {left_out}FROM "{source}"."{table}"')
            self.db.execute("INSERT INTO release.store_meta VALUES ('release', 'dialogues.messages left out: the texts "
                            "are the submissions'' transcripts/*.jsonl at this data version')")
        finally:
            self.db.execute("DETACH release")

    def start_run(self, run_id: str, code_version: str, judges: dict[str, str], protocols: dict[str, str]) -> None:
        """Every row written from here on names this run: its code, and every track's judge sha and protocol hash."""
        self.db.execute(
            "INSERT INTO runs (run_id, started_at, code_version, judges, protocols) VALUES (?, ?, ?, ?, ?)",
            [run_id, now(), code_version, json.dumps(judges, sort_keys=True), json.dumps(protocols, sort_keys=True)],
        )
        self.run_id = run_id

    def finish_run(self, run_id: str, submissions: int, units: int, scored: int, cached: int) -> None:
        self.db.execute(
            "UPDATE runs SET finished_at = ?, submissions = ?, units = ?, scored = ?, cached = ? WHERE run_id = ?",
            [now(), submissions, units, scored, cached, run_id],
        )

    def provenance(self) -> dict[str, dict]:
        """Per submission: its set hash, and the run (code version, judges, protocol data) that wrote it."""
        rows = self._records(
            """
            SELECT s.submission_id, s.transcript_set_hash, r.code_version, r.judges, r.protocols
            FROM submissions s JOIN runs r USING (run_id)
            """
        )
        return {row["submission_id"]: {**row, "judges": json.loads(row["judges"]), "protocols": json.loads(row["protocols"])}
                for row in rows}

    def content_counts(self) -> dict[tuple[str, str], int]:
        """(track, submission) -> how many items (dialogues, responses) the submission brought to the track."""
        counts: dict[tuple[str, str], int] = {}
        for track, table in CONTENT_TABLES.items():  # table names are ours
            for sub, n in self.db.execute(f"SELECT submission_id, count(*) FROM {table} GROUP BY ALL").fetchall():
                counts[(track, sub)] = n
        return counts

    def submissions(self) -> list[dict]:
        return self._records("SELECT * FROM submissions ORDER BY submission_id")

    def dialogues(self, submission_id: str) -> list[dict]:
        """A submission's dialogues without their text (Store.messages): what a page lists them by."""
        return self._records(
            "SELECT dialogue_id, lang, card_id, content_hash, source_file, source_line FROM dialogues "
            "WHERE submission_id = ? ORDER BY lang, dialogue_id",
            [submission_id],
        )

    def messages(self, submission_id: str, dialogue_ids: list[str]) -> dict[str, list[dict]]:
        """Dialogue id -> its messages, for the given dialogues of a submission."""
        rows = self.db.execute("SELECT dialogue_id, messages FROM dialogues WHERE submission_id = ? "
                               "AND dialogue_id IN (SELECT unnest(?::TEXT[]))", [submission_id, dialogue_ids]).fetchall()
        return {i: json.loads(m) for i, m in rows}

    def site_payloads(self, keys: list[str]) -> dict[str, bytes]:
        """The cached payloads of the given keys (leaderboard/site/esc.py makes keys and payloads)."""
        rows = self.db.execute("SELECT key, payload FROM site_payloads WHERE key IN (SELECT unnest(?::TEXT[]))",
                               [keys]).fetchall()
        return dict(rows)

    def add_site_payloads(self, new: dict[str, bytes]) -> None:
        self._insert("INSERT OR IGNORE INTO site_payloads", [[k, v] for k, v in new.items()])

    def keep_site_payloads(self, used: list[str]) -> None:
        """Forget the payloads no page uses any more."""
        self.db.execute("DELETE FROM site_payloads WHERE key NOT IN (SELECT unnest(?::TEXT[]))", [used])

    def safety_items(self, submission_id: str, judge_sha: str) -> list[dict]:
        """A submission's responses with the score of their unit, for its pages."""
        return self._records(
            """
            SELECT i.item_id, i.unit_id, i.dimension, i.lang, i.prompt, i.image, i.response, s.score, s.detail
            FROM safety_items i
              JOIN units u ON u.submission_id = i.submission_id AND u.track = 'safety' AND u.unit_id = i.unit_id
              LEFT JOIN scores s ON s.content_hash = u.unit_hash AND s.dimension = i.dimension
                AND s.judge_sha = coalesce(u.rules, ?)
            WHERE i.submission_id = ? ORDER BY i.lang, i.dimension, i.item_id
            """,
            [judge_sha, submission_id],
        )
