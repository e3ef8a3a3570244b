"""Frozen-encoder features: every window of every segment encoded once and cached.

The judge's encoder stays frozen (heads are fitted on top), so each window is encoded a single
time with onnxruntime and its token-mean at the chosen layers is stored; pooling over windows and
fitting heads are then cheap to repeat.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from judge.runtime import pad_windows, window_batches


class WindowEncoder(torch.nn.Module):
    """Token-mean of selected hidden layers for a batch of windows [B, T] -> [B, len(layers)*H]."""

    def __init__(self, bert, layers: tuple[int, ...]):
        super().__init__()
        self.bert, self.layers = bert, layers

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        w = attention_mask.unsqueeze(-1).to(torch.float32)
        return torch.cat([(out.hidden_states[i] * w).sum(1) / w.sum(1).clamp(min=1.0) for i in self.layers], -1)


def export_window_encoder(bert, layers: tuple[int, ...], path: Path) -> Path:
    """ONNX of WindowEncoder. Exported with eager attention (switched on `bert` in place): the SDPA
    export adds a mask Where and a NaN guard to every layer, 15% of int8 run time on a CPU."""
    bert.set_attn_implementation("eager")
    ids = torch.ones((2, 8), dtype=torch.long)
    torch.onnx.export(WindowEncoder(bert, layers).eval(), (ids, torch.ones_like(ids)), str(path),
                      input_names=["input_ids", "attention_mask"], output_names=["pooled"],
                      dynamic_axes={"input_ids": {0: "b", 1: "t"}, "attention_mask": {0: "b", 1: "t"}, "pooled": {0: "b"}},
                      opset_version=17, dynamo=False)
    return path


def windows(tokenizer: Tokenizer, segments: list[str], max_tokens: int) -> list[list[int]]:
    """Same windowing as judge.runtime.OnnxJudge.windows (truncation with overflow)."""
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    out = []
    for enc in tokenizer.encode_batch(segments):
        out.append([enc.ids] + [o.ids for o in enc.overflowing])
    return out


def encode_items(model_path: Path, tokenizer: Tokenizer, items: list[list[str]], max_tokens: int,
                 threads: int = 2, batch_tokens: int = 8192, log=print) -> tuple[np.ndarray, np.ndarray]:
    """(window features [W, F], item index of each window [W]) for items given as segment lists."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.enable_cpu_mem_arena = False
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    flat: list[list[int]] = []
    owner: list[int] = []
    for i, segs in enumerate(items):
        for seg_windows in windows(tokenizer, segs, max_tokens):
            flat.extend(seg_windows)
            owner.extend([i] * len(seg_windows))
    feats = None
    plan = window_batches([len(w) for w in flat], batch_tokens)
    for n, batch in enumerate(plan):
        (out,) = sess.run(None, dict(zip(("input_ids", "attention_mask"), pad_windows([flat[j] for j in batch]))))
        if feats is None:
            feats = np.zeros((len(flat), out.shape[1]), dtype=np.float32)
        feats[batch] = out
        if (n + 1) % 100 == 0:
            log(f"  {n + 1}/{len(plan)} batches")
    return feats, np.asarray(owner, dtype=np.int64)
