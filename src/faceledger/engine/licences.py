"""Every model file a pipeline runs, with its identity (weights sha256) and licence, for `faceledger version`
and reports. The notices and licence texts ship as package data (engine/data/licences)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

from faceledger.engine.models import RECOGNITION_MODEL_LICENCE, model_files, recognition_model_identity, sha256_of_file
from faceledger.engine.onnx_models import SFACE, YUNET, OnnxModel, model_path
from faceledger.types import ModelIdentity, Pipeline

_DLIB_LICENCE = "CC0 / public domain (dlib model weights by Davis King)"
APACHE_TEXT = "APACHE-2.0.txt"


@dataclass(frozen=True)
class ModelNotice:
    role: str  # detector, landmarks, embedder
    identity: ModelIdentity
    licence: str
    notice_files: tuple[str, ...] = ()  # under faceledger/engine/data/licences

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            **self.identity.to_dict(),
            "licence": self.licence,
            "notice_files": list(self.notice_files),
        }


def licence_text(filename: str) -> str:
    """A shipped notice or licence text, by its file name."""
    return resources.files("faceledger.engine").joinpath("data", "licences", filename).read_text()


def _onnx(role: str, model: OnnxModel) -> ModelNotice:
    # The file actually installed, hashed: load refuses one that differs from the pinned hash.
    identity = ModelIdentity(model.name, model.version, sha256_of_file(model_path(model)))
    files = (model.notice_file, APACHE_TEXT) if model is SFACE else (model.notice_file,)
    return ModelNotice(role, identity, model.licence, files)


def _dlib(role: str, key: str) -> ModelNotice:
    files = model_files()
    if key == "recognition":
        return ModelNotice(role, recognition_model_identity(), RECOGNITION_MODEL_LICENCE)
    path = files.landmarks_5 if key == "landmarks_5" else files.cnn_detector
    return ModelNotice(role, ModelIdentity(path.stem, "1", sha256_of_file(path)), _DLIB_LICENCE)


def pipeline_models(pipeline: Pipeline) -> list[ModelNotice]:
    """The pipeline's model files in the order they run. dlib's HOG detector is code, not weights."""
    if pipeline is Pipeline.DLIB:
        return [
            _dlib("detector (on a HOG miss)", "cnn_detector"),
            _dlib("landmarks", "landmarks_5"),
            _dlib("embedder", "recognition"),
        ]
    if pipeline is Pipeline.OPERATOR:  # the embedder is the deployment's added model (cli version adds it)
        return [_onnx("detector and landmarks", YUNET)]
    found = [_onnx("detector and landmarks", YUNET), _onnx("embedder", SFACE)]
    if pipeline is Pipeline.FUSED:
        found += [_dlib("landmarks (dlib's chip)", "landmarks_5"), _dlib("embedder", "recognition")]
    return found
