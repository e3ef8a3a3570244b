"""The safety track end to end: a test-only safety judge exported by the real code, responses checked against
the prompt set, scored (cached), stored and rendered beside the ESC track."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pytest
import torch
import yaml
from tokenizers import Tokenizer

from conftest import ROOT, make_submission
from judge.bundle import JudgeBundle
from judge.errors import InputError
from judge.export import export_bundle
from judge.runtime import OnnxJudge
from judge.safety import judge_responses
from leaderboard.pipeline import BuildConfig, build
from leaderboard.safety.prompt_set import GuardItem, read_prompt_set, shipped_set
from leaderboard.submission import load_submission
from tiny_judge import build_tokenizer, random_heads, tiny_encoder

SAFETY_HEADS = [("privacy", [0, 1]), ("bias", [0, 1]), ("toxicity", [0, 1]), ("hallucination", [0, 1]),
                ("legality", [0, 1, 2, 3])]


def build_tiny_safety_bundle(out_dir: Path, seed: int = 0) -> Path:
    """A randomly initialised safety judge, exported through judge.export like the real ones. Test-only."""
    torch.manual_seed(seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = build_tokenizer(out_dir.parent / f"{out_dir.name}-tokenizer.json")
    vocab = Tokenizer.from_file(str(work)).get_vocab_size()
    heads = random_heads(len(SAFETY_HEADS), 4, seed)
    return export_bundle(tiny_encoder(vocab), (2,), heads, work.read_text(encoding="utf-8"), out_dir, {
        "name": "tiny-safety-test", "version": "0.0.0", "track": "safety", "test_only": True,
        "description": "Randomly initialised; for tests of the safety scoring path only. Its scores mean nothing.",
        "dimensions": [{"name": n, "labels": labels} for n, labels in SAFETY_HEADS],
        "input": {"unit": "response", "template": "{dimension} [SEP] {prompt} [SEP] {response}", "max_tokens": 32},
        "base": "random BertModel (hidden 32, 2 layers)",
    })


@pytest.fixture(scope="module")
def safety_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_safety_bundle(tmp_path_factory.mktemp("safety-judge") / "tiny-safety")


@pytest.fixture(scope="module")
def esc_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_judge import build_tiny_bundle

    return build_tiny_bundle(tmp_path_factory.mktemp("judge") / "tiny-test")


def reply(item: GuardItem) -> str:
    """A deterministic, varied fake model: right on originals, sometimes thrown by noise, sometimes refusing."""
    n = int(item.id.split("-")[-2 if item.variant != "original" else -1])
    if item.dimension == "noise-injection":
        return f"The answer is {item.answer}." if item.variant == "original" or n % 3 else "I think it is B, maybe A"
    if item.dimension == "position-swapping":
        return "A" if n % 2 or item.variant == "original" else "B"
    return "I'm sorry, I can't help with that." if n % 2 else f"Sure, here is how ({n})."


def write_safety_submission(root: Path, name: str = "acme__vision", langs: tuple[str, ...] = ("en", "zh"),
                            dims: tuple[str, ...] | None = None, answer=reply) -> Path:
    folder = root / name
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "responses").mkdir(parents=True)
    (folder / "submission.yaml").write_text(yaml.safe_dump({
        "name": "Vision test model", "organisation": "Acme", "model_link": "https://example.org/vision",
        "license": "MIT", "languages": list(langs), "tracks": ["safety"], "kind": "responses"}))
    prompts = read_prompt_set(shipped_set())
    for lang in langs:
        lines = [json.dumps({"id": i.id, "dimension": i.dimension, "lang": i.lang, "prompt": i.prompt, "image": i.image,
                             "response": answer(i)}, ensure_ascii=False)
                 for i in prompts.select(list(dims) if dims else None, [lang])]
        (folder / "responses" / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def config(project: Path, esc: Path, safety: Path) -> BuildConfig:
    return BuildConfig(submissions=project / "submissions", store=project / "build/lb.duckdb", docs=project / "site",
                       site=project / "build/site", mkdocs_config=project / "mkdocs.yml", judge=str(esc),
                       allow_test_judge=True, safety_judge=str(safety))


def test_judge_scores_each_item_by_its_own_head(safety_bundle: Path) -> None:
    judge = OnnxJudge(JudgeBundle.load(safety_bundle))
    items = [("legality", "Fill in the list.", "Sure, step 1..."), ("privacy", "Fill in the list.", "Sorry, no.")]
    scores = judge_responses(judge, items)
    assert [s.dimension for s in scores] == ["legality", "privacy"]
    assert scores[0].score in (0, 1, 2, 3) and scores[1].score in (0, 1)
    with pytest.raises(ValueError, match="no head for noise-injection"):
        judge_responses(judge, [("noise-injection", "Q", "A")])


def test_build_renders_both_tracks(project: Path, esc_bundle: Path, safety_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__alpha", n=4, langs=("en", "zh"), seed=1)
    write_safety_submission(project / "submissions")
    write_safety_submission(project / "submissions", "acme__refuser", answer=lambda i: "I'm sorry, I can't help with that.")
    report = build(config(project, esc_bundle, safety_bundle))
    assert report.tracks["safety"].items == 2 * 180 and report.tracks["safety"].judge.startswith("tiny-safety-test@")
    assert set(report.submissions) == {"acme__alpha", "acme__vision", "acme__refuser"}
    with duckdb.connect(str(project / "build/lb.duckdb"), read_only=True) as db:
        assert db.execute("SELECT count(*) FROM safety_items").fetchone()[0] == 360
        units = db.execute("SELECT count(DISTINCT unit_id) FROM safety_items WHERE submission_id = 'acme__vision'").fetchone()[0]
        assert units == 140  # 5 judged dimensions x 20 items + 2 paired dimensions x 20 pairs
    site = project / "build/site"
    for page in ["index.html", "board/safety/index.html", "board/safety/en/privacy.html", "board/safety/zh/average.html",
                 "board/safety/en/noise-injection.html", "board/models/acme__vision-safety.html",
                 "board/models/acme__vision.html", "board/downloads/safety.csv"]:
        assert (site / page).is_file(), page
    overview = (site / "board/safety/index.html").read_text()
    assert "lower is safer" in overview and "higher is safer" in overview and "ASD" in overview
    assert "acme__refuser-safety.html" in overview
    dimension = (site / "board/safety/en/position-swapping.html").read_text()
    assert "pairs left out" in dimension
    rows = json.loads((site / "board/downloads/safety.json").read_text())["rows"]
    refuser = {(r["dimension"], r["metric"]): r for r in rows if r["model"] == "acme__refuser" and r["lang"] == "en"}
    assert ("noise-injection", "asd") not in refuser and ("average", "asd") not in refuser  # every pair left out
    vision = {(r["dimension"], r["metric"]): r for r in rows if r["model"] == "acme__vision" and r["lang"] == "en"}
    # position-swapping: odd n answers A then A (1), even n answers A then B (0): 5 of 10 pairs are inconsistent
    assert vision[("position-swapping", "asd")]["score"] == 50.0 and vision[("position-swapping", "par")]["score"] == 50.0
    # noise-injection: originals right; for n % 3 == 0 (3, 6, 9) the noised answer names both letters -> No Answer -> 1
    assert vision[("noise-injection", "asd")]["score"] == 30.0 and vision[("noise-injection", "asd")]["n"] == 10
    assert vision[("average", "asd")]["lower_is_better"] is True and vision[("average", "par")]["lower_is_better"] is False


def test_rebuild_rescores_nothing_and_one_change_once(project: Path, esc_bundle: Path, safety_bundle: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    make_submission(project / "submissions", "acme__alpha", n=2)
    write_safety_submission(project / "submissions", langs=("en",), dims=("privacy", "noise-injection"))
    cfg = config(project, esc_bundle, safety_bundle)
    first = build(cfg)
    # privacy: 5 distinct compliant replies judged, 5 bare refusals scored by rule, each item its own unit (what is
    # read includes the image's text, which differs); 10 noise pairs
    assert (first.tracks["safety"].scored, first.tracks["safety"].cached) == (20, 0)
    calls: list[int] = []
    original = OnnxJudge.predict
    monkeypatch.setattr(OnnxJudge, "predict", lambda self, items, on_batch=None: calls.append(len(items)) or original(self, items, on_batch))
    again = build(cfg)
    assert calls == [] and again.tracks["safety"].scored == 0
    path = project / "submissions/acme__vision/responses/en.jsonl"
    lines = path.read_text().splitlines()
    record = json.loads(lines[0])
    record["response"] = "Something entirely new."
    path.write_text("\n".join([json.dumps(record), *lines[1:]]) + "\n")
    third = build(cfg)
    assert calls == [1] and third.tracks["safety"].scored == 1


def test_responses_are_checked_against_the_prompt_set(project: Path, esc_bundle: Path, safety_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__alpha", n=2)
    folder = write_safety_submission(project / "submissions", langs=("en",), dims=("privacy", "position-swapping"))
    path = folder / "responses/en.jsonl"
    lines = [json.loads(l) for l in path.read_text().splitlines()]
    lines[0]["prompt"] = "Something else."
    lines[1]["id"] = "privacy-9999"
    swapped = next(i for i, r in enumerate(lines) if r["id"].endswith("-swapped"))
    del lines[swapped]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines))
    with pytest.raises(InputError) as caught:
        build(config(project, esc_bundle, safety_bundle))
    problems = {(p.line, p.field) for p in caught.value.problems}
    assert (1, "prompt") in problems and (2, "id") in problems
    assert any(p.field == "id" and "missing" in p.message for p in caught.value.problems)
    assert not (project / "build/lb.duckdb").exists()  # nothing written


def test_bad_response_lines_name_file_line_and_field(tmp_path: Path) -> None:
    folder = write_safety_submission(tmp_path, langs=("en",), dims=("bias",))
    path = folder / "responses/en.jsonl"
    lines = path.read_text().splitlines()
    bad = json.loads(lines[2])
    bad["dimension"] = "rudeness"
    del bad["response"]
    lines[2] = json.dumps(bad)
    lines[4] = "{not json"
    lines.append(lines[0])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError) as caught:
        load_submission(folder)
    found = {(p.file.name, p.line, p.field) for p in caught.value.problems}
    assert {("en.jsonl", 3, "dimension"), ("en.jsonl", 3, "response"), ("en.jsonl", 5, None),
            ("en.jsonl", 11, "id")} <= found


def test_the_repository_submissions_build_offline(project: Path, esc_bundle: Path, safety_bundle: Path) -> None:
    """`leaderboard build` on the repo's own submissions renders both tracks (with the test judges standing in)."""
    shutil.rmtree(project / "submissions")
    shutil.copytree(ROOT / "submissions", project / "submissions")
    report = build(config(project, esc_bundle, safety_bundle))
    assert report.tracks["esc"].items > 0 and report.tracks["safety"].items > 0
    assert (project / "build/site/board/safety/index.html").is_file()
    assert (project / "build/site/board/esc/en/average.html").is_file()


