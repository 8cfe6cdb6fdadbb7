"""The command line as a user meets it: a real subprocess, real stdout, stderr and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from faceledger.config import Settings
from faceledger.engine.scales import pipeline_scale
from faceledger.services.runtime.pipeline_models import pipeline_identities
from faceledger.types import Pipeline
from tests.imagefactory import png_bomb

_DEFAULT_THRESHOLD = pipeline_scale(Settings().pipeline).distance(Settings().match_threshold)  # dlib's 0.6, carried


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args], capture_output=True, text=True, timeout=300, check=False
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("faceledger: error: ")
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "damaged.jpg"
    Image.effect_noise((300, 300), 60).convert("RGB").save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = run("detect", str(path))
    assert_one_line_error(result, "damaged.jpg", "truncated or corrupt")
    assert result.returncode == 3


def test_decompression_bomb(tmp_path: Path) -> None:
    bomb = png_bomb(tmp_path / "bomb.png", 8000, 8000)
    assert_one_line_error(run("detect", str(bomb)), "bomb.png", "decompression bomb")
    assert_one_line_error(run("compare", str(bomb), str(bomb)), "bomb.png", "decompression bomb")


def test_missing_file() -> None:
    result = run("compare", "/nonexistent/a.jpg", "/nonexistent/b.jpg")
    assert_one_line_error(result, "/nonexistent/a.jpg", "no such file")
    assert result.returncode == 4


def test_bad_configuration_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FACELEDGER_HOG_UPSAMPLE", "lots")
    path = tmp_path / "x.png"
    Image.new("RGB", (10, 10)).save(path)
    assert_one_line_error(run("detect", str(path)), "invalid configuration", "hog_upsample")


def test_bad_option_is_a_usage_error() -> None:
    result = run("detect", "--detector", "magic", "x.jpg")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


@pytest.mark.needs_data
def test_detect_json_on_a_crew_photo(samples: Path) -> None:
    result = run("detect", "--json", str(samples / "nasa_iss_expedition1_crew.jpg"))
    assert result.returncode == 0, result.stderr
    (image,) = json.loads(result.stdout)
    assert image["ok"] and len(image["faces"]) == 3
    for face in image["faces"]:
        assert face["quality"]["reasons"] and face["embedded"]
        assert len(face["landmarks"]) == 5
        assert {"left", "top", "right", "bottom"} == set(face["box"])


@pytest.mark.needs_data
def test_detect_many_files_keeps_going_past_a_bad_one(samples: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    good = [samples / "wh_obama_2012_portrait.jpg", samples / "wh_biden_2010_blue_room.jpg"]
    result = run("detect", "--json", "--workers", "2", str(good[0]), str(bad), str(good[1]))
    assert result.returncode == 1  # some failed, not all
    images = json.loads(result.stdout)
    assert [item["ok"] for item in images] == [True, False, True]
    assert "bad.png: not a supported image" in images[1]["error"]
    assert_one_line_error(result, "bad.png")


@pytest.mark.needs_data
def test_compare_text_speaks_of_likelihood(samples: Path) -> None:
    same = run("compare", str(samples / "wh_obama_2009_congress.jpg"), str(samples / "wh_obama_2010_blue_room.jpg"))
    assert same.returncode == 0, same.stderr
    assert "likely the same person" in same.stdout
    assert "strangers score this close" in same.stdout
    assert f"below the threshold {_DEFAULT_THRESHOLD:.2f}" in same.stdout
    different = run(
        "compare", "--json", str(samples / "wh_obama_2012_portrait.jpg"), str(samples / "wh_biden_2013_portrait.jpg")
    )
    data = json.loads(different.stdout)
    assert data["likelihood"] == "likely different people"
    assert data["distance"] > data["threshold"]
    assert data["model"]["weights_sha256"] and data["false_match"]["impostor_pairs"] > 1_000_000
    for output in (same.stdout, different.stdout):
        assert "identified" not in output.lower()


def test_version_names_the_model() -> None:
    result = run("version", "--json")
    data = json.loads(result.stdout)
    assert data["model"]["name"] == pipeline_identities(Settings())[0].name  # the default pipeline's first
    assert len(data["model"]["weights_sha256"]) == 64


@pytest.mark.needs_data
def test_detect_writes_aligned_chips(samples: Path, tmp_path: Path) -> None:
    result = run("detect", "--chips-dir", str(tmp_path / "chips"), str(samples / "wh_obama_biden_2010_composite.jpg"))
    assert result.returncode == 0, result.stderr
    chips = sorted((tmp_path / "chips").glob("*.png"))
    assert [c.name.rsplit("-", 1)[1] for c in chips] == ["face1.png", "face2.png"]
    for chip in chips:
        with Image.open(chip) as image:
            assert image.size == ((150, 150) if Settings().pipeline is Pipeline.DLIB else (112, 112))
