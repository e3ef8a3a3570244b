"""`leaderboard build`: validate -> score -> store -> render -> mkdocs, in that order and one way, for every track.

Everything is validated before anything is written; only units a judge (or a rule) has not scored
before are scored; each submission's part of a track is stored in one transaction; the site is built
aside and swapped in. Nothing here knows a track: each one's specifics come from `leaderboard.tracks`.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from filelock import FileLock, Timeout

from judge.console import say
from judge.errors import InputError, Problem
from judge.safety_judge import SafetyScorer
from leaderboard.esc.run import RunOptions, run_submission
from leaderboard.intake import check_folder, load_all, require_root
from leaderboard.runner.backends import BackendError
from leaderboard.site.render import Rendered, render_site
from leaderboard.store import Store
from leaderboard.submission import SUBMISSION_FILE, LoadedSubmission, load_submission_yaml, submission_folders
from leaderboard.track import Judge, Track
from leaderboard.tracks import tracks


@dataclass(frozen=True)
class BuildConfig:
    submissions: Path = Path("submissions")
    store: Path = Path("build/leaderboard.duckdb")
    docs: Path = Path("site")
    site: Path = Path("build/site")
    mkdocs_config: Path = Path("mkdocs.yml")
    judge: str | None = None
    allow_test_judge: bool = False
    render: bool = True
    safety_judge: str | None = None
    role_cards: tuple[Path, ...] = ()
    """ESC-Eval card files (or the project's format) beside the shipped cards; dialogues must name a known card."""
    run_endpoints: bool = True
    """Play the dialogues of endpoint submissions first (resumable). Never for untrusted pull requests."""
    run_options: RunOptions = field(default_factory=RunOptions)
    wait: float = 1800.0
    """Seconds to wait for another build of the same store to finish before giving up."""

    def judge_for(self, track: str) -> str | None:
        """The judge asked for a track (None: its default)."""
        return {"esc": self.judge, "safety": self.safety_judge}.get(track)


@dataclass
class TrackReport:
    judge: str = ""
    items: int = 0
    """What the submissions brought: dialogues, responses."""
    units: int = 0
    """The scoring units of those items (a dialogue; a response, or a pair of responses for a rule): scored + cached."""
    scored: int = 0
    cached: int = 0
    """Scoring units judged now, and found in the cache."""
    extra_scored: int = 0
    extra_cached: int = 0
    """What the track judges beside the submissions' units (ESC: gaming-probe dialogues), judged now and cached."""


@dataclass
class BuildReport:
    submissions: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    tracks: dict[str, TrackReport] = field(default_factory=dict)
    data_version: str = ""
    site: str | None = None


def code_version() -> str:
    """Package version, plus the git commit when run from a checkout."""
    version = metadata.version("esc-guard-leaderboard")
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=5, check=True, cwd=Path(__file__).parent).stdout.strip()
        return f"{version}+{sha}"
    except (OSError, subprocess.SubprocessError):
        return version


def set_hash(lines: list[str]) -> str:
    """Hash of a set of `id<TAB>content hash` lines (Track.digests), whatever their order."""
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def submission_set_hash(sub: LoadedSubmission, every: list[Track]) -> str:
    """Hash of everything a submission brings to every track: its dialogues and its safety responses."""
    return set_hash([line for track in every for line in track.digests(sub)])


def judges(every: list[Track], subs: list[LoadedSubmission], cfg: BuildConfig) -> list[tuple[Track, Judge | None]]:
    """Every track with its judge: None when no submission brings it anything, or when its default judge is not
    installed (the track is skipped). The judges are checked against what the submissions need before anything
    is written."""
    chosen, problems = [], []
    for track in every:
        takers = [s for s in subs if track.takes(s)]
        judge = track.judge(cfg.judge_for(track.name), cfg.allow_test_judge) if takers else None
        if judge is not None:
            problems += track.judge_problems(judge, takers)
        chosen.append((track, judge))
    if problems:
        raise InputError(problems)
    return chosen


def store_track(track: Track, judge: Judge, subs: list[LoadedSubmission], store: Store, every: list[Track],
                report: TrackReport) -> list[str]:
    """Score what the cache lacks of one track, then write each submission's part in its own transaction.

    Returns the submissions that brought something to the track."""
    takers = [s for s in subs if track.takes(s)]
    for sub in subs:
        if track.name in sub.meta.tracks and sub not in takers:
            say(f"skipping {sub.id}: no {track.noun} for the {track.name} track yet "
                f"(generate them with `leaderboard {track.run_command} {sub.folder}`)")
    store.register_judge(track.name, judge)
    store.drop_track_except(track.name, [s.id for s in takers])
    scorer = SafetyScorer(judge)
    for sub in takers:
        units = track.units(sub)
        cached: set[str] = set()
        for by in {u.rules or judge.sha for u in units}:
            cached |= store.cached_hashes(by, [u.hash for u in units if (u.rules or judge.sha) == by])
        todo = list({u.hash: u for u in units if u.hash not in cached}.values())
        new = track.score(sub, todo, scorer) if todo else []
        coverage = track.coverage(sub)
        part = set_hash([*track.digests(sub), f"coverage\t{json.dumps(coverage, sort_keys=True)}"])
        if new or not store.is_current(sub, track.name, part):
            store.write_submission(sub, submission_set_hash(sub, every), track.name, part, units, track.content(sub), new,
                                   coverage)
        report.items += len(track.items(sub))
        report.units += len(units)
        report.scored += len(todo)
        report.cached += len(units) - len(todo)
    report.extra_scored, report.extra_cached = track.store_extras(takers, scorer, store)
    return [s.id for s in takers]


