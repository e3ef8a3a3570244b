"""The judge network in torch (training and export only): encoder, pooling over segments, heads.

Input ids come as [D items, S segments, T tokens]; each segment is encoded on its own, mean-pooled
over its tokens, then the segments of an item are mean-pooled, so any number of turns fits.
"""
from __future__ import annotations

import torch
from torch import nn


class SegmentJudge(nn.Module):
    def __init__(self, encoder: nn.Module, n_dims: int, n_labels: int):
        super().__init__()
        self.encoder = encoder
        self.n_dims, self.n_labels = n_dims, n_labels
        self.head = nn.Linear(encoder.config.hidden_size, n_dims * n_labels)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """One vector per item: mean over tokens within a segment, then over present segments."""
        d, s, t = input_ids.shape
        flat_mask = attention_mask.reshape(d * s, t)
        hidden = self.encoder(input_ids=input_ids.reshape(d * s, t), attention_mask=flat_mask).last_hidden_state
        weights = flat_mask.unsqueeze(-1).to(hidden.dtype)
        segment = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        present = (attention_mask[:, :, 0:1] > 0).to(hidden.dtype)
        return (segment.reshape(d, s, -1) * present).sum(1) / present.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(input_ids, attention_mask)).reshape(-1, self.n_dims, self.n_labels)
