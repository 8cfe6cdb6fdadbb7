"""The operating threshold on hand-built tables: the worst group of enough people drives it, a bigger
gallery tightens it, and a promise no measured distance can keep is reported as not kept."""

from __future__ import annotations

import dataclasses

import pytest

from faceledger.errors import InvalidInput
from faceledger.policy.operating_threshold import false_candidate_rate, operating_threshold
from faceledger.types import ThresholdMode
from tests.calibration_tables import AFRICAN, CAUCASIAN, GRID, THIN, group, table


def test_false_candidate_rate_is_one_minus_the_chance_no_stranger_matches() -> None:
    assert false_candidate_rate(1e-4, 100) == pytest.approx(1 - (1 - 1e-4) ** 100, rel=1e-12)
    assert false_candidate_rate(0.0, 10**9) == 0.0 and false_candidate_rate(1.0, 1) == 1.0
    assert false_candidate_rate(1.0, 0) == 0.0


def test_the_worst_group_drives_the_threshold() -> None:
    overall_only = operating_threshold(table(), 100, 0.01, 20)
    with_groups = operating_threshold(table(AFRICAN, CAUCASIAN), 100, 0.01, 20)
    assert with_groups.promise_met and overall_only.promise_met
    assert with_groups.threshold < overall_only.threshold, "the worst group must tighten the average's threshold"
    assert with_groups.worst.fpir_upper <= 0.01
    # One grid step looser, the african group would break the promise while the overall table still keeps it.
    looser = operating_threshold(
        table(AFRICAN, CAUCASIAN), 100, 0.01, 20, mode=ThresholdMode.FIXED, fixed=round(with_groups.threshold + 0.1, 1)
    )
    assert not looser.promise_met and looser.overall.fpir_upper <= 0.01 < looser.worst.fpir_upper
    assert looser.worst.name == "race=african"
    assert {g.name for g in with_groups.groups} == {"race=african", "race=caucasian"}
    expected = with_groups.to_dict()
    assert expected["worst_group"] == with_groups.worst.name and expected["expected_false_candidates"] == pytest.approx(
        100 * with_groups.overall.false_match.rate
    )


def test_a_bigger_gallery_lowers_the_threshold() -> None:
    tables = table(AFRICAN, CAUCASIAN)
    sizes = [1, 10, 1000]
    thresholds = [operating_threshold(tables, n, 0.01, 20).threshold for n in sizes]
    assert thresholds == sorted(thresholds, reverse=True) and thresholds[0] > thresholds[-1]
    small, large = (operating_threshold(tables, n, 0.01, 20) for n in (10, 1000))
    assert large.gallery_faces == 1000 and large.expected_false_candidates == pytest.approx(
        1000 * tables.false_match(large.threshold).rate
    )
    assert small.promise_met


def test_groups_under_the_minimum_people_are_ignored() -> None:
    without = operating_threshold(table(AFRICAN, CAUCASIAN), 100, 0.01, 20)
    with_thin = operating_threshold(table(AFRICAN, CAUCASIAN, THIN), 100, 0.01, 20)
    assert with_thin.threshold == without.threshold and with_thin.ignored_groups == ("race=east_asian",)
    assert "race=east_asian" not in {g.name for g in with_thin.groups}
    counted = dataclasses.replace(THIN, people=20)  # at the minimum it counts, and its rates drive everything
    steered = operating_threshold(table(AFRICAN, CAUCASIAN, counted), 100, 0.01, 20)
    assert not steered.promise_met and steered.worst.name == "race=east_asian"


def test_a_promise_the_table_cannot_resolve_is_reported_as_not_kept() -> None:
    tables = table(AFRICAN, CAUCASIAN)
    huge = operating_threshold(tables, 10_000_000, 0.01, 20)
    assert not huge.promise_met
    # The tightest the data supports: the largest distance at which no group has seen a single impostor
    # pair (0.1 here: the overall table and caucasian first see pairs at 0.2).
    assert huge.threshold == GRID[1]
    assert huge.worst.fpir_upper > 0.01
    assert huge.overall.expected_false_candidates_upper > 0, "the bound on false candidates is stated"
    text = huge.describe()
    assert "NOT kept" in text and "tightest the data supports" in text and "10,000,000 gallery faces" in text
    point = huge.to_dict()
    assert point["promise_met"] is False and point["expected_false_candidates_upper_95"] > 0


def test_a_fixed_threshold_is_used_as_set_and_its_promise_still_reported() -> None:
    fixed = operating_threshold(table(AFRICAN), 1000, 0.01, 20, mode=ThresholdMode.FIXED, fixed=0.6)
    assert fixed.threshold == 0.6 and fixed.mode is ThresholdMode.FIXED and not fixed.promise_met
    assert "fixed by the deployment" in fixed.describe()
    with pytest.raises(InvalidInput, match="positive"):
        operating_threshold(table(), 10, 0.01, 20, mode=ThresholdMode.FIXED, fixed=None)


def test_an_empty_gallery_and_bad_inputs() -> None:
    empty = operating_threshold(table(AFRICAN), 0, 0.01, 20)
    assert empty.threshold == operating_threshold(table(AFRICAN), 1, 0.01, 20).threshold
    assert empty.expected_false_candidates == 0 and empty.promise_met
    with pytest.raises(InvalidInput, match="cannot hold"):
        operating_threshold(table(), -1, 0.01, 20)
    with pytest.raises(InvalidInput, match="between 0 and 1"):
        operating_threshold(table(), 10, 1.5, 20)


# 22 people and 721 impostor pairs, as LFW View 1's african group: none closer than 0.3, then a few.
FEW_PAIRS = group("race", "african", 22, 721, (0, 0, 0, 0.003, 0.01, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0))


def test_a_group_too_thinly_measured_to_bound_keeps_its_measured_rate_and_is_named() -> None:
    """Even with no impostor seen, 721 pairs bound the rate only at ~4e-3, which no gallery of 10 faces can
    keep at 1%: steering by that bound would leave every search at the tightest distance (no leads at all)."""
    thin = operating_threshold(table(CAUCASIAN, FEW_PAIRS), 10, 0.01, 20)
    alone = operating_threshold(table(CAUCASIAN), 10, 0.01, 20)
    assert thin.unvouched_groups == ("race=african",) and not thin.promise_met
    # Held to its measured rate: no pair under 0.3; 0.3% at 0.3 (10 faces: 3% of searches) is too many. The
    # tightest the data supports would be 0.1 (the overall table first sees a pair at 0.2).
    assert thin.threshold == 0.2 and alone.threshold > thin.threshold > GRID[1]
    assert "race=african: measured on too few pairs to vouch for the promise" in thin.describe()
    assert "tightest the data supports" not in thin.describe()
    assert thin.to_dict()["unvouched_groups"] == ["race=african"]
    assert alone.promise_met and alone.unvouched_groups == ()
    tiny = operating_threshold(table(CAUCASIAN, FEW_PAIRS), 2, 0.01, 20)  # a bound that can still be met
    assert tiny.unvouched_groups == () and tiny.promise_met
