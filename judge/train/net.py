"""The exported judge graph: frozen encoder, pooling over windows and segments, linear heads.

Same interface as judge.model.SegmentJudge ([D, S, T] ids -> [D, K, L] logits) but with the heads
fitted in closed form (judge.train.fit) instead of by back-propagation: token-mean per window at a
few encoder layers, then mean and max over the item's windows, then one value per dimension,
turned into logits -(v - j)^2 / (2 tau^2) over the labels j.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from judge.train.fit import TAU


class FrozenHeadJudge(nn.Module):
    def __init__(self, encoder: nn.Module, layers: tuple[int, ...], weight: np.ndarray, bias: np.ndarray,
                 n_labels: int, tau: float = TAU):
        super().__init__()
        self.encoder, self.layers, self.tau = encoder, tuple(layers), tau
        self.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(weight, dtype=np.float32)), requires_grad=False)
        self.bias = nn.Parameter(torch.from_numpy(np.asarray(bias, dtype=np.float32)), requires_grad=False)
        self.register_buffer("labels", torch.arange(n_labels, dtype=torch.float32))

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        d, s, t = input_ids.shape
        mask = attention_mask.reshape(d * s, t)
        out = self.encoder(input_ids=input_ids.reshape(d * s, t), attention_mask=mask, output_hidden_states=True)
        w = mask.unsqueeze(-1).to(torch.float32)
        count = w.sum(1).clamp(min=1.0)
        seg = torch.cat([(out.hidden_states[i] * w).sum(1) / count for i in self.layers], -1).reshape(d, s, -1)
        present = (attention_mask[:, :, 0:1] > 0).to(torch.float32)
        mean = (seg * present).sum(1) / present.sum(1).clamp(min=1.0)
        top = (seg + (present - 1.0) * 1e4).max(1).values
        return torch.cat([mean, top], -1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        value = self.features(input_ids, attention_mask) @ self.weight + self.bias
        return -((value.unsqueeze(-1) - self.labels) ** 2) / (2 * self.tau * self.tau)
