"""Vocabulary pruning: keep only the e5 pieces that a broad English+Chinese corpus uses.

multilingual-e5-small spends 96M of its 118M parameters on a 250k-piece embedding table, most of
it for other scripts. We keep every piece the SentencePiece (Unigram) model picks when tokenizing
the corpus below, plus every single-character CJK, kana, hangul, Latin and punctuation piece, so
unseen Chinese text still falls back to characters instead of <unk>. Because Unigram decoding
takes the best path over the pieces that exist, text made only of kept pieces tokenizes exactly
as before; other text takes the best path over the kept pieces.

Corpus: all text of the training sets in ../shared, ESC-Eval role cards and transcripts, the
MLLMGuard prompt file, and the most frequent words of English and Chinese from `wordfreq`.
"""
from __future__ import annotations

import csv
import json
import unicodedata
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from judge.train.data import SHARED

SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def _keep_char(ch: str) -> bool:
    """Single characters worth keeping even if unseen: CJK, kana, ASCII, Latin-1, punctuation."""
    o = ord(ch)
    return (o < 0x250 or 0x2000 <= o < 0x2070 or 0x3000 <= o < 0x30FF or 0x3400 <= o < 0x9FFF
            or 0xF900 <= o < 0xFAFF or 0xFF00 <= o < 0xFFEF or unicodedata.category(ch).startswith("P"))


def shared_texts(root: Path = SHARED) -> Iterable[str]:
    """Every text field of the shared data sets (the judges' own domain)."""
    for path in sorted(root.rglob("*")):
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", errors="ignore") as fh:
                for row in csv.reader(fh):
                    yield from row
        elif path.suffix in (".json", ".jsonl"):
            raw = path.read_text(encoding="utf-8")
            docs = [json.loads(line) for line in raw.splitlines() if line.strip()] if path.suffix == ".jsonl" else [json.loads(raw)]
            stack = list(docs)
            while stack:
                x = stack.pop()
                if isinstance(x, str):
                    yield x
                elif isinstance(x, dict):
                    stack.extend(x.values())
                elif isinstance(x, list):
                    stack.extend(x)


def wordfreq_texts(n_words: int) -> Iterable[str]:
    """The n most frequent English and Chinese words (wordfreq, a broad multi-source corpus)."""
    from wordfreq import top_n_list

    for lang in ("en", "zh"):
        words = top_n_list(lang, n_words)
        yield from words
        if lang == "en":
            yield from (w.capitalize() for w in words)


def kept_ids(tokenizer: Tokenizer, texts: Iterable[str], batch: int = 4096) -> list[int]:
    """Ids used by the corpus, plus specials and single-character pieces; sorted (order preserved)."""
    vocab: list[list] = json.loads(tokenizer.to_str())["model"]["vocab"]
    keep = {i for i, (piece, _) in enumerate(vocab) if piece in SPECIALS}
    keep |= {i for i, (piece, _) in enumerate(vocab) if len(piece.lstrip("▁")) == 1 and _keep_char(piece.lstrip("▁"))}
    buf: list[str] = []
    for t in texts:
        if t:
            buf.append(t)
        if len(buf) >= batch:
            keep.update(i for e in tokenizer.encode_batch(buf, add_special_tokens=False) for i in e.ids)
            buf = []
    if buf:
        keep.update(i for e in tokenizer.encode_batch(buf, add_special_tokens=False) for i in e.ids)
    return sorted(keep | {len(vocab) - 1})


def prune_tokenizer(tokenizer_json: str, keep: list[int]) -> str:
    """tokenizer.json restricted to `keep` (old ids, ascending); new id = position in keep."""
    j = json.loads(tokenizer_json)
    old = j["model"]["vocab"]
    remap = {o: n for n, o in enumerate(keep)}
    j["model"]["vocab"] = [old[i] for i in keep]
    j["model"]["unk_id"] = remap[j["model"]["unk_id"]]
    for tok in j["added_tokens"]:
        tok["id"] = remap[tok["id"]]
    for spec in j["post_processor"]["special_tokens"].values():
        spec["ids"] = [remap[i] for i in spec["ids"]]
    j["truncation"] = j["padding"] = None
    return json.dumps(j, ensure_ascii=False)


def prune_embeddings(weight: np.ndarray, keep: list[int]) -> np.ndarray:
    return weight[np.asarray(keep)]
