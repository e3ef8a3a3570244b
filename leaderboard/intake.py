"""Intake: what a submission folder may hold, checked with stat alone before any file is parsed; then the gate
every command passes submissions through (intake, a scan for credentials, schema and run logs, each track's protocol).

A pull request is untrusted input. Nothing in it may point outside its folder (no symbolic links,
no '..'), nothing may be larger than the limits, and only the expected kinds of files may be there.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from judge.errors import InputError, Problem
from judge.limits import MAX_SUBMISSION_BYTES, MAX_SUBMISSION_FILES, MAX_TRANSCRIPT_FILE_BYTES, MAX_YAML_BYTES
from leaderboard import credentials
from leaderboard.runner.records import read_runs
from leaderboard.submission import LoadedSubmission, read_submission, submission_folders
from leaderboard.track import Track
from leaderboard.tracks import tracks


def allowed() -> list[tuple[re.Pattern[str], int]]:
    """Relative paths a submission may contain, each with its size limit: its YAML and README, and every
    track's folder of JSON Lines and run log."""
    folders = "|".join(re.escape(t.folder) for t in tracks())
    logs = "|".join(re.escape(t.runs_file) for t in tracks())
    return [
        (re.compile(r"submission\.yaml"), MAX_YAML_BYTES),
        (re.compile(r"README\.md"), MAX_YAML_BYTES),
        (re.compile(f"{logs}"), MAX_TRANSCRIPT_FILE_BYTES),
        (re.compile(rf"({folders})/[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}\.jsonl"), MAX_TRANSCRIPT_FILE_BYTES),
    ]


def check_folder(folder: Path) -> list[Problem]:
    """Every reason not to open this folder's files; an empty list means go ahead."""
    folder = Path(folder)
    if folder.is_symlink():
        return [Problem(folder, None, None, "the submission folder is a symbolic link")]
    rules, folders = allowed(), [t.folder for t in tracks()]
    problems: list[Problem] = []
    total, count = 0, 0
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            problems.append(Problem(path, None, None, "symbolic links are not allowed in a submission"))
            continue
        if path.is_dir():
            if rel not in folders:
                problems.append(Problem(path, None, None, f"unexpected folder (only {' and '.join(f + '/' for f in folders)})"))
            continue
        count += 1
        limit = next((size for pattern, size in rules if pattern.fullmatch(rel)), None)
        if limit is None:
            problems.append(Problem(path, None, None, "unexpected file: a submission holds submission.yaml, README.md, "
                                    + ", ".join(f"{t.folder}/*.jsonl, {t.runs_file}" for t in tracks())))
            continue
        size = path.stat().st_size
        total += size
        if size > limit:
            problems.append(Problem(path, None, None, f"file is {size:,} bytes; the limit is {limit:,}"))
    if count > MAX_SUBMISSION_FILES:
        problems.append(Problem(folder, None, None, f"{count} files; a submission may hold {MAX_SUBMISSION_FILES}"))
    if total > MAX_SUBMISSION_BYTES:
        problems.append(Problem(folder, None, None, f"{total:,} bytes in all; the limit is {MAX_SUBMISSION_BYTES:,}"))
    return problems


def require_root(root: Path) -> None:
    """A missing submissions folder is one clear line (most often: run outside a checkout), not a traceback."""
    if not Path(root).is_dir():
        raise InputError([Problem(Path(root), None, None, "no such submissions folder: run in a checkout of the "
                                  "leaderboard, or pass --submissions")])


def run_log_problems(folder: Path, tracks: Sequence[Track]) -> list[Problem]:
    """Every bad line of the folder's run logs (leaderboard.runner.records' models), all tracks' together."""
    problems: list[Problem] = []
    for track in tracks:
        try:
            read_runs(folder / track.runs_file)
        except InputError as err:
            problems += err.problems
    return problems


def load_all(root: Path, tracks: Sequence[Track]) -> list[LoadedSubmission]:
    """Every submission below root, checked: intake, schema, then every track's protocol; all problems together.

    The protocol checks run on every line that passed the schema, in the same pass, so one bad line does not hide the
    rest. Only a refusal by the intake or the credential scan stops a folder before its files are parsed.
    This is the one gate of `validate`, `build` and `check-pr`: what passes here is what gets judged."""
    require_root(root)
    loaded, problems = [], []
    for folder in submission_folders(root):
        refused = check_folder(folder) or credentials.scan(folder)
        if refused:
            problems += refused
            continue
        sub, wrong = read_submission(folder)
        logs = run_log_problems(folder, tracks)
        problems += wrong + logs
        if sub is None:
            continue
        if not logs:  # a track's protocol is read partly from its run log (ESC: the card set the run declared)
            for track in tracks:
                problems += track.check(sub)
        loaded.append(sub)
    if problems:
        raise InputError(problems)
    return loaded
