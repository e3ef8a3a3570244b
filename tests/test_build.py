"""`leaderboard build` end to end: validate -> score -> DuckDB -> render -> mkdocs, cached and atomic."""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import duckdb
import pytest

from conftest import make_submission
from leaderboard.pipeline import BuildConfig, build
from judge.errors import InputError


def config(project: Path, bundle: Path, **kw) -> BuildConfig:
    return BuildConfig(submissions=project / "submissions", store=project / "build/lb.duckdb", docs=project / "site",
                       site=project / "build/site", mkdocs_config=project / "mkdocs.yml", judge=str(bundle),
                       allow_test_judge=True, **kw)


def test_build_scores_stores_and_renders(project: Path, tiny_bundle: Path, count_predictions: list[int]) -> None:
    make_submission(project / "submissions", "acme__alpha", n=8, langs=("en", "zh"), seed=1)
    make_submission(project / "submissions", "acme__beta", n=6, seed=2)
    report = build(config(project, tiny_bundle))
    assert (report.tracks["esc"].items, report.tracks["esc"].scored, report.tracks["esc"].cached) == (22, 22, 0)
    with duckdb.connect(str(project / "build/lb.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM dialogues").fetchone()[0] == 22
        assert db.execute("SELECT count(DISTINCT dimension) FROM scores").fetchone()[0] == 7
    site = project / "build/site"
    for page in ["index.html", "board/esc/en/empathy.html", "board/esc/zh/average.html",
                 "board/models/acme__alpha.html", "board/models/acme__alpha-zh.html"]:
        assert (site / page).is_file(), page
    data = json.loads((site / "board/downloads/leaderboard.json").read_text())
    assert data["schema_version"] == 2 and data["judges"] == {"esc": report.tracks["esc"].judge}
    rows = [r for r in data["rows"] if r["model"] == "acme__beta" and r["dimension"] == "empathy"]
    assert len(rows) == 1 and rows[0]["n"] == 6 and 0 <= rows[0]["ci_low"] <= rows[0]["score"] <= rows[0]["ci_high"] <= 100
    assert "schema_version,model" in (site / "board/downloads/leaderboard.csv").read_text().splitlines()[0]
    index = (site / "index.html").read_text()
    assert 'href="board/models/acme__alpha.html#en-empathy"' in index  # a number links to its source


def test_rebuild_rescores_nothing(project: Path, tiny_bundle: Path, count_predictions: list[int]) -> None:
    make_submission(project / "submissions", "acme__alpha", n=5, seed=1)
    first = build(config(project, tiny_bundle))
    assert first.tracks["esc"].scored == 5 and sum(count_predictions) == 5 * (1 + 3)  # the dialogues, then 3 gaming probes on them
    count_predictions.clear()
    again = build(config(project, tiny_bundle))
    assert count_predictions == [] and (again.tracks["esc"].scored, again.tracks["esc"].cached) == (0, 5)
    # one changed dialogue is the only one judged again
    path = project / "submissions/acme__alpha/transcripts/en.jsonl"
    lines = path.read_text().splitlines()
    changed = json.loads(lines[0])
    changed["messages"][-1]["content"] = "Something new to say."  # the seeker's turns, hence the probes, stay
    path.write_text("\n".join([json.dumps(changed), *lines[1:]]) + "\n")
    third = build(config(project, tiny_bundle))
    assert count_predictions == [1] and (third.tracks["esc"].scored, third.tracks["esc"].cached) == (1, 4)


def test_invalid_submission_stores_and_renders_nothing(project: Path, tiny_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__alpha", n=3)
    build(config(project, tiny_bundle))
    before = (project / "build/site/index.html").read_text()
    bad = make_submission(project / "submissions", "acme__broken", n=3)
    with (bad / "transcripts/en.jsonl").open("a") as fh:
        fh.write('{"id": "z", "lang": "en", "messages": [{"role": "bot", "content": "hi"}]}\n')
    make_submission(project / "submissions", "acme__gamma", n=3, seed=5)
    with pytest.raises(InputError) as caught:
        build(config(project, tiny_bundle))
    assert any(p.line == 4 and p.field == "messages[0].role" for p in caught.value.problems)
    with duckdb.connect(str(project / "build/lb.duckdb"), read_only=True) as db:
        assert db.execute("SELECT list(submission_id) FROM submissions").fetchone()[0] == ["acme__alpha"]
    assert (project / "build/site/index.html").read_text() == before


def test_untrusted_text_is_escaped_on_the_site(project: Path, tiny_bundle: Path) -> None:
    hostile = 'Evil "quote" & [link](javascript:alert(2)) *bold* `code`'  # '<' and '>' are refused at intake
    folder = make_submission(project / "submissions", "evil__model", n=2, display=hostile)
    path = folder / "transcripts/en.jsonl"
    record = json.loads(path.read_text().splitlines()[0])
    record["messages"][1]["content"] = "<script>steal()</script> **hi**\n\n<b>bold</b> [x](javascript:alert(3))"
    path.write_text("\n".join([json.dumps(record), *path.read_text().splitlines()[1:]]) + "\n")
    build(config(project, tiny_bundle))
    site = project / "build/site"
    pages = ["index.html", "board/models/evil__model.html", "board/models/evil__model-en.html",
             "board/esc/en/empathy.html", "board/models/index.html"]
    for page in pages:
        html = (site / page).read_text()
        assert "<script>steal" not in html and "<b>bold" not in html and 'href="javascript:' not in html, page
        assert "Evil &#34;quote&#34; &amp; [link](javascript:alert(2)) *bold* `code`" in html, page
    transcript = (site / "board/models/evil__model-en.html").read_text()  # the dialogues are data, drawn as text
    payloads = re.findall(r'data-encoding="deflate">([A-Za-z0-9+/=]+)</script>', transcript)
    texts = [m[1] for p in payloads for d in json.loads(zlib.decompress(base64.b64decode(p))) for m in d[5]]
    assert record["messages"][1]["content"] in texts


KILL_SCRIPT = """
import sys
from pathlib import Path
from leaderboard.pipeline import BuildConfig, build
p = Path(sys.argv[1])
build(BuildConfig(p / "submissions", p / "build/lb.duckdb", p / "site", p / "build/site", p / "mkdocs.yml",
                  sys.argv[2], True, render=False))
"""


def test_kill_mid_build_leaves_no_partial_submission(project: Path, tiny_bundle: Path) -> None:
    expected = {}
    for i in range(12):
        make_submission(project / "submissions", f"org__m{i:02d}", n=20, langs=("en", "zh"), seed=i)
        expected[f"org__m{i:02d}"] = 40
    store = project / "build/lb.duckdb"
    outcomes = []
    delay = 1.0
    while len(outcomes) < 12:  # kill ever later, from a fresh store each time, until a build finishes by itself
        if store.exists():
            store.unlink()
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(project), str(tiny_bundle)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
        stored: dict[str, int] = {}
        if store.exists():
            with duckdb.connect(str(store), read_only=True) as db:
                tables = {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
                if not tables:  # killed before the new store's schema committed: an empty, readable file
                    outcomes.append((killed, 0))
                    delay *= 1.4
                    continue
                stored = dict(db.execute("SELECT submission_id, count(*) FROM dialogues GROUP BY ALL").fetchall())
                listed = {r[0] for r in db.execute("SELECT submission_id FROM submissions").fetchall()}
                unscored = db.execute("SELECT count(*) FROM dialogues d ANTI JOIN scores s USING (content_hash)").fetchone()[0]
            assert set(stored) == listed and unscored == 0
            assert all(stored[s] == expected[s] for s in stored), stored  # whole submissions only
        outcomes.append((killed, len(stored)))
        if not killed:
            break
        delay *= 1.4
    assert any(killed and 0 < n < 12 for killed, n in outcomes), outcomes  # some kill landed mid-build


def test_a_store_of_another_version_is_refused(project: Path, tiny_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__alpha", n=2)
    build(config(project, tiny_bundle))
    with duckdb.connect(str(project / "build/lb.duckdb")) as db:
        db.execute("UPDATE store_meta SET value = '0'")
    with pytest.raises(InputError, match="store version 0, this code writes"):
        build(config(project, tiny_bundle))


def test_a_new_judge_rescores_everything_and_never_mixes(project: Path, tiny_bundle: Path, tmp_path: Path) -> None:
    from tiny_judge import build_tiny_bundle
    make_submission(project / "submissions", "acme__alpha", n=4)
    first = build(config(project, tiny_bundle))
    other = build_tiny_bundle(tmp_path / "other-judge", seed=7)
    second = build(config(project, other))
    assert (second.tracks["esc"].scored, second.tracks["esc"].cached) == (4, 0) and second.tracks["esc"].judge != first.tracks["esc"].judge
    data = json.loads((project / "build/site/board/downloads/leaderboard.json").read_text())
    assert {r["judge"] for r in data["rows"]} == {second.tracks["esc"].judge}
