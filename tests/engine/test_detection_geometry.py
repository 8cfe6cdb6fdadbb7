from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from faceledger.config import Settings
from faceledger.engine.detection import locate_faces, rotate, to_original, upsample_for
from faceledger.engine.runtime import Alignment, RawDetection
from faceledger.types import Box, Detector, FloatVector, ModelIdentity, RGBImage


@given(
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    turns=st.integers(0, 3),
    data=st.data(),
)
def test_to_original_inverts_rotate(width: int, height: int, turns: int, data: st.DataObject) -> None:
    image = np.arange(width * height * 3, dtype=np.int64).reshape(height, width, 3)
    turned = rotate(image, turns)  # type: ignore[arg-type]
    y = data.draw(st.integers(0, turned.shape[0] - 1))
    x = data.draw(st.integers(0, turned.shape[1] - 1))
    ox, oy = to_original(x, y, turns, width, height)
    assert (turned[y, x] == image[int(oy), int(ox)]).all()


class FakeRuntime:
    """Finds one face in whatever image it is given, at a fixed place, and says which image it saw."""

    model = ModelIdentity("fake", "0", "0" * 64)

    def __init__(self, hits_at_turn: dict[int, list[RawDetection]], original: RGBImage) -> None:
        self._hits = hits_at_turn
        self._original = original

    def _turn_of(self, image: RGBImage) -> int:
        for k in range(4):
            if rotate(self._original, k).shape == image.shape and (rotate(self._original, k) == image).all():
                return k
        raise AssertionError("unknown image")

    def detect_hog(self, image: RGBImage, upsample: int, min_score: float) -> list[RawDetection]:
        return [h for h in self._hits.get(self._turn_of(image), []) if h.score >= min_score]

    detect_cnn = detect_hog

    def align(self, image: RGBImage, box: RawDetection, padding: float = 0.25) -> Alignment:
        raise NotImplementedError

    def describe(self, chip: RGBImage, jitters: int) -> FloatVector:
        raise NotImplementedError


def test_rotation_search_maps_boxes_back_and_merges_duplicates() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (100, 200, 3), dtype=np.uint8)
    upright = RawDetection(10, 20, 49, 59, score=1.0)
    # In the image turned 180 deg the same face sits mirrored; a weaker duplicate must be merged away.
    duplicate = RawDetection(200 - 50, 100 - 60, 200 - 11, 100 - 21, score=0.6)
    # A face found only when the image is turned 90 deg counter-clockwise (shape 200 x 100).
    sideways = RawDetection(5, 150, 34, 179, score=0.9)
    runtime = FakeRuntime({0: [upright], 2: [duplicate], 1: [sideways]}, image)
    found, used = locate_faces(runtime, image, Settings(rotation_search=True), Detector.HOG)
    assert used["rotation_search"] is True
    assert [f.quarter_turns for f in found] == [0, 1]
    assert found[0].box == Box(10, 20, 50, 60)
    # turned (x, y) -> original (199 - y, x): x 150..179 -> 20..49, y 5..34 -> 5..34
    assert found[1].box == Box(20, 5, 50, 35)


def test_upright_only_by_default() -> None:
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    runtime = FakeRuntime({1: [RawDetection(1, 1, 20, 20, 2.0)]}, image)
    found, _ = locate_faces(runtime, image, Settings(), Detector.HOG)
    assert found == []


def test_low_scores_are_cut_at_the_configured_minimum() -> None:
    image = np.zeros((50, 50, 3), dtype=np.uint8)
    hits = [RawDetection(1, 1, 20, 20, 0.1), RawDetection(25, 25, 45, 45, 0.3)]
    found, _ = locate_faces(FakeRuntime({0: hits}, image), image, Settings(hog_min_score=0.2), Detector.HOG)
    assert [f.detection.score for f in found] == [0.3]


def test_upsampling_only_for_small_images() -> None:
    settings = Settings(hog_upsample=1, hog_upsample_max_pixels=1000)
    assert upsample_for(settings, Detector.HOG, 999) == 1
    assert upsample_for(settings, Detector.HOG, 1001) == 0


def test_box_iou() -> None:
    assert Box(0, 0, 10, 10).iou(Box(0, 0, 10, 10)) == 1.0
    assert Box(0, 0, 10, 10).iou(Box(10, 10, 20, 20)) == 0.0
    assert abs(Box(0, 0, 10, 10).iou(Box(5, 0, 15, 10)) - 50 / 150) < 1e-9
