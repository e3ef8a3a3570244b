"""The judge's heads as a graph of their own: pooling over an item's windows, then linear heads.

The encoder graph (judge.train.features.WindowEncoder) turns each window into its token-mean at
the recipe's layer; the runtime encodes windows in length-sorted batches, gathers them per item
and hands them here: mean and max over the item's windows, one value per dimension (heads fitted
in closed form, judge.train.fit), turned into logits -(v - j)^2 / (2 tau^2) over the labels j.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from judge.train.fit import TAU


class PooledHeads(nn.Module):
    """Window features [D, S, F] and a present mask [D, S] -> logits [D, K, L]."""

    def __init__(self, weight: np.ndarray, bias: np.ndarray, n_labels: int, tau: float = TAU):
        super().__init__()
        self.tau = tau
        self.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)), requires_grad=False)
        self.bias = nn.Parameter(torch.from_numpy(np.asarray(bias, dtype=np.float32)), requires_grad=False)
        self.register_buffer("labels", torch.arange(n_labels, dtype=torch.float32))

    def forward(self, features: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        w = present.unsqueeze(-1)
        mean = (features * w).sum(1) / w.sum(1).clamp(min=1.0)
        top = (features + (w - 1.0) * 1e4).max(1).values
        value = torch.cat([mean, top], -1) @ self.weight + self.bias
        return -((value.unsqueeze(-1) - self.labels) ** 2) / (2 * self.tau * self.tau)


def export_heads(heads: PooledHeads, features: int, path: Path) -> Path:
    x = torch.zeros((2, 3, features))
    torch.onnx.export(heads.eval(), (x, torch.ones((2, 3))), str(path), input_names=["features", "present"],
                      output_names=["logits"], opset_version=17, dynamo=False,
                      dynamic_axes={"features": {0: "items", 1: "windows"}, "present": {0: "items", 1: "windows"},
                                    "logits": {0: "items"}})
    return path
