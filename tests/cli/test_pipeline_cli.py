"""`detect` and `compare` with FACELEDGER_PIPELINE=sface and fused, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import assert_one_line_error

pytestmark = pytest.mark.needs_data


def run_with(pipeline: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACELEDGER_PIPELINE": pipeline}
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args], capture_output=True, text=True, timeout=300, check=False, env=env
    )


@pytest.mark.parametrize(("pipeline", "models"), [("sface", 1), ("fused", 2)])
def test_detect_uses_the_configured_pipeline(samples: Path, pipeline: str, models: int) -> None:
    result = run_with(pipeline, "detect", "--json", str(samples / "nasa_iss_expedition1_crew.jpg"))
    assert result.returncode == 0, result.stderr
    (image,) = json.loads(result.stdout)
    assert image["ok"] and len(image["faces"]) == 3
    for face in image["faces"]:
        assert face["detector"] == "yunet" and face["embedded"] and len(face["landmarks"]) == 5
    text = run_with(pipeline, "detect", str(samples / "wh_obama_2012_portrait.jpg"))
    assert text.returncode == 0, text.stderr
    assert "yunet detector" in text.stdout
    assert text.stdout.count("opencv_zoo_sface_2021dec@int8bq") == 1
    assert text.stdout.count("dlib_face_recognition_resnet_model_v1") == models - 1


@pytest.mark.parametrize("pipeline", ["sface", "fused"])
def test_compare_reads_sface_scores_only_with_a_table_of_its_own(samples: Path, pipeline: str) -> None:
    result = run_with(
        pipeline,
        "compare",
        "--json",
        str(samples / "wh_obama_2009_congress.jpg"),
        str(samples / "wh_obama_2010_blue_room.jpg"),
    )
    if result.returncode == 0:  # a calibration table for SFace has been shipped
        data = json.loads(result.stdout)
        assert data["likelihood"] == "likely the same person"
        assert data["pipeline"] == pipeline and data["threshold"] > 0.6  # not dlib's number
        # fused: the pair is scored by the fusion rule and read with the fused score's own table
        expected = "opencv_zoo_sface_2021dec" if pipeline == "sface" else "fusion:sface+dlib z-score (LFW View 1)"
        assert data["model"]["name"] == expected
        assert (data["model_scores"] is None) == (pipeline == "sface")
    else:  # never a dlib table read for SFace distances
        assert_one_line_error(result, "calibration table", "opencv_zoo_sface_2021dec")


@pytest.mark.parametrize(
    ("pipeline", "names"),
    [
        ("sface", ["opencv_zoo_yunet_2023mar", "opencv_zoo_sface_2021dec"]),
        (
            "fused",
            [
                "opencv_zoo_yunet_2023mar",
                "opencv_zoo_sface_2021dec",
                "shape_predictor_5_face_landmarks",
                "dlib_face_recognition_resnet_model_v1",
            ],
        ),
    ],
)
def test_version_lists_every_model_with_licence_and_hash(pipeline: str, names: list[str]) -> None:
    result = run_with(pipeline, "version", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["pipeline"] == pipeline and data["model"]["name"] == "opencv_zoo_sface_2021dec"
    assert [m["name"] for m in data["models"]] == names
    for model in data["models"]:
        assert len(model["weights_sha256"]) == 64 and model["licence"]
    licences = {m["name"]: m["licence"] for m in data["models"]}
    assert licences["opencv_zoo_yunet_2023mar"].startswith("MIT")
    assert licences["opencv_zoo_sface_2021dec"].startswith("Apache-2.0")
    assert "APACHE-2.0.txt" in data["models"][1]["notice_files"]
    text = run_with(pipeline, "version")
    assert "licence MIT" in text.stdout and "licence Apache-2.0" in text.stdout
