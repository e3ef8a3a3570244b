"""Frozen-encoder features: every window of every segment encoded once and cached.

The judge's encoder stays frozen (heads are fitted on top), so each window is encoded a single
time with onnxruntime and its token-mean at the chosen layers is stored; pooling over windows and
fitting heads are then cheap to repeat.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from judge.runtime import pad_windows, segment_windows, window_batches


def windows(tokenizer: Tokenizer, segments: list[str], max_tokens: int) -> list[list[list[int]]]:
    """The runtime's windowing (judge.runtime.segment_windows) at `max_tokens` per window."""
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_tokens)
    return segment_windows(tokenizer, segments)


def encode_items(model_path: Path, tokenizer: Tokenizer, items: list[list[str]], max_tokens: int,
                 threads: int = 2, per_batch: int = 64, log=print) -> tuple[np.ndarray, np.ndarray]:
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
    plan = window_batches([len(w) for w in flat], per_batch)
    for n, batch in enumerate(plan):
        (out,) = sess.run(None, dict(zip(("input_ids", "attention_mask"), pad_windows([flat[j] for j in batch]))))
        if feats is None:
            feats = np.zeros((len(flat), out.shape[1]), dtype=np.float32)
        feats[batch] = out
        if (n + 1) % 100 == 0:
            log(f"  {n + 1}/{len(plan)} batches")
    return feats, np.asarray(owner, dtype=np.int64)
