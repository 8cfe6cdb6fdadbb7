"""The LFW evaluation: logic on hand-made embeddings, and a real run on fold 1 of View 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceledger.engine.calibration import CalibrationTable
from faceledger.eval.lfw import LfwImage
from faceledger.eval.lfw_eval import group_rates, identify
from faceledger.eval.report import threshold_advice
from faceledger.types import ModelIdentity


def vec(*values: float) -> np.ndarray:
    v = np.zeros(128, dtype=np.float32)
    v[: len(values)] = values
    return v


def test_identification_by_hand() -> None:
    a1, a2, b1, b2, c1, c2 = (LfwImage(p, n) for p in "ABC" for n in (1, 2))
    s1, s2, s3, s4 = (LfwImage(f"S{i}", 1) for i in range(4))
    embeddings = {
        a1: vec(0),
        a2: vec(0.1),  # A's probe is near A
        b1: vec(5),
        b2: vec(5.5),  # B's probe is near B, but 0.5 away
        c1: vec(10),
        c2: vec(20.3),  # C's probe is nearest the distractor S2 at 20
        s1: vec(30),
        s2: vec(20),
        s3: vec(40),
        s4: vec(50.05),  # S0, S2 in the gallery; S1, S3 probe
    }
    result = identify(embeddings, threshold=0.6)
    assert (result.gallery_size, result.mated_probes, result.nonmated_probes) == (5, 3, 2)
    assert result.rank1 == pytest.approx(2 / 3)
    assert result.fpir_at_threshold == 0.0  # the non-mated probes are far from everything


def test_group_rates_by_hand() -> None:
    images = {
        LfwImage("A", 1): vec(0),
        LfwImage("A", 2): vec(0.7),
        LfwImage("B", 1): vec(0.3),
        LfwImage("C", 1): vec(5),
    }
    labels = dict.fromkeys(images, "g")
    (rates,) = group_rates(images, labels, "test", threshold=0.6)
    assert (rates.images, rates.people) == (4, 3)
    assert (rates.false_match.errors, rates.false_match.trials) == (2, 5)  # A1-B and A2-B are within 0.6... 0.4
    assert (rates.false_non_match.errors, rates.false_non_match.trials) == (1, 1)  # A1-A2 at 0.7


def test_threshold_advice() -> None:
    table = CalibrationTable(
        ModelIdentity("m", "1", "0" * 64),
        "hand",
        "test",
        1_000_000,
        100,
        (0.4, 0.5, 0.6),
        (10, 1000, 10000),
        (50, 10, 1),
    )
    advice = threshold_advice(table, 1000, 0.01)  # FMR ~1.005e-5 -> 10 of a million at 0.4
    assert advice["required_fmr"] == pytest.approx(1 - 0.99 ** (1 / 1000))
    assert advice["threshold"] == 0.4 and advice["supported"]
    assert not threshold_advice(table, 10**8, 0.01)["supported"]


@pytest.mark.needs_data
@pytest.mark.slow
def test_fold_one_of_view_two(data_dir: Path, tmp_path: Path, lfw_embedding_cache: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "faceledger",
            "eval",
            "lfw",
            "--data",
            str(data_dir),
            "--folds",
            "1",
            "--no-identification",
            "--out",
            str(tmp_path / "report"),
            "--cache",
            str(lfw_embedding_cache),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    verification = summary["verification"]
    assert verification["pairs_used"] + verification["pairs_without_face"] == 600
    assert verification["mean_accuracy"] >= 0.97
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "roc.png").is_file()
    assert "data:image/png;base64," in (tmp_path / "report" / "report.html").read_text()
