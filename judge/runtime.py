"""Running a judge bundle with onnxruntime: tokenise, window, batch by length, predict.

This is the whole inference path and it needs no torch. A bundle is a window encoder
([windows, tokens] -> features) and a small pooling-and-heads graph ([items, windows, features] ->
logits; judge.model). Every window is batched with windows of its own length, whichever item it
belongs to, so almost no padding is computed; batches are capped by their padded token count.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from judge.bundle import MANIFEST, JudgeBundle
from judge.errors import InputError, Problem


def default_providers() -> list[str]:
    """CUDA when onnxruntime-gpu is installed and sees a GPU, else the CPU."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def segment_windows(tokenizer: Tokenizer, segments: list[str]) -> list[list[list[int]]]:
    """Per segment, the token ids of its windows: past the tokenizer's truncation length a segment
    overflows into further windows instead of being cut."""
    return [[e.ids] + [o.ids for o in e.overflowing] for e in tokenizer.encode_batch(segments)]


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


class OnnxJudge:
    """A loaded bundle that maps items (lists of text segments) to logits [N, K, L]."""

    ITEMS_PER_PASS = 64  # items whose window features are held at once
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
        if bundle.manifest.head is None:
            raise InputError([Problem(bundle.path / MANIFEST, None, "head", "names no heads graph: not a window judge bundle")])
        self.head = ort.InferenceSession(str(bundle.path / bundle.manifest.head), options, providers=providers)
        on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"
        self.max_batch_tokens = max_batch_tokens or (self.CPU_WINDOW_BATCH_TOKENS if on_cpu else 8192)
        self.tokenizer = Tokenizer.from_file(str(bundle.tokenizer_path))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(bundle.manifest.input.max_tokens)

    def windows(self, segments: list[str]) -> list[list[int]]:
        """Token ids of every window of every segment, in order."""
        return [w for windows in segment_windows(self.tokenizer, segments) for w in windows]

    def encode(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Features [windows, F] of a padded batch of windows."""
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    def pool(self, features: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Logits [items, K, L] from window features [items, windows, F]."""
        return self.head.run(["logits"], {"features": features, "present": present})[0]

    def predict(self, items: list[list[str]], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """Logits for every item, in the order given; on_batch(n) reports progress."""
        encoded = [self.windows(segments) for segments in items]
        if any(not windows for windows in encoded):
            raise ValueError("an item has no text segments to judge")
        return np.concatenate([self.predict_pass(encoded[start : start + self.ITEMS_PER_PASS], on_batch)
                               for start in range(0, len(encoded), self.ITEMS_PER_PASS)])

    def predict_pass(self, encoded: list[list[list[int]]], on_batch: Callable[[int], None] | None) -> np.ndarray:
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
