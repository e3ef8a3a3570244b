"""Gaming probes: each model is probed on its own dialogues, so its probe runs and flags depend on it alone; a model
like a probe or wholly below it is flagged; probe dialogues are cached by content and judge like every score."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import make_submission
from judge.dimensions import ESC_DIMENSIONS
from judge.stats import Estimate
from leaderboard.esc import probes
from leaderboard.esc.probes import CONSTANT, PROBES, model_probes, verdict
from leaderboard.intake import load_all
from leaderboard.pipeline import BuildConfig, build, set_hash, submission_set_hash
from leaderboard.store import Score, Store
from leaderboard.tracks import tracks


def config(project: Path, bundle: Path) -> BuildConfig:
    return BuildConfig(submissions=project / "submissions", store=project / "build/lb.duckdb", docs=project / "site",
                       site=project / "build/site", mkdocs_config=project / "mkdocs.yml", judge=str(bundle),
                       allow_test_judge=True)


def probe_table(project: Path, model: str) -> str:
    """The probe table of a model's page, as built."""
    html = (project / "build/site/board/models" / f"{model}.html").read_text(encoding="utf-8")
    tables = re.findall(r'<table class="lb-table lb-probes">.*?</table>', html, re.S)
    assert tables, f"no probe table on {model}'s page"
    return "\n".join(tables)


def test_a_models_probes_and_flags_do_not_depend_on_other_submissions(project: Path, tiny_bundle: Path) -> None:
    make_submission(project / "submissions", "acme__alpha", n=8, langs=("en", "zh"), seed=1)
    build(config(project, tiny_bundle))
    alone = probe_table(project, "acme__alpha")
    overview = (project / "build/site/index.html").read_text(encoding="utf-8")
    flags_alone = re.findall(r'acme__alpha\.html">[^<]*</a>.*?</td>', overview)
    # a submission sorting first, on the same cards with other help-seeker turns, and one more
    make_submission(project / "submissions", "aaa__first", n=8, langs=("en", "zh"), seed=7)
    make_submission(project / "submissions", "acme__beta", n=8, langs=("en",), seed=2)
    build(config(project, tiny_bundle))
    assert probe_table(project, "acme__alpha") == alone
    overview = (project / "build/site/index.html").read_text(encoding="utf-8")
    assert re.findall(r'acme__alpha\.html">[^<]*</a>.*?</td>', overview) == flags_alone
    assert probe_table(project, "aaa__first") != alone  # its own turns, its own probe runs


def test_a_cached_rebuild_judges_no_probe_and_says_so(project: Path, tiny_bundle: Path, count_predictions: list[int]) -> None:
    make_submission(project / "submissions", "acme__alpha", n=6, langs=("en", "zh"), seed=1)
    make_submission(project / "submissions", "acme__beta", n=5, seed=2)
    first = build(config(project, tiny_bundle)).tracks["esc"]
    probes = len(PROBES) * (12 + 5)
    assert (first.scored, first.extra_scored, first.extra_cached) == (17, probes, 0)
    count_predictions.clear()
    again = build(config(project, tiny_bundle)).tracks["esc"]
    assert count_predictions == [] and (again.scored, again.extra_scored, again.extra_cached) == (0, 0, probes)
    shutil.rmtree(project / "submissions/acme__beta")
    build(config(project, tiny_bundle))
    with Store(project / "build/lb.duckdb") as store:
        assert set(store.probe_rows()) == {"acme__alpha"}  # a removed submission's probes go with it


def cache(cfg: BuildConfig, model_score: int, probe_scores: dict[str, int]) -> None:
    """The cache an earlier build would leave, with chosen scores: every dialogue of every submission at
    model_score, each probe's dialogues at its score, on every dimension."""
    every = tracks()
    esc = every[0]
    judge = esc.judge(cfg.judge, True)
    with Store(cfg.store) as store:
        store.register_judge("esc", judge)
        for sub in load_all(cfg.submissions, every):
            units = esc.units(sub)
            coverage = esc.coverage(sub)
            part = set_hash([*esc.digests(sub), f"coverage\t{json.dumps(coverage, sort_keys=True)}"])
            store.write_submission(sub, submission_set_hash(sub, every), "esc", part, units, esc.content(sub),
                                   [Score(u.hash, judge.sha, d, model_score, None) for u in units for d in ESC_DIMENSIONS],
                                   coverage)
            dialogues = model_probes(sub.transcripts)
            store.write_probes(sub.id, [(p, t.id, t.lang, t.content_hash) for p, ts in dialogues.items() for t in ts],
                               [Score(t.content_hash, judge.sha, d, probe_scores[p], None)
                                for p, ts in dialogues.items() for t in ts for d in ESC_DIMENSIONS])


def test_a_model_far_below_a_probe_is_flagged(project: Path, tiny_bundle: Path, count_predictions: list[int]) -> None:
    make_submission(project / "submissions", "acme__weak", n=20, seed=4)
    cfg = config(project, tiny_bundle)
    cache(cfg, 0, {"constant-reply": 4, "length-only": 0, "copy-the-user": 2})
    report = build(cfg).tracks["esc"]
    assert count_predictions == [] and report.extra_scored == 0  # all from the cache
    overview = (project / "build/site/index.html").read_text(encoding="utf-8")
    row = re.search(r'acme__weak\.html">[^<]*</a>(.*?)</td>', overview, re.S).group(1)  # type: ignore[union-attr]
    assert re.findall(r"⚑ (\w+) ([\w-]+)", row) == [("below", "constant-reply"), ("below", "copy-the-user"),
                                                     ("like", "length-only")]
    page = (project / "build/site/board/models/acme__weak.html").read_text(encoding="utf-8")
    assert "wholly below the CI of the constant-reply probe" in page and page.count("⚑ scores below it") == 2


@pytest.mark.parametrize("model, probe, expected", [
    ((10, 20), (15, 30), "like"), ((10, 20), (21, 30), "below"), ((40, 50), (21, 30), None), ((10, 20), (20, 30), "like"),
])
def test_verdict(model: tuple[float, float], probe: tuple[float, float], expected: str | None) -> None:
    assert verdict(Estimate(sum(model) / 2, *model, 50), Estimate(sum(probe) / 2, *probe, 50)) == expected


def test_a_probe_replays_a_fixed_sample_of_each_models_own_cards(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probes, "PROBE_CARDS", 5)
    make_submission(project / "submissions", "acme__one", n=20, seed=1)
    make_submission(project / "submissions", "acme__two", n=20, seed=2)
    one, two = load_all(project / "submissions", tracks())
    mine, theirs = model_probes(one.transcripts), model_probes(two.transcripts)
    own = {t.card_id: t for t in one.transcripts}
    for name in PROBES:
        assert len(mine[name]) == 5 and [t.card_id for t in mine[name]] == [t.card_id for t in theirs[name]]  # same cards
        for t in mine[name]:  # the model's own help-seeker turns, the rule's replies
            assert [m for m in t.messages if m.role == "user"] == [m for m in own[t.card_id].messages if m.role == "user"]
    assert {m.content for t in mine["constant-reply"] for m in t.messages[1:] if m.role == "assistant"} == {CONSTANT["en"]}
