"""Both tracks pass the same gates: validate, check-pr, downloads, model pages, run records, settings logs, site data."""
from __future__ import annotations

import json
import random
import re
from pathlib import Path

import duckdb
import pytest

from cli_support import run
from conftest import ROOT, dialogue, make_submission
from judge.errors import InputError
from leaderboard.runner.model import ModelOptions
from leaderboard.pipeline import BuildConfig, build
from leaderboard.safety.run import RUNS_FILE, run_safety
from leaderboard.stats import compare_settings
from roleplay_support import openai_server, write_cards
from test_safety_build import build_tiny_safety_bundle, write_safety_submission
from test_safety_run import endpoint_submission


@pytest.fixture(scope="module")
def safety_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_safety_bundle(tmp_path_factory.mktemp("safety-judge") / "tiny-safety")


def test_validate_checks_safety_responses_against_the_prompt_set(tmp_path: Path) -> None:
    folder = write_safety_submission(tmp_path, langs=("en",), dims=("privacy",))
    path = folder / "responses/en.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    lines[1]["id"] = "privacy-9999"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    result = run("leaderboard", "validate", str(folder))
    assert result.returncode == 2, result.stdout
    assert "en.jsonl:2: id: 'privacy-9999' is not an item of the prompt set" in result.stderr


def test_check_pr_judges_a_safety_submission_with_the_safety_judge(tmp_path: Path, tiny_bundle: Path,
                                                                   safety_bundle: Path) -> None:
    folder = write_safety_submission(tmp_path / "submissions", "acme__vision", langs=("en",))
    summary = tmp_path / "summary.md"
    result = run("leaderboard", "check-pr", str(folder), "--judge", str(tiny_bundle), "--safety-judge", str(safety_bundle),
                 "--allow-test-judge", "--summary", str(summary))
    assert result.returncode == 0, result.stderr
    text = summary.read_text()
    assert "### safety track" in text and "Judge `tiny-safety-test@" in text and "### esc track" not in text
    assert "| English · ASD ↓ |" in text and "| English · PAR ↑ |" in text and "privacy" in text


def test_downloads_pages_and_runs_name_each_tracks_judge(project: Path, tiny_bundle: Path, safety_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__talker", n=3)
    write_safety_submission(project / "submissions", "acme__vision", langs=("en",))
    report = build(BuildConfig(project / "submissions", project / "build/lb.duckdb", project / "site",
                               project / "build/site", project / "mkdocs.yml", str(tiny_bundle), True,
                               safety_judge=str(safety_bundle)))
    esc, safety = report.tracks["esc"].judge, report.tracks["safety"].judge
    downloads = project / "build/site/board/downloads"
    board = json.loads((downloads / "leaderboard.json").read_text())
    assert board["judges"] == {"esc": esc, "safety": safety}
    assert {(r["track"], r["judge"]) for r in board["rows"]} == {("esc", esc), ("safety", safety)}
    csv_head, *csv_rows = (downloads / "leaderboard.csv").read_text().splitlines()
    assert "track" in csv_head and any(",safety," in r and safety in r for r in csv_rows)
    assert json.loads((downloads / "safety.json").read_text())["judges"] == {"safety": safety}
    page = (project / "build/site/board/models/acme__vision.html").read_text()
    article = re.sub(r'<p class="lb-stamp">.*?</p>', "", page[page.index("<article"):page.index("</article>")], flags=re.S)
    text = re.sub(r"<[^>]+>", " ", article)  # the page itself, without the nav and the build's stamp (every judge)
    assert "transcript" not in text.lower() and "dialogue" not in text.lower() and esc not in text
    assert safety in text and "responses" in text
    with duckdb.connect(str(project / "build/lb.duckdb"), read_only=True) as db:
        judges = json.loads(db.execute("SELECT judges FROM runs").fetchone()[0])
        shas = dict(db.execute("SELECT judge_id, judge_sha FROM judges").fetchall())
    assert judges == {"esc": shas[esc], "safety": shas[safety]}


def test_safety_run_logs_its_settings_and_refuses_to_mix(tmp_path: Path) -> None:
    with openai_server() as url:
        folder = endpoint_submission(tmp_path / "tests__scripted", url)
        run_safety(folder, ModelOptions(concurrency=4), ["privacy"])
        starts = [json.loads(line) for line in (folder / RUNS_FILE).read_text().splitlines()]
        assert starts[0]["event"] == "start" and starts[0]["settings"]["protocol"]["seed"] == 0
        assert starts[0]["settings"]["model"]["model"] == "scripted"
        with pytest.raises(InputError, match="other models, prompts or seed"):
            run_safety(folder, ModelOptions(concurrency=4, seed=1), ["privacy"])
        again = run_safety(folder, ModelOptions(concurrency=4, seed=1, restart=True), ["privacy"])
        assert again.finished == 10 and list(folder.glob("responses/en.jsonl.*.bak"))


def test_pages_use_the_role_cards_given_to_the_build(project: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    cards = write_cards(tmp_path / "cards.jsonl", 2)
    folder = make_submission(project / "submissions", "acme__talker", n=1)
    record = dialogue(0, "en", random.Random(99))
    record.update(id="en-c001", card_id="c001")
    with (folder / "transcripts/en.jsonl").open("a") as fh:
        fh.write(json.dumps(record) + "\n")
    build(BuildConfig(project / "submissions", project / "build/lb.duckdb", project / "site", project / "build/site",
                      project / "mkdocs.yml", str(tiny_bundle), True, role_cards=(cards,)))
    rows = json.loads((project / "build/site/board/downloads/acme__talker-en-dialogues.json").read_text())["rows"]
    assert {r["card_id"]: r["topic"] for r in rows}["c001"] == "work_study"  # the extra card's topic, not "unknown"


def test_compare_script_reads_its_settings_from_the_build(project: Path, tiny_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__talker", n=3)
    build(BuildConfig(project / "submissions", project / "build/lb.duckdb", project / "site", project / "build/site",
                      project / "mkdocs.yml", str(tiny_bundle), True))
    text = (project / "build/site/board/downloads/dialogue-scores.js").read_text()
    data = json.loads(text.removeprefix("window.LB_DIALOGUES = ").rstrip().rstrip(";"))
    assert data["stats"] == compare_settings() and data["scale"] == 25
    script = (ROOT / "site/assets/compare.js").read_text()
    for constant in ("2000", "20240620", "25 *", "0.975"):
        assert constant not in script, constant
