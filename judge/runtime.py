"""Running a judge bundle with onnxruntime: tokenise, window, batch by length, predict.

This is the whole inference path and it needs no torch. A bundle is either one graph over whole
items ([items, segments, tokens] -> logits, padded per item), or, when its manifest names a `head`,
a window encoder ([windows, tokens] -> features) plus a small pooling-and-heads graph. The second
kind lets every window be batched with windows of its own length, wherever its item is, so
almost no padding is computed. Batches are capped by their padded token count.
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


def window_batches(lengths: Sequence[int], max_batch_tokens: int) -> list[list[int]]:
    """Indices sorted by length, cut into batches whose padded size stays within the token budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= max_batch_tokens:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def pad_windows(windows: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask [windows, tokens], zero-padded."""
    ids = np.zeros((len(windows), max(map(len, windows))), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return ids, mask


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

    ITEMS_PER_PASS = 64  # windowed bundles: items whose window features are held at once
    # Padded tokens per batch. On a CPU small window batches stay in cache: 512 ran 1.4x faster than
    # 8192 on the 2-core benchmark machine (benchmarks/judge_speed.py); a GPU wants big batches.
    CPU_WINDOW_BATCH_TOKENS = 512

    def __init__(self, bundle: JudgeBundle, providers: Sequence[str] | None = None, max_batch_tokens: int | None = None,
                 threads: int = 0):
        self.bundle = bundle
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        providers = list(providers or default_providers())
        self.session = ort.InferenceSession(str(bundle.model_path), options, providers=providers)
        head = bundle.manifest.head
        self.head = ort.InferenceSession(str(bundle.path / head), options, providers=providers) if head else None
        on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"
        self.max_batch_tokens = max_batch_tokens or (self.CPU_WINDOW_BATCH_TOKENS if head and on_cpu else 8192)
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

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Windowed bundles: features [windows, F] of a padded batch of windows."""
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def pool(self, features: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Windowed bundles: logits [items, K, L] from window features [items, windows, F]."""
        return self.head.run(["logits"], {"features": features, "present": present})[0]

    def predict(self, items: list[list[str]], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Logits for every item, in the order given; on_batch(n) reports progress."""
        encoded = [self.windows(segments) for segments in items]
        if any(not windows for windows in encoded):
            raise ValueError("an item has no text segments to judge")
        if self.head is not None:
            return np.concatenate([self.predict_windowed(encoded[start : start + self.ITEMS_PER_PASS], on_batch)
                                   for start in range(0, len(encoded), self.ITEMS_PER_PASS)])
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

    def predict_windowed(self, encoded: list[list[list[int]]], on_batch: Callable[[int], None] | None) -> np.ndarray:
        """Every window of these items encoded in length-sorted batches, then pooled per item."""
        slots = [(item, k) for item, windows in enumerate(encoded) for k in range(len(windows))]
        flat = [encoded[item][k] for item, k in slots]
        features: np.ndarray | None = None
        for batch in window_batches([len(w) for w in flat], self.max_batch_tokens):
            out = self.encode(*pad_windows([flat[j] for j in batch]))
            if features is None:
                features = np.zeros((len(encoded), max(map(len, encoded)), out.shape[1]), dtype=np.float32)
            for row, j in enumerate(batch):
                features[slots[j]] = out[row]
        present = np.zeros(features.shape[:2], dtype=np.float32)
        for item, k in slots:
            present[item, k] = 1.0
        logits = self.pool(features, present)
        if on_batch:
            on_batch(len(encoded))
        return logits


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
