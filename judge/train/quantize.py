"""Int8 quantization that keeps agreement: two schemes, chosen per judge by what held-out data showed.

Dynamic quantization also quantizes each MatMul's *input* activations per tensor. In this encoder the
feed-forward down-projections read GELU outputs whose few large channels set the scale for all.

- "weights": every encoder MatMul runs in float on weights stored as int8 (weight-only, per column,
  behind a DequantizeLinear): the file is as small as int8, the arithmetic is float, and the only error
  left is the weights' rounding.
- "smoothed": every encoder MatMul is dynamic int8, after each down-projection's input channels are
  divided by s_j = max|x_j|^a / max|W_j|^(1-a) and its weight rows multiplied by s_j (SmoothQuant,
  Xiao et al. 2023). The fp32 function is unchanged; the outliers move into the int8 weights,
  which are quantized per column. Faster, and it needs calibration text.

The activation x activation attention products stay float under both.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper


def float_matmuls(model: onnx.ModelProto, scheme: str) -> tuple[list[str], list[str]]:
    """(MatMuls to leave out of dynamic quantization, the subset whose weights get weight-only int8)."""
    inits = {i.name for i in model.graph.initializer}
    mms = [n for n in model.graph.node if n.op_type == "MatMul"]
    act_act = [n.name for n in mms if not any(i in inits for i in n.input)]
    weight_only = [n.name for n in mms if n.name not in act_act] if scheme == "weights" else []
    return act_act + weight_only, weight_only


def quantize(fp32: Path, out: Path, scheme: str) -> None:
    """Int8 copy of the fp32 encoder graph under `scheme` ("weights" or "smoothed", see above)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    exclude, weight_only = float_matmuls(onnx.load(str(fp32)), scheme)
    quantize_dynamic(str(fp32), str(out), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gather"],
                     per_channel=True, nodes_to_exclude=exclude, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    weight_only_int8(out, weight_only)


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


def smooth_down_projections(bert, windows: list[list[int]], alpha: float) -> None:
    """Rescale every FFN down-projection of `bert` in place (see the module docstring), calibrated on `windows`."""
    peaks: dict[int, torch.Tensor] = {}

    def record(i: int):
        def hook(_module, inputs):
            x = inputs[0].detach().abs().flatten(0, -2).amax(0)
            peaks[i] = torch.maximum(peaks[i], x) if i in peaks else x
        return hook

    handles = [layer.output.dense.register_forward_pre_hook(record(i)) for i, layer in enumerate(bert.encoder.layer)]
    with torch.inference_mode():
        for ids in windows:
            x = torch.tensor([ids])
            bert(input_ids=x, attention_mask=torch.ones_like(x))
    for h in handles:
        h.remove()
    for i, layer in enumerate(bert.encoder.layer):
        dense = layer.output.dense
        s = peaks[i].clamp(min=1e-5) ** alpha / dense.weight.detach().abs().amax(0).clamp(min=1e-5) ** (1 - alpha)
        layer.output.dense = Smoothed(dense, s)


class Smoothed(torch.nn.Module):
    """A Linear whose input is divided by s per channel and whose weight columns are multiplied by s."""

    def __init__(self, dense: torch.nn.Linear, s: torch.Tensor):
        super().__init__()
        self.register_buffer("inverse", (1.0 / s).to(torch.float32))
        dense.weight.data = dense.weight.data * s
        self.dense = dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(x * self.inverse)