def test_without_the_default_safety_judge_the_esc_track_still_builds(project: Path, esc_bundle: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import leaderboard.track as step

    monkeypatch.setattr(step, "shipped_bundles", lambda: tmp_path / "no-bundles")
    make_submission(project / "submissions", "acme__alpha", n=2)
    write_safety_submission(project / "submissions", langs=("en",), dims=("bias",))
    report = build(BuildConfig(**{**config(project, esc_bundle, esc_bundle).__dict__, "safety_judge": None}))
    assert "safety" not in report.tracks
    assert (project / "build/site/board/esc/en/average.html").is_file()
    assert not (project / "build/site/board/safety").exists()


def test_a_submission_dropping_its_responses_leaves_the_board(project: Path, esc_bundle: Path, safety_bundle: Path) -> None:
    write_safety_submission(project / "submissions", langs=("en",), dims=("bias",))
    write_safety_submission(project / "submissions", "acme__other", langs=("en",), dims=("bias",))
    make_submission(project / "submissions", "acme__alpha", n=2)
    cfg = config(project, esc_bundle, safety_bundle)
    build(cfg)
    shutil.rmtree(project / "submissions/acme__other/responses")
    meta = yaml.safe_load((project / "submissions/acme__other/submission.yaml").read_text())
    (project / "submissions/acme__other/submission.yaml").write_text(yaml.safe_dump({**meta, "kind": "endpoint",
        "endpoint": {"base_urls": ["http://127.0.0.1:9/v1"], "model": "x"}}))
    build(cfg)
    with duckdb.connect(str(project / "build/lb.duckdb"), read_only=True) as db:
        assert db.execute("SELECT DISTINCT submission_id FROM safety_items").fetchall() == [("acme__vision",)]


def test_partial_submissions_are_compared_only_in_a_language_of_the_board(project: Path, esc_bundle: Path,
                                                                         safety_bundle: Path) -> None:
    """A partial submission is shown, not ranked: the compare page pairs it with the ranked models of its language,
    and a language with no ranked model is on no board, so not on the compare page either."""
    make_submission(project / "submissions", "acme__alpha", n=2)
    write_safety_submission(project / "submissions", langs=("en",))
    write_safety_submission(project / "submissions", "acme__partial", langs=("en", "zh"), dims=("bias",))
    build(config(project, esc_bundle, safety_bundle))
    text = (project / "build/site/board/downloads/safety-scores.js").read_text()
    data = json.loads(text.removeprefix("window.LB_SAFETY = ").rstrip().rstrip(";"))
    assert data["languages"] == ["en"]
    for metric in data["metrics"]:
        assert set(metric["scores"]) == {"en"} and set(metric["scores"]["en"]) == {"acme__vision", "acme__partial"}
        bias = data["dimensions"].index("bias")
        assert all(v[bias] is not None for v in metric["scores"]["en"]["acme__partial"].values())
    rows = json.loads((project / "build/site/board/downloads/safety.json").read_text())["rows"]
    assert {r["model"] for r in rows} == {"acme__vision"}  # not ranked
