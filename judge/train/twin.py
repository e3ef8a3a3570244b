"""A judge bundle's PyTorch twin, built from the bundle alone: the benchmark's reference engine.

The shipped encoder stores its weights as int8 behind DequantizeLinear nodes (judge.train.quantize). The
twin is a transformers BertModel of the same shape whose every parameter is the bundle's weight,
dequantized to float32, and the bundle's heads in judge.model.PooledHeads: the same function in fp32
PyTorch, so `benchmarks/judge_speed.py` runs from a clean clone without `judge train`.
Parameters are matched by name: biases, LayerNorms and embeddings keep their torch names in the
export; a Linear's weight is the MatMul whose output its bias is added to.
"""
from __future__ import annotations

import re

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from judge.bundle import JudgeBundle
from judge.model import PooledHeads, WindowEncoder
from judge.train.base import load_base


def dequantized(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant the graph computes from initializers alone: initializers, and DequantizeLinear of them."""
    values = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "DequantizeLinear" and all(i in values for i in node.input if i):
            q, scale, zero = (values[i].astype(np.float32) for i in node.input)
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            if scale.ndim:  # per column (weight-only MatMuls: axis 1 of [in, out])
                shape = [1] * q.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            values[node.output[0]] = (q - zero) * scale
    return values


def state_dict(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """torch parameter name -> float32 array, from the exported window encoder graph."""
    values = dequantized(model)
    out = {name: v for name, v in values.items() if name.startswith("bert.")}
    for node in model.graph.node:  # embeddings quantized as whole tables: NAME_quantized/_scale/_zero_point
        if node.op_type == "Gather" and node.input[0].endswith("_quantized"):
            base = node.input[0][: -len("_quantized")]
            out[base] = (values[node.input[0]].astype(np.float32) - values[base + "_zero_point"]) * values[base + "_scale"]
    producer = {o: n for n in model.graph.node for o in n.output}
    for node in model.graph.node:
        bias = next((i for i in node.input if i.endswith(".bias") and i in values), None)
        if node.op_type != "Add" or bias is None:
            continue
        matmul = producer.get(next(i for i in node.input if i != bias))
        if matmul is not None and matmul.op_type == "MatMul":
            weight = next(i for i in matmul.input if i in values)
            out[bias[: -len(".bias")] + ".weight"] = values[weight].T
    return {k: v for k, v in out.items() if not re.search(r"_(quantized|scale|zero_point)$", k)}


def torch_twin(bundle: JudgeBundle) -> tuple[WindowEncoder, PooledHeads]:
    """(window encoder, heads) in fp32 PyTorch computing what the bundle's two graphs compute."""
    weights = state_dict(onnx.load(str(bundle.model_path)))
    layers = 1 + max(int(m.group(1)) for k in weights if (m := re.match(r"bert\.encoder\.layer\.(\d+)\.", k)))
    bert, _ = load_base()
    bert.encoder.layer = bert.encoder.layer[:layers]
    bert.config.num_hidden_layers = layers
    vocab = weights["bert.embeddings.word_embeddings.weight"].shape[0]
    bert.embeddings.word_embeddings = torch.nn.Embedding(vocab, bert.config.hidden_size, padding_idx=1)
    bert.config.vocab_size, bert.config.pad_token_id = vocab, 1
    params = dict(bert.named_parameters(prefix="bert"))
    missing = sorted(set(params) - set(weights))
    if missing:
        raise ValueError(f"{bundle.model_path}: no weight for {', '.join(missing[:5])}")
    with torch.no_grad():
        for name, p in params.items():
            p.copy_(torch.from_numpy(np.ascontiguousarray(weights[name], dtype=np.float32)))
    bert.set_attn_implementation("eager")
    head = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(bundle.path / bundle.manifest.head)).graph.initializer}
    heads = PooledHeads(head["weight"], head["bias"], len(head["labels"]))
    return WindowEncoder(bert.eval(), (layers,)).eval(), heads.eval()
