"""`judge agree`: agreement between two judges, checked against independent computations, through the real CLI."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from judge.agree import measure
from roleplay_support import REPO, openai_server
from test_endpoint_judge import write_dialogues


def qwk_by_definition(a: list[int], b: list[int], top: int) -> float:
    """Cohen's weighted kappa, quadratic weights, written out cell by cell."""
    k, n = top + 1, len(a)
    observed = [[sum(1 for x, y in zip(a, b) if (x, y) == (i, j)) for j in range(k)] for i in range(k)]
    ha, hb = [a.count(i) for i in range(k)], [b.count(j) for j in range(k)]
    num = sum((i - j) ** 2 * observed[i][j] for i in range(k) for j in range(k))
    den = sum((i - j) ** 2 * ha[i] * hb[j] / n for i in range(k) for j in range(k))
    return 1 - num / den


def run(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from judge.cli import main; main()", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO, env={**os.environ, "ESC_JUDGE_CACHE": str(cache)})


def test_measures_match_their_definitions() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, 5, 40).tolist()
    b = [min(4, max(0, x + int(d))) for x, d in zip(a, rng.integers(-2, 3, 40))]
    row = measure(("esc", "en", "empathy"), a, b)
    assert abs(row.spearman.value - spearmanr(a, b).statistic) < 1e-4
    assert abs(row.qwk.value - qwk_by_definition(a, b, 4)) < 1e-4
    assert row.exact.value == round(np.mean(np.equal(a, b)), 4)
    assert row.within_one.value == round(np.mean(np.abs(np.subtract(a, b)) <= 1), 4)
    for i in (row.spearman, row.qwk, row.exact, row.within_one):
        assert i.low <= i.value <= i.high and i.low < i.high
    same = measure(("esc", "en", "empathy"), a, a)
    assert (same.spearman.value, same.qwk.value, same.exact.value) == (1.0, 1.0, 1.0)
    assert measure(("esc", "en", "empathy"), a, b) == row  # seeded: the same table every time


def test_cli_agrees_two_score_files_and_two_judges_on_one_folder(tmp_path: Path) -> None:
    data = write_dialogues(tmp_path / "d.jsonl", 12)
    write_dialogues(data, 12, "zh")
    cache = tmp_path / "cache"
    with openai_server("--judge-replies", "--models", "a,b") as url:
        files = []
        for model in ("a", "b"):
            done = run("score", str(data), "--judge", f"openai:{model}@{url}", "--out", str(tmp_path / f"{model}.jsonl"),
                       cache=cache)
            assert done.returncode == 0, done.stderr
            files.append(tmp_path / f"{model}.jsonl")
        agreed = run("agree", *map(str, files), "--json", cache=cache)
        on_folder = run("agree", f"openai:a@{url}", f"openai:b@{url}", "--on", str(data), "--json", cache=cache)
    assert agreed.returncode == 0, agreed.stderr
    report = json.loads(agreed.stdout)
    rows = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    cells = {(r["lang"], r["dimension"]) for r in report["rows"]}
    assert cells == {(lang, d) for lang in ("en", "zh") for d in rows[0]["scores"]}
    for r in report["rows"]:
        pairs = [(x["scores"][r["dimension"]], y["scores"][r["dimension"]]) for x in rows[:24] for y in rows[24:]
                 if x["id"] == y["id"] and x["lang"] == r["lang"]]
        a, b = map(list, zip(*pairs))
        assert r["n"] == len(pairs) == 12
        assert abs(r["exact"]["value"] - np.mean(np.equal(a, b))) < 1e-4
        assert abs(r["qwk"]["value"] - qwk_by_definition(a, b, 4)) < 1e-4
    assert report["rows"][0]["lang"] == "en" and report["judge_a"].startswith("openai:a@")
    assert on_folder.returncode == 0, on_folder.stderr
    assert json.loads(on_folder.stdout)["rows"] == report["rows"]  # the same judgements, from the cache
    table = run("agree", *map(str, files), cache=cache)
    assert table.returncode == 0 and "Spearman" in table.stdout and "QWK" in table.stdout


def test_files_without_shared_items_exit_2(tmp_path: Path) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    row = {"id": "x", "file": "f.jsonl", "lang": "en", "track": "esc", "scores": {"empathy": 2}, "expected": {"empathy": 2.0},
           "judge": "j@1"}
    a.write_text(json.dumps(row) + "\n")
    b.write_text(json.dumps({**row, "id": "y"}) + "\n")
    done = run("agree", str(a), str(b), cache=tmp_path / "cache")
    assert done.returncode == 2 and "shares no labelled item" in done.stderr
