"""Find faces: dlib HOG (default) or MMOD CNN, optionally at four quarter-turns so that sideways and
upside-down faces are found too. Boxes come back in the original image's coordinates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from faceledger.config import Settings
from faceledger.engine.budget import downscaled, plan_pass, scale_detection
from faceledger.engine.runtime import FaceRuntime, RawDetection
from faceledger.types import Box, Detector, RGBImage

# Two hits on one face at different rotations overlap far more than two neighbouring faces do.
_DUPLICATE_IOU = 0.3


@dataclass(frozen=True)
class Located:
    """A detection, the quarter-turns of the image it was found in, and its box in the original image."""

    detection: RawDetection
    quarter_turns: int
    box: Box


def rotate(image: RGBImage, quarter_turns: int) -> RGBImage:
    """The image turned counter-clockwise; contiguous, because dlib reads raw buffers."""
    if quarter_turns % 4 == 0:
        return image
    return np.ascontiguousarray(np.rot90(image, quarter_turns))


def to_original(x: float, y: float, quarter_turns: int, width: int, height: int) -> tuple[float, float]:
    """Map a point of the turned image back to the original (width x height) image."""
    k = quarter_turns % 4
    if k == 1:
        return width - 1 - y, x
    if k == 2:
        return width - 1 - x, height - 1 - y
    if k == 3:
        return y, height - 1 - x
    return x, y


def upsample_for(settings: Settings, detector: Detector, pixels: int) -> int:
    if pixels > settings.hog_upsample_max_pixels:
        return 0
    return settings.hog_upsample if detector is Detector.HOG else settings.cnn_upsample


def locate_faces(
    runtime: FaceRuntime, image: RGBImage, settings: Settings, detector: Detector
) -> tuple[list[Located], dict[str, object]]:
    """Every face found, duplicates across rotations merged, ordered left to right; plus the settings used."""
    height, width = image.shape[:2]
    # Each pass scans a bounded number of pixels: upsampling is dropped, then a copy scaled down (the CNN
    # on a black 12 MP image took 139 s and 6.1 GB); hits are mapped back to the full-resolution image.
    budget = settings.hog_max_pixels if detector is Detector.HOG else settings.cnn_max_pixels
    upsample, scale = plan_pass(height * width, upsample_for(settings, detector, height * width), budget)
    small = downscaled(image, scale)
    factor = width / small.shape[1]
    turns = (0, 1, 2, 3) if settings.rotation_search else (0,)
    found: list[Located] = []
    for k in turns:
        turned = rotate(small, k)
        if detector is Detector.HOG:
            hits = runtime.detect_hog(turned, upsample, settings.hog_min_score)
        else:
            hits = runtime.detect_cnn(turned, upsample, settings.cnn_min_score)
        full = (scale_detection(hit, factor) for hit in hits)
        found.extend(Located(hit, k, _box_in_original(hit, k, width, height)) for hit in full)
    kept = _merge_duplicates(found)
    kept.sort(key=lambda located: (located.box.left + located.box.right, located.box.top))
    used: dict[str, object] = {
        "detector": detector.value,
        "upsample": upsample,
        "min_score": settings.hog_min_score if detector is Detector.HOG else settings.cnn_min_score,
        "rotation_search": settings.rotation_search,
    }
    if scale < 1.0:
        used["scaled_to_pixels"] = small.shape[0] * small.shape[1]
    return kept, used


def _box_in_original(hit: RawDetection, k: int, width: int, height: int) -> Box:
    x1, y1 = to_original(hit.left, hit.top, k, width, height)
    x2, y2 = to_original(hit.right, hit.bottom, k, width, height)
    left, right = sorted((x1, x2))
    top, bottom = sorted((y1, y2))
    return Box(int(left), int(top), int(right) + 1, int(bottom) + 1)


def _merge_duplicates(found: list[Located]) -> list[Located]:
    """Greedy non-maximum suppression: the best-scoring hit on a face wins."""
    kept: list[Located] = []
    for candidate in sorted(found, key=lambda located: located.detection.score, reverse=True):
        if all(candidate.box.iou(other.box) < _DUPLICATE_IOU for other in kept):
            kept.append(candidate)
    return kept
