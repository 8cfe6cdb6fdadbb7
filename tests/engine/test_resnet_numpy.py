"""The numpy ResNet must give dlib's own descriptors: same weights file, same architecture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceledger.config import Settings
from faceledger.engine import resnet_numpy
from faceledger.engine.models import model_files
from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import EngineUnavailable, InvalidInput
from faceledger.types import DescriptorRuntime

IMAGES = [
    "samples/nasa_iss_expedition1_crew.jpg",
    "samples/wh_obama_biden_2010_composite.jpg",
    "samples/nasa_portrait_peggy_whitson.jpg",
    "lfw/Serena_Williams/Serena_Williams_0010.jpg",
    "lfw/Colin_Powell/Colin_Powell_0001.jpg",
    "lfw/Gloria_Macapagal_Arroyo/Gloria_Macapagal_Arroyo_0003.jpg",
]


@pytest.mark.needs_data
def test_equals_dlib_on_real_faces(data_dir: Path) -> None:
    numpy_engine = FaceEngine(Settings(descriptor_runtime=DescriptorRuntime.NUMPY)).load()
    dlib_engine = FaceEngine(Settings(descriptor_runtime=DescriptorRuntime.DLIB)).load()
    compared = 0
    for relative in IMAGES:
        image = numpy_engine.load_image(data_dir / relative)
        ours, reference = numpy_engine.analyse(image).faces, dlib_engine.analyse(image).faces
        assert len(ours) == len(reference) > 0
        for a, b in zip(ours, reference, strict=True):
            assert a.embedding is not None and b.embedding is not None
            assert np.max(np.abs(a.embedding.vector - b.embedding.vector)) < 1e-5
            assert a.embedding.model == b.embedding.model
            compared += 1
    assert compared >= 9


def test_weights_parse_to_the_published_architecture() -> None:
    weights = resnet_numpy.load_weights(model_files().recognition)
    assert len(weights.convs) == len(weights.affines) == 29
    assert weights.convs[0].weights.shape == (32, 3 * 7 * 7)
    assert weights.fc.shape == (256, 128)
    assert np.allclose(weights.input_mean.ravel(), [122.782, 117.001, 104.298], atol=1e-3)


def test_a_damaged_weights_file_is_refused(tmp_path: Path) -> None:
    damaged = tmp_path / "resnet.dat"
    damaged.write_bytes(model_files().recognition.read_bytes()[:5_000_000])
    with pytest.raises(EngineUnavailable, match="not the dlib face-recognition ResNet expected"):
        resnet_numpy.load_weights(damaged)


def test_wrong_chip_size() -> None:
    weights = resnet_numpy.load_weights(model_files().recognition)
    with pytest.raises(InvalidInput, match="150x150"):
        resnet_numpy.describe(weights, np.zeros((100, 100, 3), dtype=np.uint8))
