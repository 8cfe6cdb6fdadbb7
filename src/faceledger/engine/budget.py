"""Pixel budgets: a costly pass (the CNN, HOG with upsampling, a video frame) runs on a copy scaled down
to a pixel budget, and what it finds is mapped back to the full-resolution image."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from PIL import Image

from faceledger.engine.runtime import RawDetection
from faceledger.types import Box, DetectedFace, RGBImage


def fit_scale(width: int, height: int, max_pixels: int) -> float:
    """The factor (<= 1) that brings width x height within max_pixels."""
    pixels = width * height
    return 1.0 if pixels <= max_pixels else math.sqrt(max_pixels / pixels)


def plan_pass(pixels: int, upsample: int, max_pixels: int) -> tuple[int, float]:
    """The upsampling and the scale for one detector pass that scans at most max_pixels: dlib upsamples
    by 2 in each direction per step, so each step costs 4x; drop steps first, then scale down."""
    while upsample > 0 and pixels * 4**upsample > max_pixels:
        upsample -= 1
    scale = 1.0 if pixels <= max_pixels else math.sqrt(max_pixels / pixels)
    return upsample, scale


def downscaled(image: RGBImage, scale: float) -> RGBImage:
    """The image scaled by `scale` (< 1), with box filtering so small faces keep their shape."""
    if scale >= 1.0:
        return image
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(image).resize(size, Image.Resampling.BOX)
    return np.ascontiguousarray(np.asarray(small, dtype=np.uint8))


def scale_detection(hit: RawDetection, factor: float) -> RawDetection:
    """A hit on a scaled copy, in the coordinates of the image it was scaled from (factor = 1 / scale)."""
    if factor == 1.0:
        return hit
    return RawDetection(
        round(hit.left * factor),
        round(hit.top * factor),
        round(hit.right * factor),
        round(hit.bottom * factor),
        hit.score,
    )


def scale_face(face: DetectedFace, factor: float) -> DetectedFace:
    """A face found on a scaled copy, with its box and landmarks in the original's coordinates."""
    if factor == 1.0:
        return face
    box = face.box
    scaled = Box(
        int(box.left * factor), int(box.top * factor), math.ceil(box.right * factor), math.ceil(box.bottom * factor)
    )
    landmarks = tuple((x * factor, y * factor) for x, y in face.landmarks)
    return replace(face, box=scaled, landmarks=landmarks)
