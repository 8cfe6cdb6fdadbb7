from __future__ import annotations

import dataclasses

import pytest

from faceledger.engine.calibration import CalibrationTable, load_calibration, round_significant, wilson_upper
from faceledger.engine.models import recognition_model_identity
from faceledger.errors import InvalidInput, ModelMismatch
from faceledger.types import ModelIdentity


def small_table() -> CalibrationTable:
    return CalibrationTable(
        model=ModelIdentity("m", "1", "a" * 64),
        dataset="hand-made",
        method="test",
        impostor_pairs=1000,
        genuine_pairs=100,
        distances=(0.3, 0.4, 0.5, 0.6),
        impostor_at_or_below=(0, 1, 10, 100),
        genuine_above=(90, 50, 10, 2),
    )


def test_lookup_rounds_the_distance_up() -> None:
    table = small_table()
    assert table.false_match(0.4).observed == 1
    assert table.false_match(0.41).observed == 10  # conservative: the next grid point
    assert table.false_match(0.9).observed == 100  # beyond the grid: the last row
    assert table.false_match(0.5).rate == pytest.approx(0.01)
    assert table.false_non_match_rate(0.6) == pytest.approx(0.02)


def test_zero_observed_reports_a_bound_not_zero() -> None:
    estimate = small_table().false_match(0.2)
    assert estimate.observed == 0
    assert 0 < estimate.upper_95 < 0.004  # ~ 2.7 / 1000
    assert estimate.describe().startswith("fewer than 1 in ")
    assert "none of 1,000 impostor pairs" in estimate.describe()


def test_wilson_upper_bound() -> None:
    assert wilson_upper(0, 1000) == pytest.approx(1.6449**2 / (1000 + 1.6449**2), rel=1e-6)
    assert wilson_upper(50, 100) > 0.5
    with pytest.raises(InvalidInput):
        wilson_upper(0, 0)


def test_round_significant() -> None:
    assert round_significant(180) == 180
    assert round_significant(2_126_024) == 2_100_000
    assert round_significant(99) == 99


def test_distance_for_target_rate() -> None:
    assert small_table().distance_for_false_match_rate(0.01) == 0.5
    assert small_table().distance_for_false_match_rate(1e-9) == 0.3


def test_bad_distance() -> None:
    with pytest.raises(InvalidInput):
        small_table().false_match(-0.1)


def test_json_round_trip_and_model_check() -> None:
    table = small_table()
    assert CalibrationTable.from_json(table.to_json()) == table
    with pytest.raises(ModelMismatch, match="scores of one model cannot be read with another"):
        table.check_model(ModelIdentity("m", "1", "b" * 64))
    with pytest.raises(InvalidInput, match="malformed"):
        CalibrationTable.from_json({"rows": []})


def test_shipped_table_belongs_to_the_installed_model() -> None:
    table = load_calibration()
    table.check_model(recognition_model_identity())
    assert table.impostor_pairs > 1_000_000 and table.genuine_pairs > 1000
    counts = table.impostor_at_or_below
    assert list(counts) == sorted(counts), "false matches can only grow with the distance"
    assert list(table.genuine_above) == sorted(table.genuine_above, reverse=True)
    # dlib's published operating point: roughly 99.4% accuracy, so both error rates are small there
    assert table.false_match(0.6).rate < 0.02
    assert table.false_non_match_rate(0.6) < 0.03
    assert dataclasses.asdict(table)["dataset"].startswith("LFW View 1 training")


def test_few_observed_pairs_report_a_bound() -> None:
    estimate = small_table().false_match(0.4)  # 1 of 1000: too few for "about 1 in 1,000"
    assert estimate.observed == 1
    assert estimate.describe().startswith("fewer than 1 in ")
    assert "only 1 of 1,000 impostor pairs did" in estimate.describe()
    assert estimate.one_in() < 1000
    assert small_table().false_match(0.6).describe().startswith("about 1 in 10 ")
