"""The two commands as a user runs them: real processes, exit codes, messages, output formats."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from cli_support import run
from conftest import ROOT, make_submission, shared_or_skip
from judge.cli import cli as judge_cli
from judge.dimensions import ESC_DIMENSIONS
from leaderboard.cli import cli as leaderboard_cli
from leaderboard.submission import json_schema


def commands(command: click.Command, path: list[str]) -> list[list[str]]:
    """The command at path and every command below it, read from the click groups, so a new one is tested too."""
    below = sorted(command.commands.items()) if isinstance(command, click.Group) else []
    return [path, *(c for name, sub in below for c in commands(sub, [*path, name]))]


COMMANDS = commands(judge_cli, ["judge"]) + commands(leaderboard_cli, ["leaderboard"])


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {' '.join(command)} "), result.stdout


def test_judge_score_jsonl_output(tmp_path: Path, tiny_bundle: Path) -> None:
    folder = make_submission(tmp_path, "a__b", n=3, langs=("en", "zh"))
    result = run("judge", "score", str(folder / "transcripts"), "--judge", str(tiny_bundle))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 6
    for r in records:
        assert set(r) == {"id", "file", "lang", "card_id", "key", "track", "scores", "expected", "judge"} and r["track"] == "esc"
        assert r["file"] == f"{r['lang']}.jsonl" and r["id"] == f"{r['lang']}-{r['card_id']}"
        assert list(r["scores"]) == list(ESC_DIMENSIONS) and all(s in range(5) for s in r["scores"].values())
        assert r["judge"].startswith("tiny-test@") and len(r["judge"].split("@")[1]) == 12


def test_judge_score_reads_esc_eval_format_to_csv_and_table(tmp_path: Path, tiny_bundle: Path) -> None:
    path = shared_or_skip("data", "esc-eval", "example_transcripts", "Qwen_7B_zh.json")
    out = tmp_path / "scores.csv"
    assert run("judge", "score", str(path), "--judge", str(tiny_bundle), "--format", "csv", "--out", str(out)).returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["id"] for r in rows] == ["0", "1", "2"] and "empathy_expected" in rows[0]
    table = run("judge", "score", str(path), "--judge", str(tiny_bundle), "--format", "table")
    assert table.returncode == 0 and "overall" in table.stdout


def test_judge_score_bad_input_exits_nonzero_with_location(tmp_path: Path, tiny_bundle: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "lang": "de", "messages": []}\n')
    result = run("judge", "score", str(bad), "--judge", str(tiny_bundle), "--out", str(tmp_path / "o.jsonl"))
    assert result.returncode == 2
    assert "bad.jsonl:1: lang:" in result.stderr and "bad.jsonl:1: messages:" in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "o.jsonl").exists()
    missing = run("judge", "score", str(tmp_path / "nope.jsonl"), "--judge", str(tiny_bundle))
    assert missing.returncode == 2 and "no such file" in missing.stderr


@pytest.mark.parametrize(("change", "line", "field"), [
    ({"name": None}, 1, "name"),
    ({"model_link": "not a url"}, 3, "model_link"),
    ({"languages": ["en", "fr"]}, 7, "languages.1"),
    ({"api_key": "sk-secret"}, 12, "api_key"),
    ({"kind": "endpoint"}, 1, "(file)"),
])
def test_validate_names_yaml_line_and_field(tmp_path: Path, change: dict, line: int, field: str) -> None:
    folder = make_submission(tmp_path, "org__model", n=2)
    meta = {"name": "M", "organisation": "org", "model_link": "https://example.org", "license": "mit",
            "languages": ["en"], "tracks": ["esc"], "parameters": 1000, "kind": "transcripts", "notes": "n"}
    meta.update(change)
    (folder / "submission.yaml").write_text(yaml.safe_dump(meta, sort_keys=False))
    result = run("leaderboard", "validate", str(folder))
    assert result.returncode == 2, result.stdout
    assert f"submission.yaml:{line}: {field}:" in result.stderr, result.stderr
    report = json.loads(run("leaderboard", "validate", str(folder), "--json").stdout)
    assert report["ok"] is False and report["problems"][0]["line"] == line


def test_validate_refuses_yaml_tags_and_bad_folder_names(tmp_path: Path) -> None:
    folder = make_submission(tmp_path, "org__model", n=2)
    (folder / "submission.yaml").write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    result = run("leaderboard", "validate", str(folder))
    assert result.returncode == 2 and "bad YAML" in result.stderr and "pwned" not in result.stdout
    renamed = folder.rename(tmp_path / "no-separator")
    assert "folder name must be <org>__<model>" in run("leaderboard", "validate", str(renamed)).stderr


def test_validate_accepts_the_repo_submissions() -> None:
    result = run("leaderboard", "validate", str(ROOT / "submissions"), "--json")
    assert result.returncode == 0, result.stderr
    submissions = json.loads(result.stdout)["submissions"]
    assert len(submissions) >= 3 and all(s["dialogues"] + s["responses"] > 0 for s in submissions)


def test_published_schema_is_current() -> None:
    published = json.loads((ROOT / "leaderboard/schema/submission.schema.json").read_text())
    assert published == json_schema(), "run: leaderboard schema > leaderboard/schema/submission.schema.json"


def test_runtime_path_needs_no_torch(tmp_path: Path, tiny_bundle: Path) -> None:
    folder = make_submission(tmp_path, "a__b", n=2)
    code = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'transformers'): raise ImportError(name + ' is blocked')\n"
            "sys.meta_path.insert(0, NoTorch())\n"
            "from judge.cli import main; import leaderboard.pipeline, leaderboard.site.render\n"
            f"sys.argv = ['judge', 'score', {str(folder)!r}, '--judge', {str(tiny_bundle)!r}]; main()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_judge_info_shows_measured_agreement() -> None:
    result = run("judge", "info", "esc-lite")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((ROOT / "judge" / "bundles" / "esc-lite" / "manifest.json").read_text(encoding="utf-8"))
    held_out = manifest["metrics"]["held_out"]
    row = next(line for line in result.stdout.splitlines() if "overall_auc_failed_vs_successful" in line)
    assert f"{held_out['int8']['overall_auc_failed_vs_successful']:.3f}" in row
    assert f"{held_out['fp32']['overall_auc_failed_vs_successful']:.3f}" in row
