"""Our embeddings equal those of face_recognition (the reference library) for the same image and box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.engine.pipeline import FaceEngine

pytestmark = pytest.mark.needs_data


@pytest.fixture(scope="module")
def engine(dlib_engine: FaceEngine) -> FaceEngine:
    """dlib's pipeline, whatever the default: these tests are about dlib itself."""
    return dlib_engine


face_recognition = pytest.importorskip("face_recognition", reason="the reference library is in the test extras")

IMAGES = [
    "samples/wh_obama_2012_portrait.jpg",
    "samples/nasa_iss_expedition1_crew.jpg",
    "samples/wh_obama_biden_2010_composite.jpg",
    "lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg",
    "lfw/George_W_Bush/George_W_Bush_0010.jpg",
    "lfw/Serena_Williams/Serena_Williams_0003.jpg",
]


@pytest.mark.parametrize("relative", IMAGES)
def test_embeddings_match_face_recognition(engine: FaceEngine, data_dir: Path, relative: str) -> None:
    path = data_dir / relative
    result = engine.analyse(engine.load_image(path))
    assert result.faces
    reference_image = face_recognition.load_image_file(str(path))
    for face in result.faces:
        assert face.embedding is not None
        css = (face.box.top, face.box.right - 1, face.box.bottom - 1, face.box.left)  # dlib's inclusive corners
        (expected,) = face_recognition.face_encodings(reference_image, [css], num_jitters=1, model="small")
        assert np.max(np.abs(face.embedding.vector - expected)) < 1e-5


def test_detections_match_face_recognition(engine: FaceEngine, data_dir: Path) -> None:
    """Same detector, same upsampling: the same boxes (face_recognition keeps every score above 0)."""
    path = data_dir / "lfw/Aaron_Peirsol/Aaron_Peirsol_0001.jpg"
    ours = engine.analyse(engine.load_image(path))
    theirs = face_recognition.face_locations(face_recognition.load_image_file(str(path)), 1, "hog")
    assert {(f.box.top, f.box.right - 1, f.box.bottom - 1, f.box.left) for f in ours.faces} <= set(theirs)


def test_a_chosen_box_embeds_like_a_detected_one(engine: FaceEngine, data_dir: Path) -> None:
    image = engine.load_image(data_dir / "samples/wh_obama_2012_portrait.jpg")
    (detected,) = engine.analyse(image).faces
    chosen = engine.analyse_box(image, detected.box)
    assert detected.embedding is not None and chosen.embedding is not None
    assert np.allclose(detected.embedding.vector, chosen.embedding.vector, atol=1e-6)
    assert all(check.name != "detector_confidence" for check in chosen.quality.checks)
