"""Running a judge bundle with onnxruntime: tokenise, window, batch by length, predict.

This is the whole inference path and it needs no torch. Items with similar lengths are batched
together so padding stays small; a batch is capped by its padded token count, not by item count.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from judge.bundle import JudgeBundle


def default_providers() -> list[str]:
    """CUDA when onnxruntime-gpu is installed and sees a GPU, else the CPU."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def pad(items: list[list[list[int]]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask [items, segments, tokens], zero-padded on both inner axes."""
    segs = max(len(windows) for windows in items)
    toks = max(len(w) for windows in items for w in windows)
    ids = np.zeros((len(items), segs, toks), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, windows in enumerate(items):
        for s, window in enumerate(windows):
            ids[row, s, : len(window)] = window
            mask[row, s, : len(window)] = 1
    return ids, mask


class OnnxJudge:
    """A loaded bundle that maps items (lists of text segments) to logits [N, K, L]."""

    def __init__(self, bundle: JudgeBundle, providers: Sequence[str] | None = None, max_batch_tokens: int = 8192):
        self.bundle = bundle
        self.max_batch_tokens = max_batch_tokens
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(bundle.model_path), options, providers=list(providers or default_providers())
        )
        self.tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(bundle.manifest.input.max_tokens)

    def windows(self, segments: list[str]) -> list[list[int]]:
        """Token ids of every window of every segment; long segments overflow into more windows."""
        out: list[list[int]] = []
        for encoding in self.tokenizer.encode_batch(segments):
            out.append(encoding.ids)
            out.extend(o.ids for o in encoding.overflowing)
        return out

    def batches(self, items: list[list[list[int]]]) -> list[list[int]]:
        order = sorted(range(len(items)), key=lambda i: (max(map(len, items[i])), len(items[i])))
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            trial = current + [i]
            cost = len(trial) * max(len(items[j]) for j in trial) * max(len(w) for j in trial for w in items[j])
            if current and cost > self.max_batch_tokens:
                batches.append(current)
                trial = [i]
            current = trial
        if current:
            batches.append(current)
        return batches

    def predict(self, items: list[list[str]], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Logits for every item, in the order given; on_batch(n) reports progress."""
        encoded = [self.windows(segments) for segments in items]
        if any(not windows for windows in encoded):
            raise ValueError("an item has no text segments to judge")
        dims = len(self.bundle.manifest.dimensions)
        labels = max(len(d.labels) for d in self.bundle.manifest.dimensions)
        out = np.zeros((len(items), dims, labels), dtype=np.float32)
        for batch in self.batches(encoded):
            ids, mask = pad([encoded[i] for i in batch])
            (logits,) = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            out[batch] = logits
            if on_batch:
                on_batch(len(batch))
        return out


def label_scores(logits: np.ndarray, labels: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Per item and dimension: the most likely label, and the expected label under the softmax."""
    scores = np.zeros(logits.shape[:2], dtype=np.int64)
    expected = np.zeros(logits.shape[:2], dtype=np.float64)
    for k, values in enumerate(labels):
        z = logits[:, k, : len(values)].astype(np.float64)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        scores[:, k] = np.asarray(values)[p.argmax(axis=1)]
        expected[:, k] = p @ np.asarray(values, dtype=np.float64)
    return scores, expected
