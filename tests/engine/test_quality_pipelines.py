"""Quality marks on the sface pipeline's 112 px template chip mean what they mean on dlib's 150 px chip:
a blurred face fails the same `quality_min_sharpness` on both (bench/quality_scales.py measures the rest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.types import DetectedFace, Pipeline

pytestmark = pytest.mark.needs_data

# (photo, Gaussian blur radius that takes dlib's chip below the sharpness mark)
BLURRED = [("nasa_portrait_william_shepherd.jpg", 2), ("wh_obama_2012_portrait.jpg", 4)]


@pytest.fixture(scope="module")
def sface_engine() -> FaceEngine:
    return FaceEngine(Settings(pipeline=Pipeline.SFACE, workers=1)).load()


def largest(engine: FaceEngine, path: Path) -> DetectedFace:
    return max(engine.analyse(engine.load_image(path)).faces, key=lambda face: face.box.area)


def sharpness_check(face: DetectedFace) -> tuple[float, bool]:
    (check,) = [c for c in face.quality.checks if c.name == "sharpness"]
    return check.value, check.passed


@pytest.mark.parametrize(("photo", "radius"), BLURRED)
def test_a_blurred_face_fails_sharpness_on_every_pipeline(
    engine: FaceEngine, sface_engine: FaceEngine, samples: Path, tmp_path: Path, photo: str, radius: int
) -> None:
    sharp = samples / photo
    blurred = tmp_path / "blurred.png"
    Image.open(sharp).convert("RGB").filter(ImageFilter.GaussianBlur(radius)).save(blurred)
    for face_engine in (engine, sface_engine):
        assert sharpness_check(largest(face_engine, sharp))[1]
        value, passed = sharpness_check(largest(face_engine, blurred))
        assert not passed, f"{face_engine.settings.pipeline.value}: sharpness {value:.1f} passed a blurred face"
