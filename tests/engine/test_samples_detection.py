"""Face counts on the public-domain sample photos, counted by eye (see ../shared/data/samples).

- nasa_iss_expedition1_crew: 3 people, all facing the camera.
- nasa_iss_expedition12_holiday: 2 people.
- wh_obama_biden_2010_composite: 2 people.
- nasa_iss_sts131_exp23_group: 13 people; 6 upright, the other 7 sideways or upside down.
- nasa_obama_calls_iss_2010: 8 people visible; 5 show a frontal, unoccluded face (the bearded man is in
  three-quarter profile, two people behind Obama are mostly hidden); HOG finds exactly those 5.
- every portrait: 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.types import Detector, Pipeline

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def engine(dlib_engine: FaceEngine) -> FaceEngine:
    """dlib's pipeline, whatever the default: these tests are about dlib itself."""
    return dlib_engine


UPRIGHT_COUNTS = {
    "nasa_iss_expedition1_crew.jpg": 3,
    "nasa_iss_expedition12_holiday.jpg": 2,
    "wh_obama_biden_2010_composite.jpg": 2,
    "nasa_iss_sts131_exp23_group.jpg": 6,
    "nasa_obama_calls_iss_2010.jpg": 5,
    "wh_obama_2012_portrait.jpg": 1,
    "wh_obama_2009_congress.jpg": 1,
    "wh_biden_2010_blue_room.jpg": 1,
    "nasa_portrait_william_shepherd.jpg": 1,
    "nasa_portrait_reid_wiseman.jpg": 1,
}


@pytest.mark.parametrize(("name", "expected"), sorted(UPRIGHT_COUNTS.items()))
def test_face_counts(engine: FaceEngine, samples: Path, name: str, expected: int) -> None:
    result = engine.analyse(engine.load_image(samples / name))
    assert len(result.faces) == expected
    for face in result.faces:
        assert face.quality.reasons, "every face carries its quality reasons"
        assert len(face.landmarks) == 5
        assert face.embedding is not None and face.embedding.vector.shape == (128,)


def test_rotation_search_finds_all_thirteen(samples: Path) -> None:
    engine = FaceEngine(Settings(pipeline=Pipeline.DLIB, rotation_search=True)).load()
    result = engine.analyse(engine.load_image(samples / "nasa_iss_sts131_exp23_group.jpg"))
    assert len(result.faces) == 13
    turned = [face for face in result.faces if face.rotation_deg]
    assert len(turned) == 7
    for face in result.faces:  # landmarks mapped back into the original image, inside the face box
        for x, y in face.landmarks:
            assert face.box.left - 5 <= x <= face.box.right + 5 and face.box.top - 5 <= y <= face.box.bottom + 5


def test_small_faces_are_reported_not_dropped(samples: Path) -> None:
    engine = FaceEngine(Settings(pipeline=Pipeline.DLIB, min_embed_face_px=100)).load()
    result = engine.analyse(engine.load_image(samples / "nasa_iss_sts131_exp23_group.jpg"))
    assert len(result.faces) == 6
    for face in result.faces:
        assert face.embedding is None
        assert face.not_embedded_reason is not None and "an embedding needs at least 100" in face.not_embedded_reason
    for face in result.faces:
        too_small = min(face.box.width, face.box.height) < 80
        assert too_small == any(p.endswith("px wide; minimum 80") for p in face.quality.problems)
    assert any(min(face.box.width, face.box.height) < 80 for face in result.faces)


@pytest.mark.slow
def test_cnn_detector_finds_the_portrait_face(engine: FaceEngine, samples: Path) -> None:
    image = engine.load_image(samples / "nasa_portrait_william_shepherd.jpg")
    cnn = engine.analyse(image, Detector.CNN)
    hog = engine.analyse(image, Detector.HOG)
    assert len(cnn.faces) == 1 and cnn.faces[0].detector is Detector.CNN
    assert cnn.faces[0].box.iou(hog.faces[0].box) > 0.4
    assert cnn.faces[0].detector_score > 0.6
