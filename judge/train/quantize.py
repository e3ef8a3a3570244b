"""Int8 weights, float arithmetic: the one quantization scheme of the shipped encoders.

Every encoder MatMul runs in float on weights stored as int8 (per output column, behind a
DequantizeLinear), and the embedding tables are int8: the file is about as small as full int8, the only
error left is the weights' rounding, and no activation is quantized, so nothing is shared across a batch.
Dynamic int8 of the activations (with SmoothQuant-rescaled down-projections, the scheme esc-lite 1.0 used)
was faster but moved held-out metrics by up to 0.015 and made a score depend on its batch; it was removed
in esc-lite 1.1. The activation x activation attention products stay float.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper


def weight_matmuls(model: onnx.ModelProto) -> list[str]:
    """The MatMuls that read a weight (an initializer); activation x activation products are left alone."""
    inits = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and any(i in inits for i in n.input)]


def quantize(fp32: Path, out: Path) -> None:
    """Int8 copy of the fp32 encoder graph: embedding tables by onnxruntime, every weight MatMul weight-only."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(str(fp32))
    matmuls = [n.name for n in model.graph.node if n.op_type == "MatMul"]
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather"],
                     per_channel=True, nodes_to_exclude=matmuls, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    weight_only_int8(out, weight_matmuls(model))


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
