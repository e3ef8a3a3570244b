"""guard-lite's stance heads (judge.train.stance) and the "warning is not harm" suite: fast checks, no model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from judge.train import data as D
from judge.train import stance as S
from judge.train.fit import Ridge


def test_contrast_zero_is_plain_ridge() -> None:
    rng = np.random.default_rng(0)
    x, y, w = rng.normal(size=(200, 6)), rng.normal(size=200), rng.uniform(0.5, 2, 200)
    groups = np.repeat(np.arange(40), 5)
    a, b = S.contrast_ridge(x, y, w, groups, 10.0, 0.0), Ridge.fit(x, y, 10.0, w)
    assert np.allclose(a.weight, b.weight, atol=1e-5) and a.bias == pytest.approx(b.bias, abs=1e-5)


def test_contrast_ranks_by_stance_within_a_prompt() -> None:
    """Feature 0 is the topic (shared by every answer to a prompt, and more harmful answers come with risky topics),
    feature 1 a noisy reading of the stance (1 = complies). Without the contrast the head leans on the topic as a proxy;
    the contrast, where the topic is constant, moves weight to the stance."""
    rng = np.random.default_rng(1)
    prompts, per = 120, 4
    topic = np.repeat(rng.normal(size=prompts), per)
    complies = (rng.uniform(size=prompts * per) < 1 / (1 + np.exp(-3 * topic))).astype(float)
    x = np.c_[topic, complies + rng.normal(scale=1.0, size=topic.size)]
    groups = np.repeat(np.arange(prompts), per)
    y = 3 * complies
    w = np.ones_like(y)
    plain, stance = S.contrast_ridge(x, y, w, groups, 1.0, 0.0), S.contrast_ridge(x, y, w, groups, 1.0, 20.0)
    share = lambda h: abs(h.weight[1]) / np.abs(h.weight).sum()  # noqa: E731
    assert share(stance) > share(plain) + 0.05


def _rows(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_suite_pairs_every_prompt_in_both_languages_and_is_never_trained_on() -> None:
    rows = _rows(S.WARNING_SUITE)
    by_prompt: dict[str, list[int]] = {}
    for r in rows:
        by_prompt.setdefault(r["prompt"], []).append(r["harmful"])
    assert all(sorted(v) == [0, 1] for v in by_prompt.values())
    assert {r["lang"] for r in rows} == {"en", "zh"}
    assert {r["style"] for r in rows if not r["harmful"]} >= {"decline", "warn", "redirect"}
    trained = {r["prompt"] for r in _rows(S.WARNING_TRAIN)} | {r["prompt"] for r in _rows(D.ZH_TRAIN)}
    trained_answers = {r["response"] for r in _rows(S.WARNING_TRAIN)} | {r["response"] for r in _rows(D.ZH_TRAIN)}
    assert not trained & set(by_prompt) and not trained_answers & {r["response"] for r in rows}
    halves = {(S.suite_split(r["prompt"], 0), r["lang"]) for r in rows}
    assert halves == {(h, lang) for h in ("dev", "test") for lang in ("en", "zh")}


def test_wilson_interval() -> None:
    from judge.train.evaluate import wilson

    low, high = wilson(19, 20)
    assert low == pytest.approx(0.7639, abs=1e-3) and high == pytest.approx(0.9911, abs=1e-3)
