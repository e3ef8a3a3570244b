"""The judge network in torch (training and export only): a window encoder and pooled heads.

A bundle is these two graphs. The encoder turns each window of tokens [W, T] into its token-mean at
chosen layers; the runtime batches windows by length, whichever item they belong to, and gathers
them per item [D, S, F] for the heads: mean and max over the item's windows, one value v per
dimension, turned into logits -(v - j)^2 / (2 tau^2) over the labels j, so the argmax is the label
nearest v and the softmax expectation stays close to v.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

TAU = 0.5


class WindowEncoder(nn.Module):
    """Token-mean of selected hidden layers for a batch of windows [B, T] -> [B, len(layers)*H]."""

    def __init__(self, bert, layers: tuple[int, ...]):
        super().__init__()
        self.bert, self.layers = bert, layers

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        w = attention_mask.unsqueeze(-1).to(torch.float32)
        return torch.cat([(out.hidden_states[i] * w).sum(1) / w.sum(1).clamp(min=1.0) for i in self.layers], -1)


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
