"""Intake: what a submission folder may hold, checked with stat alone before any file is parsed.

A pull request is untrusted input. Nothing in it may point outside its folder (no symbolic links,
no '..'), nothing may be larger than the limits, and only the expected kinds of files may be there.
"""
from __future__ import annotations

import re
from pathlib import Path

from judge.errors import Problem
from judge.limits import MAX_SUBMISSION_BYTES, MAX_SUBMISSION_FILES, MAX_TRANSCRIPT_FILE_BYTES, MAX_YAML_BYTES

ALLOWED = [
    (re.compile(r"submission\.yaml"), MAX_YAML_BYTES),
    (re.compile(r"README\.md"), MAX_YAML_BYTES),
    (re.compile(r"roleplay-runs\.jsonl"), MAX_TRANSCRIPT_FILE_BYTES),
    (re.compile(r"(transcripts|responses)/[A-Za-z0-9][A-Za-z0-9._-]{0,63}\.jsonl"), MAX_TRANSCRIPT_FILE_BYTES),
]
"""Relative paths a submission may contain, each with its size limit."""


def check_folder(folder: Path) -> list[Problem]:
    """Every reason not to open this folder's files; an empty list means go ahead."""
    folder = Path(folder)
    if folder.is_symlink():
        return [Problem(folder, None, None, "the submission folder is a symbolic link")]
    problems: list[Problem] = []
    total, count = 0, 0
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink():
            problems.append(Problem(path, None, None, "symbolic links are not allowed in a submission"))
            continue
        if path.is_dir():
            if rel not in ("transcripts", "responses"):
                problems.append(Problem(path, None, None, "unexpected folder (only transcripts/ and responses/)"))
            continue
        count += 1
        limit = next((size for pattern, size in ALLOWED if pattern.fullmatch(rel)), None)
        if limit is None:
            problems.append(Problem(path, None, None, "unexpected file: a submission holds submission.yaml, "
                                    "transcripts/*.jsonl or responses/*.jsonl, roleplay-runs.jsonl, README.md"))
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
