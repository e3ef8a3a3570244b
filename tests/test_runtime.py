"""The ONNX judge matches its torch source, batches without changing results, and never cuts text."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

from judge.bundle import JudgeBundle, write_manifest
from judge.errors import InputError
from judge.esc import score_transcripts
from judge.export import export_bundle
from judge.model import SegmentJudge
from judge.runtime import OnnxJudge
from judge.transcript import Message, Transcript
from tiny_judge import build_tokenizer


@pytest.fixture(scope="module")
def torch_and_onnx(tmp_path_factory: pytest.TempPathFactory) -> tuple[SegmentJudge, JudgeBundle]:
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("export")
    tokenizer = build_tokenizer(folder / "tok.json")
    encoder = BertModel(BertConfig(vocab_size=400, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False)
    model = SegmentJudge(encoder, 3, 5).eval()
    bundle = export_bundle(model, tokenizer, folder / "bundle", {
        "name": "t", "version": "0", "track": "esc", "test_only": True,
        "dimensions": [{"name": n, "labels": [0, 1, 2, 3, 4]} for n in ("fluency", "diversity", "empathic")],
        "input": {"unit": "round", "template": "{user} [SEP] {assistant}", "max_tokens": 16},
    })
    return model, JudgeBundle.load(bundle)


def test_onnx_matches_torch_on_padded_batches(torch_and_onnx) -> None:
    model, bundle = torch_and_onnx
    judge = OnnxJudge(bundle)
    items = [["I feel lonely [SEP] I am here for you"], ["a", "b c d e f", "我很难过 [SEP] 我在听"]]
    got = judge.predict(items)
    for i, segments in enumerate(items):
        windows = judge.windows(segments)
        ids = torch.zeros((1, len(windows), max(map(len, windows))), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for s, w in enumerate(windows):
            ids[0, s, : len(w)] = torch.tensor(w)
            mask[0, s, : len(w)] = 1
        with torch.no_grad():
            expected = model(ids, mask).numpy()[0]
        np.testing.assert_allclose(got[i], expected, atol=1e-4)


def test_batching_does_not_change_results(torch_and_onnx) -> None:
    _, bundle = torch_and_onnx
    items = [["short"], ["a much longer segment " * 3, "and another"], ["x"] * 5]
    together = OnnxJudge(bundle).predict(items)
    one_by_one = np.concatenate([OnnxJudge(bundle, max_batch_tokens=1).predict([it]) for it in items])
    np.testing.assert_allclose(together, one_by_one, atol=1e-5)


def test_long_segments_overflow_into_windows(torch_and_onnx) -> None:
    _, bundle = torch_and_onnx
    judge = OnnxJudge(bundle)
    text = " ".join(["I feel so anxious about my exams"] * 8)
    windows = judge.windows([text])
    assert len(windows) >= 3 and all(len(w) <= 16 for w in windows)
    whole = Tokenizer.from_file(str(bundle.tokenizer_path)).encode(text, add_special_tokens=False).ids
    assert [i for w in windows for i in w[1:-1]] == whole  # every token kept, in order, once


def test_code_names_are_read_as_paper_names(torch_and_onnx) -> None:
    _, bundle = torch_and_onnx
    t = Transcript("d", "en", None, (Message("assistant", "hi"), Message("user", "sad"), Message("assistant", "ok")), Path("x"), 1)
    [result] = score_transcripts(OnnxJudge(bundle), [t])
    assert list(result.scores) == ["fluency", "expression", "empathy"]
    assert all(0 <= result.expected[d] <= 4 for d in result.scores)
    assert result.judge == f"t@{bundle.sha[:12]}"


def test_tampered_bundle_is_refused(torch_and_onnx, tmp_path: Path) -> None:
    _, bundle = torch_and_onnx
    copy = tmp_path / "copy"
    shutil.copytree(bundle.path, copy)
    with (copy / "tokenizer.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(InputError, match="sha256 does not match"):
        JudgeBundle.load(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    write_manifest(copy, {k: v for k, v in manifest.items() if k not in ("format", "files")})
    assert JudgeBundle.load(copy).sha != bundle.sha


@pytest.fixture(scope="module")
def windowed(tmp_path_factory: pytest.TempPathFactory):
    """A bundle shaped like the shipped ones: window encoder + pooled heads, from the export code."""
    from judge.train.features import WindowEncoder, export_window_encoder
    from judge.train.net import PooledHeads, export_heads

    torch.manual_seed(2)
    folder = tmp_path_factory.mktemp("windowed")
    tokenizer = build_tokenizer(folder / "tokenizer.json")
    encoder = BertModel(BertConfig(vocab_size=400, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                   intermediate_size=64, max_position_embeddings=64), add_pooling_layer=False).eval()
    rng = np.random.default_rng(0)
    heads = PooledHeads(rng.normal(size=(64, 3)) * 0.3, rng.normal(size=3) + 2, 5).eval()
    bundle_dir = folder / "bundle"
    bundle_dir.mkdir()
    shutil.copyfile(tokenizer, bundle_dir / "tokenizer.json")
    export_window_encoder(encoder, (2,), bundle_dir / "model.onnx")
    export_heads(heads, 32, bundle_dir / "head.onnx")
    write_manifest(bundle_dir, {
        "name": "w", "version": "0", "track": "esc", "test_only": True, "model": "model.onnx", "head": "head.onnx",
        "tokenizer": "tokenizer.json", "dimensions": [{"name": n, "labels": [0, 1, 2, 3, 4]} for n in ("fluency", "empathy", "overall")],
        "input": {"unit": "round", "template": "{user} [SEP] {assistant}", "max_tokens": 16},
    })
    return WindowEncoder(encoder, (2,)).eval(), heads, JudgeBundle.load(bundle_dir)


def test_windowed_bundle_matches_torch_item_by_item(windowed) -> None:
    encoder, heads, bundle = windowed
    judge = OnnxJudge(bundle)
    items = [["I feel lonely [SEP] I am here for you"], ["a", " ".join(["my exams worry me"] * 9), "我很难过 [SEP] 我在听"], ["x"] * 4]
    got = judge.predict(items)
    for i, segments in enumerate(items):
        with torch.no_grad():
            feats = torch.cat([encoder(torch.tensor([w]), torch.ones((1, len(w)), dtype=torch.long)) for w in judge.windows(segments)])
            expected = heads(feats.unsqueeze(0), torch.ones((1, len(feats)))).numpy()[0]
        np.testing.assert_allclose(got[i], expected, atol=1e-4)
    one_by_one = np.concatenate([OnnxJudge(bundle, max_batch_tokens=1).predict([it]) for it in items])
    np.testing.assert_allclose(got, one_by_one, atol=1e-4)
