"""Per-group counts in a calibration table, the table each pipeline reads, and the lineup's sentence."""

from __future__ import annotations

import json

import pytest

from faceledger.engine import calibration
from faceledger.engine.calibration import (
    CalibrationTable,
    FalseMatchEstimate,
    load_calibration,
    load_pipeline_calibration,
)
from faceledger.errors import EngineUnavailable, InvalidInput, NotFound
from faceledger.types import Pipeline
from tests.calibration_tables import AFRICAN, CAUCASIAN, table


def test_groups_round_trip_and_are_read_on_the_grid() -> None:
    built = table(AFRICAN, CAUCASIAN)
    data = json.loads(json.dumps(built.to_json()))
    assert [g["group"] for g in data["groups"]] == ["african", "caucasian"]
    again = CalibrationTable.from_json(data)
    assert again == built
    estimate = again.group_false_match("race", "african", 0.45)  # rounds up to the 0.5 row
    assert (estimate.observed, estimate.impostor_pairs) == (AFRICAN.impostor_at_or_below[5], AFRICAN.impostor_pairs)
    assert estimate.rate == pytest.approx(1e-2)
    with pytest.raises(NotFound, match="race=african, race=caucasian"):
        again.group_false_match("race", "martian", 0.5)


def test_old_tables_without_groups_still_load() -> None:
    shipped = load_calibration()
    assert shipped.groups == () and "groups" not in shipped.to_json()
    assert load_pipeline_calibration(Pipeline.DLIB) == shipped
    with pytest.raises(NotFound, match="has: none"):
        shipped.group_false_match("gender", "female", 0.5)


def test_a_malformed_group_is_refused() -> None:
    data = table(AFRICAN).to_json()
    data["groups"][0]["impostor_at_or_below"] = [0, 1]
    with pytest.raises(InvalidInput, match="2 counts for 11 rows"):
        CalibrationTable.from_json(data)
    del data["groups"][0]["people"]
    with pytest.raises(InvalidInput, match="malformed"):
        CalibrationTable.from_json(data)


def test_a_pipeline_without_its_table_says_which_file_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(calibration.PIPELINE_TABLES, Pipeline.SFACE, "calibration_not_measured_yet.json")
    with pytest.raises(EngineUnavailable, match=r"sface pipeline.*calibration_not_measured_yet\.json is missing"):
        load_pipeline_calibration(Pipeline.SFACE)
    assert calibration.PIPELINE_TABLES[Pipeline.FUSED] == "calibration_fused_lfw_view1.json"


def test_the_lineup_sentence() -> None:
    twelve = FalseMatchEstimate(0.5, 120, 10_000_000)  # 1.2e-5 per stranger
    assert twelve.in_gallery(1_000_000) == "in a gallery of 1,000,000 faces, about 12 strangers would score this close"
    assert twelve.gallery_dict(1_000_000) == {
        "gallery_faces": 1_000_000,
        "expected_strangers": 12.0,
        "upper_bound": False,
        "text": twelve.in_gallery(1_000_000),
    }
    assert twelve.in_gallery(1_000) == "in a gallery of 1,000 faces, fewer than one stranger would score this close"
    one = FalseMatchEstimate(0.5, 100, 100_000)
    assert one.in_gallery(1_000).startswith("in a gallery of 1,000 faces, about 1 stranger would")
    few = FalseMatchEstimate(0.3, 3, 10_000_000)  # too few to estimate: the 95% bound, worded as such
    sentence = few.in_gallery(10_000_000)
    bound = round(10_000_000 * few.upper_95)
    assert sentence.startswith(f"in a gallery of 10,000,000 faces, at most {bound} strangers would score this close")
    assert "95% upper bound: only 3 of 10,000,000 impostor pairs did" in sentence
    assert few.gallery_dict(10_000_000)["upper_bound"] is True
    assert "none of" in FalseMatchEstimate(0.1, 0, 5_000).in_gallery(100_000)
    with pytest.raises(InvalidInput, match="cannot hold"):
        twelve.in_gallery(-1)
