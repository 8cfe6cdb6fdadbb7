from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import InvalidInput, NoFaceFound
from faceledger.services.standalone.analysis import AnalysisService
from faceledger.types import Likelihood

pytestmark = pytest.mark.needs_data

OBAMA = ["wh_obama_2009_congress.jpg", "wh_obama_2010_blue_room.jpg", "wh_obama_2012_portrait.jpg"]


@pytest.fixture(scope="module")
def service(settings: Settings, engine: FaceEngine) -> AnalysisService:
    return AnalysisService(settings, engine)


@pytest.mark.parametrize(("a", "b"), list(combinations(OBAMA, 2)))
def test_obama_photos_are_likely_the_same_person(service: AnalysisService, samples: Path, a: str, b: str) -> None:
    result = service.compare(samples / a, samples / b)
    assert result.likelihood is Likelihood.LIKELY_SAME
    assert result.distance < result.threshold
    assert "below the threshold" in result.relation
    assert result.false_match.rate < 0.01


@pytest.mark.parametrize("obama", OBAMA)
def test_obama_and_biden_are_likely_different(service: AnalysisService, samples: Path, obama: str) -> None:
    result = service.compare(samples / obama, samples / "wh_biden_2010_blue_room.jpg")
    assert result.likelihood is Likelihood.LIKELY_DIFFERENT
    assert result.false_match.rate > 0.01  # more than 1 in 100 strangers are this close: it says nothing
    assert "identif" not in str(result.to_dict()).replace("never an identification", "")


def test_face_choice_in_a_group_photo(service: AnalysisService, samples: Path) -> None:
    portrait = samples / "nasa_portrait_william_shepherd.jpg"
    crew = samples / "nasa_iss_expedition1_crew.jpg"
    middle = service.compare(portrait, crew, face_b=2)  # faces are numbered left to right
    others = [service.compare(portrait, crew, face_b=n) for n in (1, 3)]
    assert middle.likelihood is Likelihood.LIKELY_SAME
    assert all(other.distance > middle.distance + 0.15 for other in others)
    with pytest.raises(InvalidInput, match="there is no face 4; 3 found"):
        service.compare(portrait, crew, face_b=4)


def test_no_face_is_a_clear_error(service: AnalysisService, samples: Path, tmp_path: Path) -> None:
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("RGB", (300, 300), (200, 190, 180)).save(blank)
    with pytest.raises(NoFaceFound, match=r"wall.png: no face found \(tried the (hog then cnn|yunet) detector\)"):
        service.compare(blank, samples / OBAMA[0])
