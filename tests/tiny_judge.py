"""A test-only judge bundle: a tiny randomly initialised BERT with a WordPiece vocabulary trained here,
exported through the real export code and run by the real runtime. Never shipped, never a default.
It needs torch (the test extra), so fixtures import it when used (conftest.tiny_bundle), not at collection."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import BertConfig, BertModel

from judge.dimensions import ESC_DIMENSIONS
from judge.export import export_bundle
from judge.model import PooledHeads

CORPUS = [
    "I feel so anxious about my exams and my parents keep pushing me.",
    "That sounds really hard. It makes sense you feel overwhelmed.",
    "My boss ignores me at work and I cannot sleep at night.",
    "Have you tried talking with someone you trust about it?",
    "我最近工作压力很大，晚上睡不着觉。",
    "听起来你真的很辛苦，你愿意多说一点吗？",
    "我和父母的关系一直不好，不知道该怎么办。",
]


def build_tokenizer(path: Path) -> Path:
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(CORPUS * 3, trainers.WordPieceTrainer(vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"]))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))]
    )
    tok.save(str(path))
    return path


def tiny_encoder(vocab: int) -> BertModel:
    return BertModel(BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False).eval()


def random_heads(dims: int, labels: int, seed: int, features: int = 32) -> PooledHeads:
    """Heads whose values spread over the label range on the tiny encoder's features."""
    rng = np.random.default_rng(seed)
    return PooledHeads(rng.normal(size=(2 * features, dims)) * 0.3, rng.uniform(0.5, labels - 1.5, size=dims), labels).eval()


def build_tiny_bundle(out_dir: Path, seed: int = 0, max_tokens: int = 32) -> Path:
    torch.manual_seed(seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = out_dir.parent / f"{out_dir.name}-tokenizer.json"
    build_tokenizer(work)
    vocab = Tokenizer.from_file(str(work)).get_vocab_size()
    heads = random_heads(len(ESC_DIMENSIONS), 5, seed)
    return export_bundle(tiny_encoder(vocab), (2,), heads, work.read_text(encoding="utf-8"), out_dir, {
        "name": "tiny-test",
        "version": "0.0.0",
        "track": "esc",
        "test_only": True,
        "description": "Randomly initialised; for tests of the scoring path only. Its scores mean nothing.",
        "dimensions": [{"name": d, "labels": [0, 1, 2, 3, 4]} for d in ESC_DIMENSIONS],
        "input": {"unit": "round", "template": "{user} [SEP] {assistant}", "max_tokens": max_tokens},
        "base": "random BertModel (hidden 32, 2 layers)",
    })
