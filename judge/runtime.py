"""Running a judge bundle with onnxruntime: tokenise, window, batch by length, predict.

This is the whole inference path and it needs no torch. A bundle is a window encoder
([windows, tokens] -> features) and a small pooling-and-heads graph ([items, windows, features] ->
logits; judge.model). Every window is batched with windows of its own padded length, whichever item
it belongs to, so little padding is computed; batches are capped by their padded token count.

A score must be a function of the item alone (the store caches it by content hash). So a window is
padded to a length that depends only on itself (its length rounded up to PAD_MULTIPLE), every batch
has the same number of windows (the last one of a length filled up with copies), and each item's
windows are pooled by the heads graph on their own: onnxruntime's CPU kernels then do the same
arithmetic for a window whatever else is in its batch and on any thread count (a batch of another size
moves features by about 3e-7). The shipped encoders keep activations in float (int8 weights
only, judge.train.quantize), so no scale is shared across a batch either; tests/test_runtime.py checks
scores alone, in other batch mixes and on 1 or 2 threads are identical.
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


PAD_MULTIPLE = 8  # windows are padded to a multiple of this many tokens


def padded_length(n: int) -> int:
    """The length a window of n tokens is padded to: a function of the window alone."""
    return -(-n // PAD_MULTIPLE) * PAD_MULTIPLE


def window_batches(lengths: Sequence[int], per_batch: int) -> list[list[int]]:
    """Indices grouped by padded length (padded_length), at most per_batch to a batch."""
    order = sorted(range(len(lengths)), key=lambda i: (padded_length(lengths[i]), i))
    batches: list[list[int]] = []
    for i in order:
        if batches and padded_length(lengths[batches[-1][0]]) == padded_length(lengths[i]) and len(batches[-1]) < per_batch:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


def pad_windows(windows: Sequence[list[int]], rows: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask [rows, tokens], zero-padded to the windows' common padded length; rows past
    the windows given repeat the first one (their results are dropped)."""
    windows = list(windows) + [windows[0]] * max(0, (rows or 0) - len(windows))
    ids = np.zeros((len(windows), max(padded_length(len(w)) for w in windows)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return ids, mask


class OnnxJudge:
    """A loaded bundle that maps items (lists of text segments) to logits [N, K, L]."""

    ITEMS_PER_PASS = 64  # items whose window features are held at once
    # Windows per batch, always this many (see the module docstring). On a 2-core CPU one window at a time was
    # as fast as 4 or 8 (a window of a few dozen tokens is already a matrix product of that many rows, and no
    # filler is computed); a GPU wants big batches.
    CPU_WINDOWS_PER_BATCH = 1
    GPU_WINDOWS_PER_BATCH = 64

    def __init__(self, bundle: JudgeBundle, providers: Sequence[str] | None = None, windows_per_batch: int | None = None,
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
        self.windows_per_batch = windows_per_batch or (self.CPU_WINDOWS_PER_BATCH if on_cpu else self.GPU_WINDOWS_PER_BATCH)
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
        for batch in window_batches([len(w) for w in flat], self.windows_per_batch):
            out = self.encode(*pad_windows([flat[j] for j in batch], self.windows_per_batch))
            if features is None:
                features = np.zeros((len(encoded), max(map(len, encoded)), out.shape[1]), dtype=np.float32)
            for row, j in enumerate(batch):
                features[slots[j]] = out[row]
        logits = np.concatenate([self.pool(features[item : item + 1, : len(windows)], np.ones((1, len(windows)), np.float32))
                                 for item, windows in enumerate(encoded)])  # each item pooled on its own
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
