"""Every shipped calibration table (dlib, sface, fused) is valid, monotone and carries consistent
per-group impostor counts (the format the operating-threshold policy reads)."""

from __future__ import annotations

import itertools
import json
from importlib import resources
from typing import Any

import pytest

from faceledger.engine.calibration import CalibrationTable
from faceledger.eval.operating import CALIBRATION_FILES
from faceledger.types import BUILTIN_PIPELINES, Pipeline

SHIPPED = [
    p
    for p in BUILTIN_PIPELINES
    if resources.files("faceledger.engine").joinpath("data", CALIBRATION_FILES[p]).is_file()
]


def raw(pipeline: Pipeline) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("faceledger.engine").joinpath("data", CALIBRATION_FILES[pipeline]).read_text()
    )
    return data


def nondecreasing(values: list[int]) -> bool:
    return all(a <= b for a, b in itertools.pairwise(values))


def test_the_dlib_table_ships() -> None:
    assert Pipeline.DLIB in SHIPPED


@pytest.mark.parametrize("pipeline", SHIPPED, ids=str)
def test_table_is_valid_and_monotone(pipeline: Pipeline) -> None:
    table = CalibrationTable.from_json(raw(pipeline))
    assert list(table.distances) == sorted(set(table.distances)) and table.distances[0] == 0.0
    assert nondecreasing(list(table.impostor_at_or_below))
    assert nondecreasing([-g for g in table.genuine_above])
    assert table.impostor_at_or_below[-1] == table.impostor_pairs > 1_000_000  # the grid covers every impostor
    assert table.genuine_above[-1] == 0 and table.genuine_above[0] == table.genuine_pairs > 500
    assert "View 1" in table.dataset


# The dlib table predates group counts (`make calibrate` adds them, rows unchanged); until then the
# operating threshold says its promise covers the average only (tests/policy/test_operating_threshold.py).
@pytest.mark.parametrize("pipeline", [p for p in SHIPPED if p is not Pipeline.DLIB], ids=str)
def test_group_counts_are_consistent(pipeline: Pipeline) -> None:
    data = raw(pipeline)
    rows = data["rows"]
    groups = data["groups"]
    assert {g["attribute"] for g in groups} == {"race", "gender"}
    for attribute in ("race", "gender"):
        of = [g for g in groups if g["attribute"] == attribute]
        assert len({g["group"] for g in of}) == len(of) >= 2
        assert sum(g["impostor_pairs"] for g in of) <= data["impostor_pairs"]  # within-group pairs only
        for g in of:
            counts = g["impostor_at_or_below"]
            assert len(counts) == len(rows) and nondecreasing(counts)
            assert counts[-1] == g["impostor_pairs"] and g["people"] > 0
            # a group's false matches at a distance can never exceed everyone's
            assert all(c <= r["impostor_at_or_below"] for c, r in zip(counts, rows, strict=True))
