"""Stance over topic for guard-lite: heads that rank answers *to the same prompt* by what they do.

A safe answer that names a danger ("I strongly advise against crossing active train tracks…") shares its topic
with the harmful one; heads fitted only on absolute labels learn the topic. Here every head is one ridge
regression on two stacked objectives:

- absolute: the 0-3 (0/1) target of each answer, weighted as judge.train.recipe.safety_targets says;
- within-prompt contrast: features and targets centred on their prompt's mean, so only what differs between
  answers to one prompt (refuse, warn, redirect vs comply) explains the label (a fixed-effects regression, the
  squared form of all pairwise differences inside a prompt), weighted by `contrast`.

Both stay linear in the pooled features, so the exported heads graph (judge.model.PooledHeads) is unchanged.
Also here: the written English and Chinese warning pairs used for training (WARNING_TRAIN) and the "warning is
not harm" suite that `judge eval` runs (WARNING_SUITE, never trained on; halves by prompt for dev and test).
"""
from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np

from judge.train import data as D
from judge.train.fit import Ridge

WARNING_TRAIN = Path(__file__).with_name("warning_train.jsonl")
WARNING_SUITE = Path(__file__).with_name("warning_suite.jsonl")


def load_written(path: Path, key_prefix: str, source: str) -> list[D.SafetyItem]:
    """(prompt, response, harmful) pairs written for this project: harmful 3, safe 0 (a warning or a reasoned refusal
    is GuardRank's "safe and responsible"); keyed by prompt so both answers to a prompt stay together."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [D.SafetyItem(f"{key_prefix}/{r['prompt']}", source, r["prompt"], r["response"], D.label_harm(r["harmful"], True, True),
                         r["harmful"]) for r in rows]


def xstest_unsafe_prompts(root: Path = D.SHARED) -> set[str]:
    """XSTest prompts that are unsafe (the contrast set), as judge.train.data.load_safety decides it: on these, complying
    is harmful and refusing is right, so compliance vs refusal on them is the stance test the issue asks for."""
    base = root / "safety" / "xstest"
    with (base / "xstest_prompts.csv").open(encoding="utf-8") as fh:
        unsafe = {r["prompt"] for r in csv.DictReader(fh) if r["label"] == "unsafe"}
    for path in sorted(base.glob("xstest_v2_completions_*.csv")):
        with path.open(encoding="utf-8") as fh:
            unsafe |= {r["prompt"] for r in csv.DictReader(fh) if r["type"].startswith("contrast")}
    return unsafe


def suite_split(prompt: str, seed: int) -> str:
    """Half of the suite's prompts are "dev" (looked at while choosing), the other half "test" (read once)."""
    h = hashlib.sha256(f"warning-suite:{seed}:{prompt}".encode()).digest()
    return "dev" if int.from_bytes(h[:8], "big") / 2**64 < 0.5 else "test"


def load_suite(seed: int, split: str | None = None) -> tuple[list[D.SafetyItem], list[dict]]:
    """The suite's items (source "warning") of one half (None: all), and their rows (lang, style)."""
    rows = [json.loads(line) for line in WARNING_SUITE.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if split is None or suite_split(r["prompt"], seed) == split]
    items = [D.SafetyItem(f"warning/{r['prompt']}", "warning", r["prompt"], r["response"], D.label_harm(r["harmful"], True, True),
                          r["harmful"]) for r in rows]
    return items, rows


def _centred_within(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray):
    """x and y minus their weighted group means; groups with a single distinct target carry no contrast (weight 0)."""
    _, g = np.unique(groups, return_inverse=True)
    sw = np.bincount(g, weights=w)
    mx = np.zeros((g.max() + 1, x.shape[1]))
    np.add.at(mx, g, x * w[:, None])
    my = np.bincount(g, weights=w * y)
    mx /= np.maximum(sw, 1e-12)[:, None]
    my /= np.maximum(sw, 1e-12)
    lo, hi = np.full(g.max() + 1, np.inf), np.full(g.max() + 1, -np.inf)
    np.minimum.at(lo, g, y)
    np.maximum.at(hi, g, y)
    informative = (hi > lo)[g]
    return x - mx[g], y - my[g], np.where(informative, w, 0.0)


def contrast_ridge(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, alpha: float, contrast: float) -> Ridge:
    """Ridge on the absolute rows plus `contrast` times the within-group (prompt) rows, on standardized features."""
    x = x.astype(np.float64)
    sw = w / w.mean()
    mu = np.average(x, axis=0, weights=sw)
    sd = np.sqrt(np.average((x - mu) ** 2, axis=0, weights=sw)) + 1e-6
    z = (x - mu) / sd
    ym = np.average(y, weights=sw)
    gram = z.T @ (z * sw[:, None])
    rhs = (z * sw[:, None]).T @ (y - ym)
    if contrast > 0:
        zc, yc, wc = _centred_within(z, y, sw, groups)
        gram += contrast * zc.T @ (zc * wc[:, None])
        rhs += contrast * (zc * wc[:, None]).T @ yc
    beta = np.linalg.solve(gram + alpha * np.eye(z.shape[1]), rhs)
    weight = beta / sd
    return Ridge(weight.astype(np.float32), float(ym - mu @ weight))


def pick_alpha(x: np.ndarray, y: np.ndarray, w: np.ndarray, groups: np.ndarray, inner: np.ndarray, alphas, contrast: float) -> float:
    """Ridge strength by the inner split of the training side: weighted squared error of the absolute values plus
    `contrast` times that of the within-prompt differences, on the inner part."""
    if inner.all() or not inner.any():
        return alphas[-1]
    xc, yc, wc = _centred_within(x[inner].astype(np.float64), y[inner], w[inner], groups[inner])
    errs = []
    for a in alphas:
        head = contrast_ridge(x[~inner], y[~inner], w[~inner], groups[~inner], a, contrast)
        err = np.average((head.predict(x[inner]) - y[inner]) ** 2, weights=w[inner])
        if contrast > 0 and wc.sum() > 0:
            err += contrast * np.average((xc @ head.weight - yc) ** 2, weights=wc)
        errs.append(err)
    return alphas[int(np.argmin(errs))]
