"""Relevance as the base encoder sees it, untuned: does a reply answer *this* seeker turn?

multilingual-e5-small was pre-trained for query-passage retrieval, so with all 12 layers, `query: {seeker turn}` and
`passage: {reply}` mean-pooled and normalised, their cosine is a relevance score that no label in ../shared has
touched. judge.train.transfer reports it as one more column (`judge eval --transfer --relevance`): a direction to
measure, not part of a shipped bundle. Needs torch and the `train` extra (judge.train.base).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from judge.train.sources import Source

LAYER = 12
MAX_TOKENS = 128
NAME = "e5-12L relevance (untuned)"


class Relevance:
    """The base encoder, loaded once; scores are cached per source content."""

    def __init__(self, cache: Path, threads: int = 2):
        import torch
        from tokenizers import Tokenizer

        from judge.train.base import load_base

        torch.set_num_threads(threads)
        self.bert, tokenizer_json = load_base()
        self.tokenizer = Tokenizer.from_str(tokenizer_json)
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.cache = cache

    def embed(self, texts: list[str], per_batch: int = 64) -> np.ndarray:
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths together: less padding
        out = np.zeros((len(texts), self.bert.config.hidden_size), dtype=np.float32)
        for start in range(0, len(order), per_batch):
            idx = order[start : start + per_batch]
            enc = self.tokenizer.encode_batch([texts[i] for i in idx])
            ids = torch.ones((len(idx), max(len(e.ids) for e in enc)), dtype=torch.long)  # 1 = e5's pad id
            mask = torch.zeros_like(ids)
            for row, e in enumerate(enc):
                ids[row, : len(e.ids)] = torch.tensor(e.ids)
                mask[row, : len(e.ids)] = 1
            with torch.no_grad():
                hidden = self.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[LAYER]
            w = mask.unsqueeze(-1).float()
            out[idx] = torch.nn.functional.normalize((hidden * w).sum(1) / w.sum(1), dim=-1).numpy()
        return out

    def scores(self, source: Source) -> np.ndarray:
        """Per example, the mean over its replies of cos(query: seeker turn, passage: reply)."""
        pairs = [(u, a) for e in source.examples for u, a in e.rounds]
        digest = hashlib.sha256(json.dumps(pairs, ensure_ascii=False).encode()).hexdigest()[:12]
        path = self.cache / f"relevance-{LAYER}L-{source.name}-{digest}.npy"
        if path.exists():
            return np.load(path)
        cos = (self.embed([f"query: {u}" for u, _ in pairs]) * self.embed([f"passage: {a}" for _, a in pairs])).sum(1)
        owner = np.repeat(np.arange(len(source.examples)), [len(e.rounds) for e in source.examples])
        values = np.bincount(owner, cos) / np.maximum(np.bincount(owner), 1)
        self.cache.mkdir(parents=True, exist_ok=True)
        np.save(path, values)
        return values
