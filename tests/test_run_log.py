"""A submission's run log (roleplay-runs.jsonl) passes the one intake gate: `validate` and `check-pr` refuse a bad
line with its file, line and field (exit 2), where a missing key or a nesting bomb used to end in a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_support import run
from conftest import make_submission
from leaderboard.esc.roleplay import RUNS_FILE

START = {"run": "r1", "event": "start", "settings": {"cards": {"files": "embedded", "langs": ["en"], "sample": 2, "seed": 0}}}


@pytest.mark.parametrize(("lines", "where"), [
    ([{"run": "r1", "event": "start"}], ":1: settings: Field required"),
    (['{"run": "r1", "event": "start", "settings": {"cards": ' + "[" * 100_000 + "]" * 100_000 + "}}"], ":1: bad JSON: nested too deeply"),
    ([{**START, "settings": {"cards": {**START["settings"]["cards"], "sample": "two"}}}], ":1: settings.cards.sample: "),
    ([{**START, "settings": []}], ":1: settings: "),
    ([START, {"run": "r1", "event": "paused"}], ":2: event: "),
], ids=["no settings", "nesting bomb", "sample not a number", "settings not an object", "unknown event"])
def test_validate_and_check_pr_refuse_a_bad_run_log_line(tmp_path: Path, lines: list, where: str) -> None:
    folder = make_submission(tmp_path / "submissions", "acme__alpha", n=2)
    log = folder / RUNS_FILE
    log.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines), encoding="utf-8")
    for command in (["validate", str(folder)], ["check-pr", str(folder.relative_to(tmp_path))]):
        result = run("leaderboard", *command, cwd=tmp_path)
        assert result.returncode == 2, (command, result.stderr)
        assert f"{log.relative_to(tmp_path) if command[0] == 'check-pr' else log}{where}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr and "Error:" not in result.stderr
    report = json.loads(run("leaderboard", "validate", str(folder), "--json").stdout)
    assert report["ok"] is False and [(p["file"], p["line"]) for p in report["problems"]] == [(str(log), len(lines))]


def test_a_good_run_log_passes_the_gate(tmp_path: Path) -> None:
    folder = make_submission(tmp_path, "acme__alpha", n=2)
    with (folder / RUNS_FILE).open("a", encoding="utf-8") as fh:  # as logged_run ends a run
        fh.write(json.dumps({"run": "r1", "event": "end", "time": 1.0, "total": 2, "skipped": 0, "finished": 2,
                             "failed": {}, "seconds": 1.0}) + "\n")
    result = run("leaderboard", "validate", str(folder))
    assert result.returncode == 0, result.stderr
