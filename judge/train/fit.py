"""Heads on frozen-encoder features: one ridge regression per dimension, turned into label logits.

Each dimension's head predicts a score on the label scale; the exported heads graph (judge.model.PooledHeads) turns
the predicted value v into logits -(v - j)^2 / (2 tau^2) over the labels j, so argmax is the label
nearest to v and the softmax expectation stays close to v. Ridge is closed form, so training is
deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pool_items(feats: np.ndarray, owner: np.ndarray, n_items: int) -> np.ndarray:
    """Item features: mean and max over the item's windows (as the exported graph pools segments)."""
    dim = feats.shape[1]
    total = np.zeros((n_items, dim), dtype=np.float64)
    top = np.full((n_items, dim), -np.inf)
    np.add.at(total, owner, feats)
    np.maximum.at(top, owner, feats)
    count = np.bincount(owner, minlength=n_items)[:, None]
    return np.concatenate([total / np.maximum(count, 1), top], axis=1).astype(np.float32)


@dataclass
class Ridge:
    """y ~ x @ w + b on standardized features; `weight`/`bias` are in raw feature units."""

    weight: np.ndarray
    bias: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, alpha: float, sample_weight: np.ndarray | None = None) -> "Ridge":
        sw = np.ones(len(y)) if sample_weight is None else sample_weight
        sw = sw / sw.mean()
        mu = np.average(x, axis=0, weights=sw)
        sd = np.sqrt(np.average((x - mu) ** 2, axis=0, weights=sw)) + 1e-6
        z = (x - mu) / sd
        ym = np.average(y, weights=sw)
        zw = z * sw[:, None]
        w = np.linalg.solve(z.T @ zw + alpha * np.eye(z.shape[1]), zw.T @ (y - ym))
        weight = w / sd
        return cls(weight.astype(np.float32), float(ym - mu @ weight))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weight + self.bias

