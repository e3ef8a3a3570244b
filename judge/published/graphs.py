"""The scoring graphs of the published judges, and their export to ONNX with one external data file.

A prompt judge's graph takes input_ids and attention_mask [B, T] (right-padded) and returns `logits`
[B, L]: one score per label, read at the last real token. For ESC-RANK these are the next-token
logits of the label digits (one forward pass instead of generation), and the LoRA matrices of the
dimension being judged are graph inputs, so seven (fourteen, with both languages) adapters share one
copy of the 7B base instead of seven merged copies.
"""
from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import onnx
import torch
from onnx.external_data_helper import uses_external_data
from torch import nn

from judge.published.weights import Adapter

OPSET = 17


def last_token(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The hidden state of each row's last real token (rows are right-padded)."""
    last = attention_mask.sum(-1) - 1
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


class _FedLora(nn.Module):
    """A projection plus the LoRA delta x A^T B^T, with A and B (scale folded in) taken from graph inputs."""

    def __init__(self, base: nn.Linear, feed: dict[str, torch.Tensor], proj: str, layer: int):
        super().__init__()
        self.base, self.feed, self.proj, self.layer = base, feed, proj, layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.feed[f"lora_a_{self.proj}"][self.layer]
        b = self.feed[f"lora_b_{self.proj}"][self.layer]
        return self.base(x) + torch.matmul(torch.matmul(x, a.transpose(0, 1)), b.transpose(0, 1))


class DigitScorer(nn.Module):
    """Causal LM + LoRA inputs -> next-token logits of the label tokens after the whole prompt."""

    def __init__(self, lm: nn.Module, label_token_ids: Sequence[int], projections: Sequence[str]):
        super().__init__()
        self.body = lm.model
        self.head = nn.Parameter(lm.lm_head.weight[list(label_token_ids)].detach().clone(), requires_grad=False)
        self.projections = tuple(projections)
        self.feed: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(self.body.layers):
            for p in self.projections:
                setattr(layer.self_attn, f"{p}_proj", _FedLora(getattr(layer.self_attn, f"{p}_proj"), self.feed, p, i))

    @property
    def lora_names(self) -> list[str]:
        return [f"lora_{m}_{p}" for p in self.projections for m in "ab"]

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, *lora: torch.Tensor) -> torch.Tensor:
        self.feed.update(zip(self.lora_names, lora))
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return torch.matmul(last_token(hidden, attention_mask), self.head.transpose(0, 1))


class LastTokenClassifier(nn.Module):
    """A (LoRA-merged) LlamaForSequenceClassification: its score head on the last real token."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.body, self.score = model.model, model.score

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).last_hidden_state
        return self.score(last_token(hidden, attention_mask))


class RobertaGuard(nn.Module):
    """GuardRank's hallucination classifier: RoBERTa pooler output -> linear -> ReLU (its key names kept)."""

    def __init__(self, roberta: nn.Module, labels: int = 2):
        super().__init__()
        self.roberta = roberta  # its dropout before `linear` is inactive at inference, so it is left out
        self.linear = nn.Linear(roberta.config.hidden_size, labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        pooled = self.roberta(input_ids=input_ids, attention_mask=attention_mask).pooler_output
        return torch.relu(self.linear(pooled))


def adapter_inputs(adapter: Adapter | None, projections: Sequence[str], like: nn.Module) -> dict[str, torch.Tensor]:
    """An adapter's graph inputs: lora_a_P [layers, r, in], lora_b_P [layers, out, r]; zeros where it has no P."""
    layer = like.body.layers[0].self_attn
    out: dict[str, torch.Tensor] = {}
    dtype = like.head.dtype
    for p in projections:
        proj = getattr(layer, f"{p}_proj").base
        if adapter is not None and p in adapter.a:
            out[f"lora_a_{p}"] = torch.stack(adapter.a[p]).to(dtype)
            out[f"lora_b_{p}"] = torch.stack(adapter.b[p]).to(dtype)
        else:
            n = len(like.body.layers)
            out[f"lora_a_{p}"] = torch.zeros((n, 1, proj.in_features), dtype=dtype)
            out[f"lora_b_{p}"] = torch.zeros((n, proj.out_features, 1), dtype=dtype)
    return out


def export_graph(module: nn.Module, out: Path, extra: dict[str, torch.Tensor] | None = None) -> int:
    """Export to out (+ out.data holding every weight); returns the parameter count. Batch and length stay dynamic."""
    module.eval()
    device = next(module.parameters()).device
    ids = torch.full((2, 8), 3, dtype=torch.long, device=device)
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    extra = {k: v.to(device) for k, v in (extra or {}).items()}
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "logits": {0: "batch"}}
    axes |= {name: {1 if "_a_" in name else 2: f"rank_{name[-1]}"} for name in extra}  # adapters differ in rank
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp, torch.no_grad():
        raw = Path(tmp) / "graph.onnx"
        torch.onnx.export(
            module, (ids, mask, *extra.values()), str(raw), input_names=["input_ids", "attention_mask", *extra],
            output_names=["logits"], dynamic_axes=axes, opset_version=OPSET, dynamo=False,
        )
        one_data_file(raw, out)
    return sum(p.numel() for p in module.parameters())


def one_data_file(src: Path, dst: Path) -> None:
    """Rewrite an ONNX model so every weight sits in one `dst.name`.data file beside it, streaming tensor by tensor
    (the exporter writes one file per tensor past 2 GB; loading it whole would double the memory needed)."""
    model = onnx.load(str(src), load_external_data=False)
    data = dst.with_name(dst.name + ".data")
    tensors = [t for t in model.graph.initializer] + [
        a.t for node in model.graph.node for a in node.attribute if a.HasField("t")
    ]
    with data.open("wb") as sink:
        for tensor in tensors:
            if uses_external_data(tensor):
                info = {e.key: e.value for e in tensor.external_data}
                with (src.parent / info["location"]).open("rb") as fh:
                    fh.seek(int(info.get("offset", 0)))
                    raw = fh.read(int(info["length"])) if "length" in info else fh.read()
            elif len(tensor.raw_data) >= 1024:
                raw = tensor.raw_data
            else:
                continue
            sink.write(b"\0" * (-sink.tell() % 64))
            offset = sink.tell()
            sink.write(raw)
            tensor.ClearField("raw_data")
            del tensor.external_data[:]
            for key, value in (("location", data.name), ("offset", str(offset)), ("length", str(len(raw)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            tensor.data_location = onnx.TensorProto.EXTERNAL
    onnx.save_model(model, str(dst))
