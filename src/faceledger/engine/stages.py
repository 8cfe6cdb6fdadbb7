"""A pipeline is a detector plus one or more embedders. Each embedder brings its own alignment: dlib's
ResNet its 150 px chip from dlib's 5-point shape predictor run on the box, SFace the 112 px template
chip from the detector's five landmarks. These are the two protocols and their implementations."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from faceledger.config import Settings
from faceledger.engine import sface
from faceledger.engine.runtime import FaceRuntime, RawDetection
from faceledger.engine.sface import SFaceEmbedder
from faceledger.engine.yunet import YuNetDetector
from faceledger.types import Detector, FloatVector, ModelIdentity, RGBImage

# dlib's shape predictor was trained on HOG's boxes, which are smaller than YuNet's and sit lower on the
# face; a YuNet box is mapped onto a HOG-like one (median offsets of the two detectors on the same
# 397 LFW View 1 training images, one per peopleDevTrain person) before dlib reads it.
_HOG_FROM_YUNET_DX = -0.02  # x centre shift, in YuNet box widths (interquartile range -0.07..0.03)
_HOG_FROM_YUNET_DY = 0.04  # y centre shift, in YuNet box heights (0.02..0.06)
_HOG_FROM_YUNET_SCALE_W = 1.10  # HOG's width over YuNet's (1.03..1.16)
_HOG_FROM_YUNET_SCALE_H = 0.84  # HOG's height over YuNet's (0.78..0.89)


@dataclass(frozen=True)
class Spot:
    """A face to embed: the (upright) image it was found in and its detection in that image."""

    image: RGBImage
    detection: RawDetection
    yunet_box: bool = True  # the box is YuNet's, not dlib's or a person's


class FaceDetector(Protocol):
    kind: Detector

    def detect(self, image: RGBImage) -> list[RawDetection]: ...


class FaceEmbedder(Protocol):
    model: ModelIdentity

    def chips(self, spots: Sequence[Spot]) -> list[RGBImage]: ...

    def vectors(self, chips: Sequence[RGBImage]) -> list[FloatVector]: ...


class YuNetStage:
    """YuNet with the settings' score, overlap and pixel budget."""

    kind = Detector.YUNET

    def __init__(self, detector: YuNetDetector, settings: Settings) -> None:
        self._detector = detector
        self._settings = settings

    def detect(self, image: RGBImage) -> list[RawDetection]:
        s = self._settings
        return self._detector.detect(image, s.yunet_min_score, s.yunet_nms_iou, s.yunet_max_pixels)


class SFaceStage:
    """SFace on the five-point template chip; every chip of one image in one onnxruntime batch."""

    def __init__(self, embedder: SFaceEmbedder, settings: Settings) -> None:
        self._embedder = embedder
        self._flip = settings.sface_flip
        self.model = embedder.model

    def chips(self, spots: Sequence[Spot]) -> list[RGBImage]:
        return template_chips(spots, "SFace")

    def vectors(self, chips: Sequence[RGBImage]) -> list[FloatVector]:
        return self._embedder.embed(chips, flip=self._flip)


def template_chips(spots: Sequence[Spot], model: str) -> list[RGBImage]:
    """The 112 px five-point template chip of each spot (SFace's alignment, and any ArcFace-class model's)."""
    chips = []
    for spot in spots:
        if spot.detection.landmarks5 is None:
            raise ValueError(f"{model} needs the detector's five landmarks")
        chips.append(sface.align(spot.image, spot.detection.landmarks5))
    return chips


class DlibStage:
    """dlib's ResNet on its 150 px chip; boxes from YuNet are first mapped onto HOG's convention."""

    def __init__(self, runtime: FaceRuntime, settings: Settings) -> None:
        self._runtime = runtime
        self._settings = settings
        self.model = runtime.model

    def chips(self, spots: Sequence[Spot]) -> list[RGBImage]:
        padding = self._settings.chip_padding
        return [
            self._runtime.align(s.image, dlib_box(s.detection) if s.yunet_box else s.detection, padding).chip
            for s in spots
        ]

    def vectors(self, chips: Sequence[RGBImage]) -> list[FloatVector]:
        jitters = self._settings.embed_jitters
        found = []
        for chip in chips:
            vector = self._runtime.describe(chip, jitters)
            if self._settings.embed_flip:
                mirrored = np.ascontiguousarray(chip[:, ::-1])
                vector = ((vector + self._runtime.describe(mirrored, jitters)) / 2).astype(np.float32)
            found.append(vector)
        return found


def dlib_box(detection: RawDetection) -> RawDetection:
    """The box dlib's shape predictor reads: a YuNet box in HOG's convention."""
    width, height = detection.right - detection.left + 1, detection.bottom - detection.top + 1
    cx = (detection.left + detection.right) / 2 + _HOG_FROM_YUNET_DX * width
    cy = (detection.top + detection.bottom) / 2 + _HOG_FROM_YUNET_DY * height
    half_w, half_h = _HOG_FROM_YUNET_SCALE_W * width / 2, _HOG_FROM_YUNET_SCALE_H * height / 2
    return RawDetection(
        round(cx - half_w),
        round(cy - half_h),
        round(cx + half_w) - 1,
        round(cy + half_h) - 1,
        detection.score,
        detection.landmarks5,
    )
