"""Export a torch judge to a bundle: ONNX graph with dynamic item/segment/token axes, tokenizer, manifest."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch

from judge.bundle import write_manifest


def export_onnx(model: torch.nn.Module, path: Path, opset: int = 17) -> None:
    """Trace the judge once with a 2x2x8 dummy batch; every axis stays dynamic."""
    model.eval()
    ids = torch.ones((2, 2, 8), dtype=torch.long)
    mask = torch.ones_like(ids)
    torch.onnx.export(
        model,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=["logits"],
        dynamic_axes={
            "input_ids": {0: "items", 1: "segments", 2: "tokens"},
            "attention_mask": {0: "items", 1: "segments", 2: "tokens"},
            "logits": {0: "items"},
        },
        opset_version=opset,
        dynamo=False,
    )


def export_bundle(model: torch.nn.Module, tokenizer_json: Path, out_dir: Path, manifest: dict[str, Any]) -> Path:
    """Write model.onnx, tokenizer.json and manifest.json into out_dir (created afresh)."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    export_onnx(model, out_dir / "model.onnx")
    shutil.copyfile(tokenizer_json, out_dir / "tokenizer.json")
    write_manifest(out_dir, {"model": "model.onnx", "tokenizer": "tokenizer.json", **manifest})
    return out_dir
