"""`leaderboard check-pr`: what CI runs on a submission pull request, runnable locally the same way.

It finds the submission folders the pull request changes, refuses anything but one new submission
folder, runs the intake and validation, judges the transcripts into a private store (never the
release's), and writes the result table as Markdown: the job summary on GitHub.
"""
from __future__ import annotations

import html
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from judge.errors import InputError, Problem
from leaderboard.board import AVERAGE, EscBoard, esc_board
from leaderboard.pipeline import BuildConfig, build
from leaderboard.intake import check_folder
from leaderboard.site.render import LANGUAGE_NAMES
from leaderboard.store import Store


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)


def changed_submissions(repo: Path, base: str, allow_update: bool = False) -> list[Path]:
    """The one submission folder a pull request adds; every other change is a problem."""
    diff = _git(repo, "diff", "--name-only", "--no-renames", f"{base}...HEAD")
    if diff.returncode != 0:
        raise InputError([Problem(repo, None, None, f"git cannot compare with {base!r}: {diff.stderr.strip()}")])
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
    board: EscBoard
    names: dict[str, str]
    judge: str


def judge_submissions(folders: list[Path], judge: str | None, allow_test_judge: bool = False) -> PrResult:
    """Validate and judge the folders in a private copy; the repository's store is never touched."""
    problems = [p for folder in folders for p in check_folder(folder)]
    if problems:
        raise InputError(problems)
    with tempfile.TemporaryDirectory(prefix="check-pr-") as tmp:
        work = Path(tmp)
        for folder in folders:
            shutil.copytree(folder, work / "submissions" / folder.name, symlinks=True)
        cfg = BuildConfig(work / "submissions", work / "store.duckdb", judge=judge,
                          allow_test_judge=allow_test_judge, render=False, run_endpoints=False)
        report = build(cfg)
        with Store(cfg.store, read_only=True) as store:
            board = esc_board(store.esc_scores(store.judge_sha(report.judge)), report.judge)
            names = {s["submission_id"]: s["name"] for s in store.submissions()}
    return PrResult(board, names, report.judge)


def markdown_summary(result: PrResult) -> str:
    """The table a reviewer reads in the pull request's checks; untrusted names are escaped."""
    dims = result.board.dimensions
    lines = ["## Submission check passed", "", f"Judge `{result.judge}`. Scores on 0–100 (higher is better), ± half the 95% CI.", ""]
    for model, name in result.names.items():
        safe = html.escape(name).replace("|", "&#124;")
        lines += [f"### {safe} (`{model}`)", "", "| language | " + " | ".join(dims) + " | n |",
                  "|---" * (len(dims) + 2) + "|"]
        for lang in result.board.languages:
            cells = [result.board.cells.get((model, lang, d)) for d in dims]
            if cells[0] is None:
                continue
            values = [f"{c.estimate.mean:.1f} ± {(c.estimate.high - c.estimate.low) / 2:.1f}" if c else "–" for c in cells]
            n = result.board.cells[(model, lang, AVERAGE)].estimate.n
            lines.append(f"| {LANGUAGE_NAMES[lang]} | " + " | ".join(values) + f" | {n} |")
        lines.append("")
    return "\n".join(lines)


def markdown_problems(error: InputError) -> str:
    rows = [f"- `{html.escape(str(p))}`" for p in error.problems]
    return "\n".join(["## Submission check failed", "", *rows, ""])
