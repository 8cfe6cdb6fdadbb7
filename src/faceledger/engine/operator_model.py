"""The operator-supplied model slot: a recognizer a deployment has licensed (ArcFace/AdaFace-class ONNX:
1x3x112x112 aligned face in, one embedding out), embedded on the same 112 px five-point template chip as
SFace (engine/sface.py's alignment). Its vector is L2-normalised here and scored, like SFace's, as the
Euclidean distance between unit vectors.

The file is checked before a deployment stores it (validate_model_file) and its sha256 again every time
it is loaded. What the engine needs to load it (file, sha256, input spec) is in a manifest beside the
file, written by services/model_admin/operator_models.py; the database row is the record of who added it and why."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from faceledger.engine import sface
from faceledger.engine.calibration import CalibrationTable, load_calibration
from faceledger.engine.onnx_models import make_session, prepared_graph
from faceledger.engine.stages import Spot, template_chips
from faceledger.errors import EngineUnavailable, InvalidInput
from faceledger.types import ColourOrder, FloatVector, ModelIdentity, OnnxProvider, PixelScale, RGBImage

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort

    from faceledger.config import Settings

VERSION = "operator"  # ModelIdentity.version of every added model: the sha256 tells them apart
CHIP_SIZE_PX = sface.CHIP_SIZE_PX
_FLOAT_TYPES = {"tensor(float)", "tensor(float16)", "tensor(double)"}


@dataclass(frozen=True)
class OperatorSpec:
    """What the engine needs to load an added model."""

    name: str
    sha256: str
    colour: ColourOrder
    scale: PixelScale
    path: Path

    def identity(self) -> ModelIdentity:
        return ModelIdentity(name=self.name, version=VERSION, weights_sha256=self.sha256)

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "sha256": self.sha256,
            "input_colour": self.colour.value,
            "pixel_scale": self.scale.value,
            "file": self.path.name,
        }


@dataclass(frozen=True)
class CheckedModel:
    """A file that passed validate_model_file."""

    sha256: str
    size_bytes: int
    embedding_dim: int
    input_shape: tuple[str, ...]


def manifest_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.json"


def model_file(folder: Path, sha256: str) -> Path:
    return folder / f"{sha256}.onnx"


def calibration_path(folder: Path, sha256: str) -> Path:
    """The View 1 table `faceledger eval lfw --pipeline NAME` measured for this file."""
    return folder / f"{sha256}.calibration.json"


def read_spec(folder: Path, name: str) -> OperatorSpec:
    path = manifest_path(folder, name)
    try:
        data = json.loads(path.read_text())
        return OperatorSpec(
            name=data["name"],
            sha256=data["sha256"],
            colour=ColourOrder(data["input_colour"]),
            scale=PixelScale(data["pixel_scale"]),
            path=folder / data["file"],
        )
    except FileNotFoundError as exc:
        raise EngineUnavailable(f"no added model {name!r} in {folder} (faceledger models add)") from exc
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnavailable(f"{path}: the added model's manifest is unreadable: {exc}") from exc


def settings_spec(settings: Settings) -> OperatorSpec:
    """The added model the operator pipeline of these settings embeds with."""
    if not settings.operator_model:
        raise EngineUnavailable(
            "the operator pipeline needs FACELEDGER_OPERATOR_MODEL naming an added model (faceledger models list)"
        )
    folder = settings.operator_model_dir
    if folder is None and settings.data_dir is not None:  # the deployment's folder for them (services)
        folder = settings.data_dir / "operator_models"
    if folder is None:
        raise EngineUnavailable("the operator pipeline needs the deployment (--data-dir or FACELEDGER_DATA_DIR)")
    return read_spec(folder, settings.operator_model)


def operator_calibration(settings: Settings) -> CalibrationTable:
    """The operator pipeline's table: the one its stored LFW evaluation measured for this very file."""
    spec = settings_spec(settings)
    path = calibration_path(spec.path.parent, spec.sha256)
    if not path.is_file():
        raise EngineUnavailable(
            f"the added model {spec.name} has no stored evaluation (no {path.name}); run: "
            f"faceledger eval lfw --pipeline {spec.name} --data-dir DATA_DIR"
        )
    table = load_calibration(path)
    if table.model.weights_sha256 != spec.sha256:
        raise EngineUnavailable(f"{path}: measured for sha256 {table.model.weights_sha256}, not {spec.sha256}")
    return table


def verified_bytes(spec: OperatorSpec) -> bytes:
    """The stored file's bytes, refused unless their sha256 is the one recorded when it was added."""
    try:
        data = spec.path.read_bytes()
    except OSError as exc:
        raise EngineUnavailable(f"cannot read the added model {spec.name} at {spec.path}: {exc}") from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise EngineUnavailable(
            f"the added model {spec.name} at {spec.path} has changed since it was added: "
            f"sha256 expected {spec.sha256}, actual {actual}"
        )
    return data


