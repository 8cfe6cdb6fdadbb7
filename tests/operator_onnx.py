"""Small ONNX recognizers built in the test (onnx.helper): 1x3x112x112 -> strided conv -> flatten -> MatMul
with a fixed random matrix -> 1x64, and broken variants each check must refuse."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM = 64  # narrower than the built-in models' 128: each model's index has its own width


def recognizer(
    path: Path,
    *,
    seed: int = 0,
    input_shape: tuple[int | str, ...] = ("batch", 3, 112, 112),
    two_outputs: bool = False,
    pad_bytes: int = 0,
    dim: int = DIM,
) -> Path:
    """A deterministic 'recognizer': an 8x8 stride-8 conv (3 -> 4 channels, 14x14) then a random projection.
    Different faces give different vectors; `pad_bytes` adds an unused initializer (a large file)."""
    rng = np.random.default_rng(seed)
    conv = rng.standard_normal((4, 3, 8, 8)).astype(np.float32) / 64
    projection = rng.standard_normal((4 * 14 * 14, dim)).astype(np.float32)
    inits = [numpy_helper.from_array(conv, "conv_w"), numpy_helper.from_array(projection, "proj")]
    if pad_bytes:
        inits.append(numpy_helper.from_array(np.zeros(pad_bytes // 4, np.float32), "unused_padding"))
    nodes = [
        helper.make_node("Conv", ["image", "conv_w"], ["features"], strides=[8, 8], kernel_shape=[8, 8]),
        helper.make_node("Flatten", ["features"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "proj"], ["embedding"]),
    ]
    outputs = [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", dim])]
    if two_outputs:
        nodes.append(helper.make_node("Identity", ["flat"], ["flat_out"]))
        outputs.append(helper.make_tensor_value_info("flat_out", TensorProto.FLOAT, ["batch", 4 * 14 * 14]))
    graph = helper.make_graph(
        nodes,
        "tiny_recognizer",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, list(input_shape))],
        outputs,
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    onnx.save(model, path)
    return path
