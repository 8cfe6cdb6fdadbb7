"""The dlib runtime behind the engine: load() once per process, then pure calls on arrays. It is a
protocol so that tests can inject a fake runtime and the engine can host another model later."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from faceledger.engine import resnet_numpy
from faceledger.engine.models import ModelFiles, recognition_model_identity
from faceledger.errors import EngineUnavailable
from faceledger.types import DescriptorRuntime, FloatVector, ModelIdentity, RGBImage

CHIP_SIZE_PX = 150  # the ResNet's input size
CHIP_PADDING = 0.25  # dlib's default; what face_recognition and the published 99.38% use


@dataclass(frozen=True)
class RawDetection:
    """A detector hit in the coordinates of the image it ran on; right/bottom inclusive, as dlib has them."""

    left: int
    top: int
    right: int
    bottom: int
    score: float
    # YuNet's five points (eye centres, nose tip, mouth corners) in the same coordinates; dlib gives none.
    landmarks5: tuple[tuple[float, float], ...] | None = None


@dataclass(frozen=True)
class Alignment:
    """5-point landmarks and the aligned 150 px chip the ResNet reads."""

    landmarks: tuple[tuple[float, float], ...]
    chip: RGBImage


class FaceRuntime(Protocol):
    model: ModelIdentity

    def detect_hog(self, image: RGBImage, upsample: int, min_score: float) -> list[RawDetection]: ...

    def detect_cnn(self, image: RGBImage, upsample: int, min_score: float) -> list[RawDetection]: ...

    def align(self, image: RGBImage, box: RawDetection, padding: float = CHIP_PADDING) -> Alignment: ...

    def describe(self, chip: RGBImage, jitters: int) -> FloatVector: ...


class DlibRuntime:
    """dlib's HOG and MMOD detectors, 5-point landmarks and ResNet descriptor, all from PyPI weights."""

    def __init__(self, files: ModelFiles, descriptor_runtime: DescriptorRuntime = DescriptorRuntime.NUMPY) -> None:
        try:
            import dlib
        except ImportError as exc:  # pragma: no cover - only without dlib-bin installed
            raise EngineUnavailable("dlib is not installed: pip install dlib-bin") from exc
        self._dlib = dlib
        self._files = files
        try:
            self._hog = dlib.get_frontal_face_detector()
            self._shape_predictor = dlib.shape_predictor(str(files.landmarks_5))
            self._recognizer = dlib.face_recognition_model_v1(str(files.recognition))
        except RuntimeError as exc:
            raise EngineUnavailable(f"a dlib model failed to load: {exc}") from exc
        self._cnn: object | None = None  # loaded on first use: most runs never need it
        self._numpy_weights = (
            resnet_numpy.load_weights(files.recognition) if descriptor_runtime is DescriptorRuntime.NUMPY else None
        )
        self.model = recognition_model_identity()

    def detect_hog(self, image: RGBImage, upsample: int, min_score: float) -> list[RawDetection]:
        rects, scores, _ = self._hog.run(image, upsample, min_score)
        return [_raw(r, s) for r, s in zip(rects, scores, strict=True)]

    def detect_cnn(self, image: RGBImage, upsample: int, min_score: float) -> list[RawDetection]:
        if self._cnn is None:
            self._cnn = self._dlib.cnn_face_detection_model_v1(str(self._files.cnn_detector))
        hits = self._cnn(image, upsample)  # type: ignore[operator]
        found = [_raw(hit.rect, hit.confidence) for hit in hits]
        return [d for d in found if d.score >= min_score]

    def align(self, image: RGBImage, box: RawDetection, padding: float = CHIP_PADDING) -> Alignment:
        rect = self._dlib.rectangle(box.left, box.top, box.right, box.bottom)
        shape = self._shape_predictor(image, rect)
        chip = self._dlib.get_face_chip(image, shape, size=CHIP_SIZE_PX, padding=padding)
        points = tuple((float(p.x), float(p.y)) for p in shape.parts())
        return Alignment(landmarks=points, chip=np.ascontiguousarray(chip, dtype=np.uint8))

    def describe(self, chip: RGBImage, jitters: int) -> FloatVector:
        if self._numpy_weights is not None and jitters == 0:  # jitter is dlib's own random augmentation
            return resnet_numpy.describe(self._numpy_weights, chip)
        vector = self._recognizer.compute_face_descriptor(chip, jitters)
        return np.asarray(vector, dtype=np.float32)


def _raw(rect: object, score: float) -> RawDetection:
    return RawDetection(
        left=int(rect.left()),  # type: ignore[attr-defined]
        top=int(rect.top()),  # type: ignore[attr-defined]
        right=int(rect.right()),  # type: ignore[attr-defined]
        bottom=int(rect.bottom()),  # type: ignore[attr-defined]
        score=float(score),
    )