def validate_model_file(path: Path, max_bytes: int) -> CheckedModel:
    """Refuse (InvalidInput naming why) anything but one 4-D float input compatible with 1x3x112x112 and one
    2-D output, that loads in onnxruntime and gives a finite vector on a black chip."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read the model file ({exc.strerror})") from exc
    if size > max_bytes:
        raise InvalidInput(f"{path}: {size:,} bytes is over the limit of {max_bytes:,} (operator_model_max_bytes)")
    data = path.read_bytes()
    try:
        graph = prepared_graph(data)
    except Exception as exc:  # onnx raises DecodeError and others: any of them means "not an ONNX model"
        raise InvalidInput(f"{path}: not an ONNX model ({type(exc).__name__}: {exc})") from exc
    shape = _check_declared(path, graph)  # what the file declares, before onnxruntime checks the rest
    try:
        session = make_session(graph, OnnxProvider.CPU, 1)
    except EngineUnavailable as exc:
        raise InvalidInput(f"{path}: onnxruntime cannot load it: {exc}") from exc
    try:
        vector = _run(session, np.zeros((1, 3, CHIP_SIZE_PX, CHIP_SIZE_PX), dtype=np.float32))[0]
    except Exception as exc:  # onnxruntime's own failures on a shape it accepted
        raise InvalidInput(f"{path}: running it on a 112 px chip failed: {exc}") from exc
    if vector.ndim != 1 or vector.size < 2 or not np.all(np.isfinite(vector)):
        raise InvalidInput(f"{path}: on a black 112 px chip it gave no finite embedding (shape {vector.shape})")
    return CheckedModel(hashlib.sha256(data).hexdigest(), size, int(vector.size), shape)


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in value.type.tensor_type.shape.dim]


def _check_declared(path: Path, graph: onnx.ModelProto) -> tuple[str, ...]:
    """Exactly one 4-D float input compatible with N x 3 x 112 x 112, and exactly one 2-D output."""
    import onnx

    inputs, outputs = list(graph.graph.input), list(graph.graph.output)
    if len(inputs) != 1:
        raise InvalidInput(
            f"{path}: a recognizer has exactly one input (an aligned face); this one has "
            f"{len(inputs)}: {', '.join(i.name for i in inputs)}"
        )
    value, dims = inputs[0], _dims(inputs[0])
    kind = f"tensor({onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name})"
    kind = kind.replace("float32", "float").replace("float64", "double")
    wanted = (1, 3, CHIP_SIZE_PX, CHIP_SIZE_PX)
    fits = len(dims) == 4 and all(not isinstance(d, int) or d in (w, 0) for d, w in zip(dims, wanted, strict=True))
    if kind not in _FLOAT_TYPES or not fits:
        raise InvalidInput(
            f"{path}: its input {value.name} is {kind} {dims}; an aligned face is a float "
            "tensor 1 x 3 x 112 x 112 (N x C x H x W)"
        )
    if len(outputs) != 1 or len(_dims(outputs[0])) != 2:
        found = ", ".join(f"{o.name} {_dims(o)}" for o in outputs)
        raise InvalidInput(f"{path}: a recognizer has exactly one 2-D output (1 x embedding); this one has {found}")
    return tuple(str(d) for d in dims)


def _run(session: ort.InferenceSession, batch: np.ndarray) -> np.ndarray:
    value = session.get_inputs()[0]
    feed = batch.astype(np.float16) if value.type == "tensor(float16)" else batch
    if value.type == "tensor(double)":
        feed = batch.astype(np.float64)
    return np.asarray(session.run(None, {value.name: feed})[0], dtype=np.float32)


def to_input(chips: Sequence[RGBImage], colour: ColourOrder, scale: PixelScale) -> np.ndarray:
    """N x 3 x 112 x 112 float32 in the model's channel order and pixel scale."""
    stack = np.stack([np.asarray(chip, dtype=np.float32) for chip in chips])  # N x H x W x 3, RGB
    if colour is ColourOrder.BGR:
        stack = stack[..., ::-1]
    if scale is PixelScale.UNIT:
        stack = stack / 255.0
    elif scale is PixelScale.SYMMETRIC:
        stack = (stack - 127.5) / 127.5
    return np.ascontiguousarray(stack.transpose(0, 3, 1, 2), dtype=np.float32)


class OperatorEmbedder:
    """Unit vectors from template chips; one batch per call when the graph's batch size is free."""

    def __init__(self, spec: OperatorSpec, provider: OnnxProvider, threads: int) -> None:
        self.spec = spec
        self._session: ort.InferenceSession = make_session(prepared_graph(verified_bytes(spec)), provider, threads)
        batch = self._session.get_inputs()[0].shape[0]
        self._one_at_a_time = isinstance(batch, int)
        self.model: ModelIdentity = spec.identity()

    def embed(self, chips: Sequence[RGBImage]) -> list[FloatVector]:
        if not chips:
            return []
        batch = to_input(chips, self.spec.colour, self.spec.scale)
        parts = [batch[i : i + 1] for i in range(len(batch))] if self._one_at_a_time else [batch]
        raw = np.concatenate([_run(self._session, part).reshape(len(part), -1) for part in parts])
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        vectors = raw / np.maximum(norms, 1e-12)
        return [np.ascontiguousarray(v, dtype=np.float32) for v in vectors]


class OperatorStage:
    """The added model on the 112 px five-point template chip (the same alignment as SFace)."""

    def __init__(self, embedder: OperatorEmbedder) -> None:
        self._embedder = embedder
        self.model = embedder.model

    def chips(self, spots: Sequence[Spot]) -> list[RGBImage]:
        return template_chips(spots, "the operator model")

    def vectors(self, chips: Sequence[RGBImage]) -> list[FloatVector]:
        return self._embedder.embed(chips)
