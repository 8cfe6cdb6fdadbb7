"""`faceledger eval lfw --pipeline` and `eval compare` on a tiny LFW subset (real faces), and the
embedding cache's keys. The subset keeps this to seconds: 12 people, 8 View 2 pairs."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from faceledger.eval.embeddings import EmbeddingCache

# four people with two images (the matched pairs, mated probes) and six with one (distractors, non-mated)
PEOPLE = [
    "Aaron_Sorkin",
    "Abdel_Nasser_Assidi",
    "Abdullatif_Sener",
    "Adam_Scott",
    "AJ_Cook",
    "AJ_Lamas",
    "Aaron_Eckhart",
    "Aaron_Guiel",
    "Aaron_Patterson",
    "Aaron_Tippin",
]


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> None:
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def tiny_data(source: Path, target: Path) -> Path:
    """A data folder with PEOPLE's images, their labels and a 1-fold pairs.txt of 4 matched + 4 mismatched."""
    (target / "lfw").mkdir(parents=True)
    present = [p for p in PEOPLE if (source / "lfw" / p).is_dir()]
    for person in present:
        (target / "lfw" / person).symlink_to(source / "lfw" / person)
    (target / "lfw_labels").symlink_to(source / "lfw_labels")
    several = [p for p in present if len(list((source / "lfw" / p).glob("*.jpg"))) >= 2][:4]
    if len(several) < 4:
        pytest.skip("the LFW subset lacks people with two images")
    matched = [f"{p}\t1\t2" for p in several]
    mismatched = [f"{present[i]}\t1\t{present[-1 - i]}\t1" for i in range(4)]
    (target / "pairs.txt").write_text("\n".join(["1\t4", *matched, *mismatched]) + "\n")
    (target / "pairsDevTrain.txt").write_text("\n".join(["4", *matched, *mismatched]) + "\n")
    return target


def faceledger(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACELEDGER_WORKERS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "faceledger", *args], capture_output=True, text=True, timeout=900, check=False, env=env
    )


def test_cache_keeps_pipelines_apart(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.db")
    v = np.ones(4, np.float32)
    cache.put_models("fused|x", {"img": {"sface": v, "dlib": 2 * v}, "noface": None})
    cache.put_models("sface|x", {"img": {"sface": 3 * v}})
    cache.put("dlib-key|y", {"img": 4 * v})
    fused = cache.get_models("fused|x", ["img", "noface", "absent"])
    assert set(fused) == {"img", "noface"} and fused["noface"] is None
    assert fused["img"] is not None and float(fused["img"]["dlib"][0]) == 2.0
    only = cache.get_models("sface|x", ["img"])["img"]
    assert only is not None and set(only) == {"sface"} and float(only["sface"][0]) == 3.0
    assert float(cache.get("dlib-key|y", ["img"])["img"][0]) == 4.0  # type: ignore[index]
    cache.put_models("fused|x", {"img": None})  # re-measured: no face now; the old vectors go
    assert cache.get_models("fused|x", ["img"]) == {"img": None}
    cache.close()


@pytest.mark.needs_data
@pytest.mark.slow
def test_single_vector_keys_name_the_pipeline() -> None:
    """sface's vectors are 128-wide like dlib's: a shared key would hand one model's vectors to the other."""
    from faceledger.config import Settings
    from faceledger.eval.embeddings import pipeline_key
    from faceledger.types import Pipeline

    keys = {
        pipeline: pipeline_key(Settings(pipeline=pipeline))
        for pipeline in (Pipeline.DLIB, Pipeline.SFACE, Pipeline.FUSED)
    }
    assert len(set(keys.values())) == 3, keys
    assert keys[Pipeline.SFACE] != pipeline_key(Settings(pipeline=Pipeline.SFACE, yunet_min_score=0.5))


def test_eval_lfw_dlib_prints_strict_json_with_the_acceptance_keys(data_dir: Path, tmp_path: Path) -> None:
    data = tiny_data(data_dir, tmp_path / "data")
    result = faceledger(
        "eval",
        "lfw",
        "--pipeline",
        "dlib",
        "--data",
        str(data),
        "--folds",
        "1",
        "--json",
        "--out",
        str(tmp_path / "report"),
        "--cache",
        str(tmp_path / "cache.db"),
    )
    assert result.returncode == 0, result.stderr
    summary = strict_loads(result.stdout)
    assert summary["pipeline"] == "dlib" and summary["operating_threshold"] == 0.6
    assert summary["verification"]["pairs_used"] + summary["verification"]["pairs_without_face"] == 8
    assert isinstance(summary["verification"]["mean_accuracy"], float)
    for far in ("0.001", "0.0001"):
        assert "tar" in summary["verification"]["tar_at_far"][far]
    assert isinstance(summary["identification"]["rank1"], float)
    for fpir in ("0.01", "0.001"):
        assert "fnir" in summary["identification"]["fnir_at_fpir"][fpir]
        assert "fnir" in summary["identification"]["fnir_at_fpir_without_label_errors"][fpir]
    assert "group_fmr_worst_best_ratio" in summary
    assert strict_loads((tmp_path / "report" / "summary.json").read_text())["pipeline"] == "dlib"


@pytest.mark.needs_data
@pytest.mark.slow
def test_eval_compare_dlib_and_sface(data_dir: Path, tmp_path: Path) -> None:
    if importlib.util.find_spec("faceledger.engine.onnx_models") is None:
        pytest.skip("the ONNX pipelines are not in this tree")
    data = tiny_data(data_dir, tmp_path / "data")
    result = faceledger(
        "eval",
        "compare",
        "--pipeline",
        "dlib",
        "--pipeline",
        "sface",
        "--data",
        str(data),
        "--folds",
        "1",
        "--json",
        "--out",
        str(tmp_path / "cmp"),
        "--cache",
        str(tmp_path / "c.db"),
    )
    assert result.returncode == 0, result.stderr
    report = strict_loads(result.stdout)
    rows = {row["pipeline"]: row for row in report["pipelines"]}
    assert set(rows) == {"dlib", "sface"}
    assert rows["dlib"]["operating_threshold"] == 0.6
    assert rows["sface"]["operating_threshold"] != 0.6  # its own scale, at dlib's false-match rate
    assert all(row["accuracy"] >= 0.75 for row in rows.values())  # 8 easy pairs
    assert (tmp_path / "cmp" / "roc.png").is_file() and (tmp_path / "cmp" / "compare.html").is_file()