def handwritten_nav(docs: Path) -> list[dict[str, list[str]]]:
    """Sections for the hand-written folders of the docs (method, judges, about...), in that order."""
    order = ["method", "judges", "about"]
    folders = sorted((p for p in docs.iterdir() if p.is_dir() and any(p.glob("*.md"))),
                     key=lambda p: (order.index(p.name) if p.name in order else len(order), p.name))
    return [{f.name.title(): sorted(str(md.relative_to(docs)) for md in f.glob("*.md"))}
            for f in folders if f.name != "board"]


def mkdocs_build(config: Path, out: Path, rendered: Rendered) -> None:
    """Build into a fresh folder beside out, then swap it in: readers never see half a site."""
    from mkdocs.commands.build import build as run_mkdocs
    from mkdocs.config import load_config

    fresh = out.parent / f".{out.name}-new"
    old = out.parent / f".{out.name}-old"
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    hooks = str(Path(__file__).parent / "site" / "mkdocs_hooks.py")
    cfg = load_config(config_file=str(config), site_dir=str(fresh.resolve()), hooks=[hooks])
    cfg["extra"]["stamp"] = rendered.stamp
    cfg["nav"] = rendered.nav + handwritten_nav(Path(cfg["docs_dir"]))
    run_mkdocs(cfg)
    if out.exists():
        out.replace(old)
    fresh.replace(out)
    if old.exists():
        shutil.rmtree(old)


def play_endpoints(root: Path, options: RunOptions) -> None:
    """Endpoint submissions get what is missing of their dialogues played here, with the settings of their last
    run (roleplay-runs.jsonl) unless options name others: finished ones are kept, a finished folder needs no role-player.

    Only folders that pass the intake are touched; a folder whose runs fail stops the build with its reasons.
    """
    problems: list[Problem] = []
    for folder in submission_folders(root):
        try:
            meta = None if check_folder(folder) else load_submission_yaml(folder / SUBMISSION_FILE)
        except InputError:
            continue  # load_all reports it
        if meta is None or meta.kind != "endpoint" or "esc" not in meta.tracks:
            continue
        try:
            report = run_submission(folder, options, protocol_from_log=True)
        except BackendError as error:
            problems.append(Problem(folder, None, "endpoint", str(error)))
            continue
        problems += [Problem(folder, None, "endpoint", f"dialogue {d} failed: {why}") for d, why in sorted(report.failed.items())]
    if problems:
        raise InputError(problems)


def require_outputs(cfg: BuildConfig) -> None:
    """Inputs and output folders a build needs, checked before any work: one line each, not a traceback."""
    require_root(cfg.submissions)
    if cfg.render:
        problems = [Problem(path, None, None, what) for path, ok, what in [
            (cfg.mkdocs_config, cfg.mkdocs_config.is_file(), "no MkDocs config: run in a checkout, or pass --mkdocs-config"),
            (cfg.docs, cfg.docs.is_dir(), "no docs folder: run in a checkout, or pass --docs"),
        ] if not ok]
        if problems:
            raise InputError(problems)


@contextmanager
def store_lock(store: Path, wait: float) -> Iterator[None]:
    """One build per store at a time: a second one waits for the first (saying so), or stops after `wait` seconds."""
    store.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(store.with_name(f"{store.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"another build is using {store}; waiting up to {wait:.0f}s for it to finish (lock {lock.lock_file})")
        try:
            lock.acquire(timeout=wait)
        except Timeout:
            raise InputError([Problem(store, None, None, f"another build has been using this store for over {wait:.0f}s; "
                                      f"try again when it has finished (lock {lock.lock_file})")]) from None
    try:
        yield
    finally:
        lock.release()


def build(cfg: BuildConfig) -> BuildReport:
    """The whole build, one at a time per store."""
    require_outputs(cfg)
    with store_lock(cfg.store, cfg.wait):
        return _build(cfg)


def _build(cfg: BuildConfig) -> BuildReport:
    if cfg.run_endpoints:
        play_endpoints(cfg.submissions, cfg.run_options)
    every = tracks(cfg.role_cards)
    subs = load_all(cfg.submissions, every)
    found = judges(every, subs, cfg)
    chosen = [(t, j) for t, j in found if j is not None]
    report = BuildReport(tracks={t.name: TrackReport(judge=j.id) for t, j in chosen})
    run_id = uuid.uuid4().hex
    with Store(cfg.store) as store:
        for track in (t for t, _ in found if not any(t.takes(s) for s in subs)):
            store.drop_track_except(track.name, [])  # nobody brings it anything any more
        store.start_run(run_id, code_version(), {t.name: j.sha for t, j in chosen},
                        {t.name: t.protocol_hash() for t, _ in chosen})
        for track, judge in chosen:
            stored = store_track(track, judge, subs, store, every, report.tracks[track.name])
            report.submissions += [s for s in stored if s not in report.submissions]
        report.removed = store.remove_submissions_except([s.id for s in subs])
        totals = [sum(getattr(r, k) for r in report.tracks.values()) for k in ("units", "scored", "cached")]
        store.finish_run(run_id, len(report.submissions), *totals)
        versions = sorted(f"{s['submission_id']}:{s['transcript_set_hash']}" for s in store.submissions())
        report.data_version = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:12]
        if cfg.render:
            boards = [(t, t.board(store.unit_scores(t.name, j.sha), j.id, j.sha, store.coverage(t.name)))
                      for t, j in chosen if report.tracks[t.name].items]
            rendered = render_site(boards, store, cfg.docs, report.data_version)
            store.write_release(cfg.docs / "board" / "downloads" / "leaderboard.duckdb")  # the release's store
    if cfg.render:
        mkdocs_build(cfg.mkdocs_config, cfg.site, rendered)
        report.site = str(cfg.site)
    return report
