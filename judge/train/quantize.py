"""Int8 quantization that keeps agreement: dynamic int8 where it is safe, weight-only int8 where it is not.

Dynamic quantization also quantizes each MatMul's *input* activations per tensor. In this encoder the
feed-forward down-projections read GELU outputs with large outliers, and per-tensor uint8 there moved
expected scores by up to 0.5 on our reference items. Those MatMuls (and the activation x activation
attention products, and the small head) stay float at run time; the down-projection weights are still
stored as int8 with a per-column scale and a DequantizeLinear in front, so the file stays small.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def sensitive_matmuls(model: onnx.ModelProto) -> tuple[list[str], list[str]]:
    """(MatMuls to leave out of dynamic quantization, the subset whose weights get weight-only int8)."""
    inits = {i.name for i in model.graph.initializer}
    mms = [n for n in model.graph.node if n.op_type == "MatMul"]
    act_act = [n.name for n in mms if not any(i in inits for i in n.input)]
    head = [n.name for n in mms if "encoder" not in n.name]
    ffn_down = [n.name for n in mms if "/output/dense/" in n.name and "attention" not in n.name]
    return act_act + head + ffn_down, ffn_down


def weight_only_int8(path: Path, names: list[str]) -> None:
    """Store the weight of each named MatMul as int8 + per-column scale behind a DequantizeLinear."""
    model = onnx.load(str(path))
    inits = {i.name: i for i in model.graph.initializer}
    for node in [n for n in model.graph.node if n.name in names]:
        w_name = next(i for i in node.input if i in inits)
        w = numpy_helper.to_array(inits[w_name]).astype(np.float32)
        scale = np.maximum(np.abs(w).max(axis=0), 1e-8) / 127.0
        q = np.clip(np.rint(w / scale), -127, 127).astype(np.int8)
        model.graph.initializer.remove(inits[w_name])
        model.graph.initializer.extend([
            numpy_helper.from_array(q, w_name + "_q"),
            numpy_helper.from_array(scale.astype(np.float32), w_name + "_scale"),
            numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), w_name + "_zero"),
        ])
        model.graph.node.insert(list(model.graph.node).index(node), helper.make_node(
            "DequantizeLinear", [w_name + "_q", w_name + "_scale", w_name + "_zero"], [w_name], axis=1,
            name=node.name + "_weight_dequant"))
    onnx.save(model, str(path))
