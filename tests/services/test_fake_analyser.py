"""The fake analyser the governed-logic tests run on keeps the real one's shape and the properties those
tests lean on: two photos of one person are close, two people are strangers, an unknown file has no face."""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceledger.config import Settings
from faceledger.errors import NoFaceFound
from faceledger.services.runtime.analyser import Analyser, BoundedAnalyser
from faceledger.services.runtime.pipeline_models import pipeline_model_keys
from tests.fakes import FakeAnalyser

PROTOCOL_METHODS = [name for name in vars(Analyser) if not name.startswith("_") and callable(getattr(Analyser, name))]


@pytest.mark.parametrize("name", PROTOCOL_METHODS)
def test_the_fake_has_every_method_of_the_analyser_with_its_signature(name: str) -> None:
    # mypy checks the package, not the tests: this holds the fake to the protocol the real one implements.
    expected = inspect.signature(getattr(Analyser, name))
    for implementation in (FakeAnalyser, BoundedAnalyser):
        assert inspect.signature(getattr(implementation, name)) == expected, f"{implementation.__name__}.{name}"


def test_takes_of_one_person_are_close_and_people_are_strangers(tmp_path: Path) -> None:
    fake, settings = FakeAnalyser(), Settings()
    people = fake.people_with_several(tmp_path, 4)
    vectors = {
        (person, take): fake.probe_faces(settings, path).faces.faces[0].embedding.vector  # type: ignore[union-attr]
        for person, paths in people
        for take, path in enumerate(paths)
    }
    pairs = [(key, other, 1 - float(np.dot(a, b))) for key, a in vectors.items() for other, b in vectors.items()]
    same = [distance for (p, t), (q, u), distance in pairs if p == q and t < u]
    strangers = [distance for (p, _), (q, _), distance in pairs if p < q]
    assert max(same) < 0.1 and min(strangers) > 0.5, (max(same), min(strangers))
    face = fake.probe_faces(settings, people[0][1][0]).faces.faces[0]
    assert [e.model.key for e in face.embeddings] == list(pipeline_model_keys(settings))


def test_a_file_it_was_not_told_about_holds_no_face(tmp_path: Path) -> None:
    fake, settings = FakeAnalyser(), Settings()
    known = fake.photo(tmp_path, "Someone")
    unknown = tmp_path / "other.jpg"
    Image.open(known).save(unknown, format="JPEG", quality=50)  # the same picture, other bytes
    assert fake.probe_faces(settings, unknown).faces.faces == ()
    with pytest.raises(NoFaceFound):
        fake.probe_box(settings, unknown, fake.probe_faces(settings, known).faces.faces[0].box)
    assert fake.probes == 3
