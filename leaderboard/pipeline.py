"""`leaderboard build`: validate -> score -> store -> render -> mkdocs, in that order and one way.

Everything is validated before anything is written; only dialogues the judge has not scored before
are scored; each submission is stored in one transaction; the site is built aside and swapped in.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from judge.bundle import JudgeBundle, bundle_for_track
from judge.console import err, progress
from judge.errors import InputError, Problem
from judge.esc import DialogueScore, score_transcripts
from judge.prompt_runtime import PromptJudge, open_judge
from judge.runtime import OnnxJudge
from judge.transcript import Transcript
from leaderboard.board import esc_board
from leaderboard.intake import check_folder
from leaderboard.esc.protocol import check_dialogues
from leaderboard.esc.probes import PROBES, probe_dialogues, seed_dialogues
from leaderboard.esc.rolecards import RoleCard, card_set, card_set_hash
from leaderboard.site.render import Rendered, render_site
from leaderboard.safety.units import prepare_safety, response_digest, store_safety
from leaderboard.safety.metrics import safety_board
from leaderboard.store import Store
from leaderboard.runner.backends import BackendError
from leaderboard.esc.run import RunOptions, run_submission
from leaderboard.submission import SUBMISSION_FILE, LoadedSubmission, load_submission, load_submission_yaml, submission_folders


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


@dataclass
class BuildReport:
    submissions: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    dialogues: int = 0
    scored: int = 0
    cached: int = 0
    judge: str = ""
    responses: int = 0
    safety_scored: int = 0
    safety_cached: int = 0
    safety_judge: str = ""
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


def load_all(root: Path, cards: Mapping[tuple[str, str], RoleCard] | None = None) -> list[LoadedSubmission]:
    """Every submission below root, checked: intake, schema, then protocol; all problems together."""
    if not Path(root).is_dir():
        raise InputError([Problem(Path(root), None, None, "no such submissions folder")])
    cards = card_set() if cards is None else cards
    loaded, problems = [], []
    for folder in submission_folders(root):
        refused = check_folder(folder)
        if refused:
            problems += refused
            continue
        try:
            sub = load_submission(folder)
        except InputError as error:
            problems += error.problems
            continue
        problems += check_dialogues(sub.transcripts, cards)
        loaded.append(sub)
    if problems:
        raise InputError(problems)
    return loaded


def transcript_set_hash(sub: LoadedSubmission) -> str:
    """Hash of everything a submission brings: its dialogues and its safety responses."""
    body = "\n".join(sorted([f"{t.id}\t{t.content_hash}" for t in sub.transcripts]
                            + [f"{r.record.id}\t{response_digest(r)}" for r in sub.responses]))
    return hashlib.sha256(body.encode()).hexdigest()


class CachedScorer:
    """Scores only what the store lacks for this judge; the ONNX model loads on first need."""

    def __init__(self, bundle: JudgeBundle, store: Store):
        self.bundle, self.store = bundle, store
        self.judge: OnnxJudge | PromptJudge | None = None
        store.register_judge(bundle)

    def new_scores(self, transcripts: list[Transcript], label: str) -> dict[str, DialogueScore]:
        cached = self.store.cached_hashes(self.bundle.sha, (t.content_hash for t in transcripts))
        todo = list({t.content_hash: t for t in transcripts if t.content_hash not in cached}.values())
        if not todo:
            return {}
        self.judge = self.judge or open_judge(self.bundle)
        with progress(f"judging {label}", len(todo)) as advance:
            return {t.content_hash: s for t, s in zip(todo, score_transcripts(self.judge, todo, advance))}


def store_submissions(subs: list[LoadedSubmission], scorer: CachedScorer, report: BuildReport) -> None:
    """Score what the cache lacks, then write each submission in its own transaction."""
    for sub in subs:
        if "esc" not in sub.meta.tracks:
            continue
        if not sub.transcripts:
            err.print(f"skipping {sub.id}: no ESC transcripts yet (generate them with `leaderboard run {sub.folder}`)")
            continue
        new = scorer.new_scores(sub.transcripts, sub.id)
        set_hash = transcript_set_hash(sub)
        if new or not scorer.store.is_current(sub, set_hash):
            scorer.store.write_submission(sub, set_hash, scorer.bundle.sha, new)
        report.submissions.append(sub.id)
        report.dialogues += len(sub.transcripts)
        report.scored += len(new)
        report.cached += len(sub.transcripts) - len(new)


def store_probes(subs: list[LoadedSubmission], scorer: CachedScorer) -> None:
    """Judge the gaming probes on the submissions' role cards, in one transaction."""
    seeds = seed_dialogues(subs)
    dialogues = {name: probe_dialogues(name, seeds) for name in PROBES}
    new: dict[str, DialogueScore] = {}
    for name, transcripts in dialogues.items():
        new |= scorer.new_scores(transcripts, f"probe {name}")
    scorer.store.write_probes({name: [(t.id, t.lang, t.content_hash) for t in ts] for name, ts in dialogues.items()},
                              scorer.bundle.sha, new)


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
    """Endpoint submissions get their dialogues played here, as `leaderboard run` would: finished ones are kept.

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
            report = run_submission(folder, options)
        except BackendError as error:
            problems.append(Problem(folder, None, "endpoint", str(error)))
            continue
        problems += [Problem(folder, None, "endpoint", f"dialogue {d} failed: {why}") for d, why in sorted(report.failed.items())]
    if problems:
        raise InputError(problems)


def build(cfg: BuildConfig) -> BuildReport:
    if cfg.run_endpoints:
        play_endpoints(cfg.submissions, cfg.run_options)
    cards = card_set(cfg.role_cards)
    subs = load_all(cfg.submissions, cards)
    bundle = bundle_for_track(cfg.judge, "esc", cfg.allow_test_judge)
    safety = prepare_safety(subs, cfg.safety_judge, cfg.allow_test_judge)
    report = BuildReport(judge=bundle.id, safety_judge=safety.judge.id if safety else "")
    run_id = uuid.uuid4().hex
    with Store(cfg.store) as store:
        store.start_run(run_id, bundle.sha, code_version(), card_set_hash(cards))
        scorer = CachedScorer(bundle, store)
        store_submissions(subs, scorer, report)
        store_probes(subs, scorer)
        if safety:
            report.responses, report.safety_scored, report.safety_cached = store_safety(
                subs, safety, store, {s.id: transcript_set_hash(s) for s in subs})
            report.submissions += [s for s in safety.units if s not in report.submissions]
        report.removed = store.remove_submissions_except([s.id for s in subs])
        store.finish_run(run_id, len(report.submissions), report.dialogues, report.scored, report.cached)
        versions = sorted(f"{s['submission_id']}:{s['transcript_set_hash']}" for s in store.submissions())
        report.data_version = hashlib.sha256("\n".join(versions).encode()).hexdigest()[:12]
        if cfg.render:
            board = esc_board(store.esc_scores(bundle.sha), bundle.id)
            guard = (safety_board(store.safety_scores(safety.judge.sha), safety.judge.id, safety.judge.sha)
                     if safety else None)
            probes = esc_board(store.probe_scores(bundle.sha), bundle.id)
            rendered = render_site(board, store, cfg.docs, report.data_version, guard, probes)
    if cfg.render:
        shutil.copyfile(cfg.store, cfg.docs / "board" / "downloads" / "leaderboard.duckdb")  # the release's store
        mkdocs_build(cfg.mkdocs_config, cfg.site, rendered)
        report.site = str(cfg.site)
    return report
