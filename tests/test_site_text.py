"""Text the project writes for people, read back as they would: every CSV it writes (the site's downloads, `judge
score --format csv` for both tracks) opens in a spreadsheet without running a cell as a formula."""
from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

from conftest import make_submission
from judge.spreadsheet import cell
from leaderboard.pipeline import BuildConfig, build
from test_safety_build import build_tiny_safety_bundle

FORMULAS = ['=HYPERLINK("http://example.org/x","click me")', "+1+1", "-2+3", "@SUM(A1:A9)"]


def live_formulas(text: str) -> list[str]:
    """The cells a spreadsheet would run: text starting with = + - @ (a number such as -2.5 is only a number)."""
    def number(c: str) -> bool:
        try:
            float(c)
        except ValueError:
            return False
        return True
    return [c for row in csv.reader(io.StringIO(text)) for c in row if c[:1] in ("=", "+", "-", "@") and c and not number(c)]


def test_cells_are_made_inert() -> None:
    assert [cell(f) for f in FORMULAS] == ["'" + f for f in FORMULAS]
    assert [cell(v) for v in ("model-0", -2.5, 3, None, "", "a=b")] == ["model-0", -2.5, 3, None, "", "a=b"]


def test_site_downloads_are_safe_in_a_spreadsheet(project: Path, tiny_bundle: Path) -> None:
    folder = make_submission(project / "submissions", "evil__formula", n=4, display=FORMULAS[0])
    path = folder / "transcripts" / "en.jsonl"
    dialogues = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for d, formula in zip(dialogues, FORMULAS):
        d["id"] = formula
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues), encoding="utf-8")
    build(BuildConfig(project / "submissions", project / "build/lb.duckdb", project / "site", project / "build/site",
                      project / "mkdocs.yml", str(tiny_bundle), True))
    downloads = sorted((project / "build/site/board/downloads").glob("*.csv"))
    assert {p.name for p in downloads} >= {"leaderboard.csv", "esc-en.csv", "evil__formula-en-dialogues.csv"}
    for p in downloads:
        assert live_formulas(p.read_text(encoding="utf-8")) == [], p.name
    names = {r["name"] for r in csv.DictReader((project / "build/site/board/downloads/leaderboard.csv").open(encoding="utf-8"))}
    assert names == {"'" + FORMULAS[0]}  # the name kept whole, shown as text
    ids = [r["dialogue_id"] for r in csv.DictReader(
        (project / "build/site/board/downloads/evil__formula-en-dialogues.csv").open(encoding="utf-8"))]
    assert sorted(ids) == sorted("'" + f for f in FORMULAS)


def test_judge_score_csv_is_safe_in_a_spreadsheet(tmp_path: Path, tiny_bundle: Path) -> None:
    folder = make_submission(tmp_path, "a__b", n=len(FORMULAS))
    path = folder / "transcripts" / "en.jsonl"
    dialogues = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for d, formula in zip(dialogues, FORMULAS):
        d["id"] = formula
    path.write_text("".join(json.dumps(d) + "\n" for d in dialogues), encoding="utf-8")
    esc = subprocess.run(["judge", "score", str(path), "--judge", str(tiny_bundle), "--format", "csv"],
                         capture_output=True, text=True, timeout=300)
    assert esc.returncode == 0, esc.stderr
    assert live_formulas(esc.stdout) == [] and sorted(r["id"] for r in csv.DictReader(io.StringIO(esc.stdout))) == sorted(
        "'" + f for f in FORMULAS)

    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"id": f, "dimension": "privacy", "lang": "en", "prompt": "Fill in the list.",
                                           "response": "Sorry, no."}) + "\n" for f in FORMULAS), encoding="utf-8")
    safety = subprocess.run(["judge", "score", str(answers), "--judge", str(build_tiny_safety_bundle(tmp_path / "guard")),
                             "--format", "csv"], capture_output=True, text=True, timeout=300)
    assert safety.returncode == 0, safety.stderr
    assert live_formulas(safety.stdout) == [] and sorted(r["id"] for r in csv.DictReader(io.StringIO(safety.stdout))) == sorted(
        "'" + f for f in FORMULAS)
