"""The ONNX judge matches its torch source and never cuts text (batching: tests/test_batch_independence.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer

from judge.bundle import JudgeBundle, write_manifest
from judge.errors import InputError
from judge.esc import score_transcripts
from judge.export import export_bundle
from judge.model import WindowEncoder
from judge.runtime import OnnxJudge
from judge.transcript import Message, Transcript
from tiny_judge import build_tokenizer, random_heads, tiny_encoder


@pytest.fixture(scope="module")
def torch_and_onnx(tmp_path_factory: pytest.TempPathFactory):
    """A tiny window encoder and heads in torch, and the bundle judge.export makes of them."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("export")
    tokenizer = build_tokenizer(folder / "tok.json")
    encoder, heads = tiny_encoder(400), random_heads(3, 5, seed=1)
    bundle = export_bundle(encoder, (2,), heads, tokenizer.read_text(encoding="utf-8"), folder / "bundle", {
        "name": "t", "version": "0", "track": "esc", "test_only": True,
        "dimensions": [{"name": n, "labels": [0, 1, 2, 3, 4]} for n in ("fluency", "diversity", "empathic")],
        "input": {"unit": "round", "template": "{user} [SEP] {assistant}", "max_tokens": 16},
    })
    return WindowEncoder(encoder, (2,)).eval(), heads, JudgeBundle.load(bundle)


def test_onnx_matches_torch_item_by_item(torch_and_onnx) -> None:
    encoder, heads, bundle = torch_and_onnx
    judge = OnnxJudge(bundle)
    items = [["I feel lonely [SEP] I am here for you"], ["a", " ".join(["my exams worry me"] * 9), "我很难过 [SEP] 我在听"], ["x"] * 4]
    got = judge.predict(items)
    for i, segments in enumerate(items):
        with torch.no_grad():
            feats = torch.cat([encoder(torch.tensor([w]), torch.ones((1, len(w)), dtype=torch.long)) for w in judge.windows(segments)])
            expected = heads(feats.unsqueeze(0), torch.ones((1, len(feats)))).numpy()[0]
        np.testing.assert_allclose(got[i], expected, atol=1e-4)


def test_long_segments_overflow_into_windows(torch_and_onnx) -> None:
    *_, bundle = torch_and_onnx
    judge = OnnxJudge(bundle)
    text = " ".join(["I feel so anxious about my exams"] * 8)
    windows = judge.windows([text])
    assert len(windows) >= 3 and all(len(w) <= 16 for w in windows)
    whole = Tokenizer.from_file(str(bundle.tokenizer_path)).encode(text, add_special_tokens=False).ids
    assert [i for w in windows for i in w[1:-1]] == whole  # every token kept, in order, once


def test_code_names_are_read_as_paper_names(torch_and_onnx) -> None:
    *_, bundle = torch_and_onnx
    t = Transcript("d", "en", None, (Message("assistant", "hi"), Message("user", "sad"), Message("assistant", "ok")), Path("x"), 1)
    [result] = score_transcripts(OnnxJudge(bundle), [t])
    assert list(result.scores) == ["fluency", "expression", "empathy"]
    assert all(0 <= result.expected[d] <= 4 for d in result.scores)
    assert result.judge == f"t@{bundle.sha[:12]}"


def test_tampered_bundle_is_refused(torch_and_onnx, tmp_path: Path) -> None:
    *_, bundle = torch_and_onnx
    copy = tmp_path / "copy"
    shutil.copytree(bundle.path, copy)
    with (copy / "tokenizer.json").open("a") as fh:
        fh.write(" ")
    with pytest.raises(InputError, match="sha256 does not match"):
        JudgeBundle.load(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    write_manifest(copy, {k: v for k, v in manifest.items() if k not in ("format", "files")})
    assert JudgeBundle.load(copy).sha != bundle.sha
