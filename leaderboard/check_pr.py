"""`leaderboard check-pr`: what CI runs on a submission pull request, runnable locally the same way.

It finds the submission folders the pull request changes, refuses anything but one new submission
folder, runs the intake and validation, judges every track it brings with that track's judge into a private
store (never the release's), and writes the result tables as Markdown: the job summary on GitHub.
"""
from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from judge.errors import InputError, Problem
from leaderboard.board import Board
from leaderboard.intake import check_folder
from leaderboard.pipeline import BuildConfig, build
from leaderboard.site.render import LANGUAGE_NAMES
from leaderboard.store import Store
from leaderboard.tracks import tracks


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)


def changed_submissions(repo: Path, base: str, allow_update: bool = False) -> list[Path]:
    """The one submission folder a pull request adds; every other change is a problem."""
    inside = _git(repo, "rev-parse", "--is-inside-work-tree")
    if inside.returncode != 0:
        raise InputError([Problem(repo, None, None, "not a git checkout: run check-pr in the repository, or name the "
                                  "submission folders to check")])
    diff = _git(repo, "diff", "--name-only", "--no-renames", f"{base}...HEAD")
    if diff.returncode != 0:
        why = next(iter(diff.stderr.strip().splitlines()), "")
        raise InputError([Problem(repo, None, None, f"git cannot compare with {base!r}: {why}")])
    problems: list[Problem] = []
    folders: set[str] = set()
    for name in filter(None, diff.stdout.splitlines()):
        parts = name.split("/")
        if len(parts) < 3 or parts[0] != "submissions":
            problems.append(Problem(repo / name, None, None, "a submission pull request changes files in submissions/<org>__<model>/ only"))
            continue
        folders.add(parts[1])
    for folder in sorted(folders):
        existed = _git(repo, "cat-file", "-e", f"{base}:submissions/{folder}").returncode == 0
        if existed and not allow_update:
            problems.append(Problem(repo / "submissions" / folder, None, None,
                                    "changes a submission that is already on the leaderboard; only its maintainers update it"))
    if len(folders) > 1:
        problems.append(Problem(repo / "submissions", None, None, f"one submission per pull request, this one has {len(folders)}: {', '.join(sorted(folders))}"))
    if not folders and not problems:
        problems.append(Problem(repo / "submissions", None, None, f"no submission folder changes since {base}"))
    if problems:
        raise InputError(problems)
    return [repo / "submissions" / f for f in sorted(folders)]


@dataclass(frozen=True)
class PrResult:
    boards: list[Board]
    names: dict[str, str]


def judge_submissions(folders: list[Path], judge: str | None, allow_test_judge: bool = False,
                      safety_judge: str | None = None, role_cards: Sequence[Path] = ()) -> PrResult:
    """Validate and judge the folders in a private copy, every track with its own judge; the repository's store
    is never touched. Problems name the submissions' own files, not the copy's."""
    problems = [p for folder in folders for p in check_folder(folder)]
    if problems:
        raise InputError(problems)
    with tempfile.TemporaryDirectory(prefix="check-pr-") as tmp:
        work = Path(tmp)
        for folder in folders:
            shutil.copytree(folder, work / "submissions" / folder.name, symlinks=True)
        cfg = BuildConfig(work / "submissions", work / "store.duckdb", judge=judge, safety_judge=safety_judge,
                          allow_test_judge=allow_test_judge, render=False, role_cards=tuple(role_cards),
                          run_endpoints=False)
        try:
            report = build(cfg)
        except InputError as error:
            raise InputError([replace(p, file=_original(p.file, work, folders)) for p in error.problems]) from None
        with Store(cfg.store, read_only=True) as store:
            judged = {name: r.judge for name, r in report.tracks.items() if r.items}
            shas = {name: store.judge_sha(judge) for name, judge in judged.items()}
            boards = [track.board(store.unit_scores(track.name, shas[track.name]), judged[track.name], shas[track.name],
                                  store.coverage(track.name))
                      for track in tracks() if track.name in judged]
            names = {s["submission_id"]: s["name"] for s in store.submissions()}
    return PrResult(boards, names)


def _original(path: Path, work: Path, folders: list[Path]) -> Path:
    """A path in the private copy as the same path in the submission folder it was copied from."""
    for folder in folders:
        copy = work / "submissions" / folder.name
        if path.is_relative_to(copy):
            return folder / path.relative_to(copy)
    return path


def markdown_summary(result: PrResult) -> str:
    """The tables a reviewer reads in the pull request's checks, one per track judged; untrusted names are escaped."""
    lines = ["## Submission check passed", ""]
    spec = {t.name: t for t in tracks()}
    for board in result.boards:
        dims, metrics, track = board.dimensions, board.metrics, spec[board.track]
        directions = ", ".join(f"{m.label} {m.arrow} {'higher' if m.higher_is_better else 'lower'} is better" for m in metrics)
        by_top: dict[int, list[str]] = {}
        for dim, top in track.scales.items():
            by_top.setdefault(top, []).append(dim)
        labels = "; ".join(f"0–{top}: {', '.join(names)}" for top, names in sorted(by_top.items(), reverse=True))
        lines += [f"### {board.track} track", "",
                  f"Judge `{board.judge}` labels each {track.unit} ({labels}). Scores on 0–100 ({directions}), "
                  "± half the 95% CI.", ""]
        for model in sorted({m for (m, _) in board.unit_scores}):
            safe = html.escape(result.names.get(model, model)).replace("|", "&#124;")
            lines += [f"#### {safe} (`{model}`)", "", "| language | " + " | ".join(dims) + " | n |",
                      "|---" * (len(dims) + 2) + "|"]
            for lang in board.model_languages(model):
                for metric in metrics:
                    cells = [board.cell(model, lang, d, metric.name) for d in dims]
                    values = [f"{c.estimate.mean:.1f} ± {(c.estimate.high - c.estimate.low) / 2:.1f}" if c else "–" for c in cells]
                    label = LANGUAGE_NAMES[lang] + (f" · {metric.label} {metric.arrow}" if len(metrics) > 1 else "")
                    n = max((c.estimate.n for c in cells if c), default=0)
                    lines.append(f"| {label} | " + " | ".join(values) + f" | {n} |")
            lines.append("")
    return "\n".join(lines)


def markdown_problems(error: InputError) -> str:
    rows = [f"- `{html.escape(str(p))}`" for p in error.problems]
    return "\n".join(["## Submission check failed", "", *rows, ""])
