"""The operating threshold: the distance a search may call a candidate, derived from a promise.

The deployment promises that a search of its gallery (N faces) returns a false candidate for a person who
is not in it at most `target_fpir` of the time, for every demographic group measured on enough people,
not just on average. With a per-pair false-match rate p, a search of N strangers' faces returns at least
one false candidate with probability 1 - (1 - p)^N; p is read as the 95% upper bound of the group's
measured rate, so a thin group cannot look safe by having been measured little. The threshold is the
largest grid distance at which that holds for the overall table and every group of at least
`min_group_people` people. A group measured on too few pairs for any bound to be low enough at this
gallery size (LFW View 1 holds 721 impostor pairs of 22 african people: even none seen leaves a bound of
5e-3) cannot steer by its bound, or no gallery of more than a few faces could be searched: for it the
threshold keeps its *measured* rate within the promise, and the promise is reported as not vouched for
that group, by name. When no distance keeps even that (a gallery larger than the whole measurement can
vouch for), the threshold is the tightest the data supports and the promise is reported as unmet: never a
silent fall back to a fixed number."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from faceledger.engine.calibration import CalibrationTable, FalseMatchEstimate
from faceledger.errors import InvalidInput
from faceledger.types import ThresholdMode

OVERALL = "overall"


@dataclass(frozen=True)
class _Counts:
    name: str
    people: int | None  # None: the whole table
    impostor_pairs: int
    at_or_below: tuple[int, ...]


@dataclass(frozen=True)
class GroupRisk:
    """What a threshold means for one group (or the whole table) in a gallery of N faces."""

    name: str  # "overall" or "race=african"
    people: int | None
    false_match: FalseMatchEstimate
    gallery_faces: int

    @property
    def fpir_upper(self) -> float:
        return false_candidate_rate(self.false_match.upper_95, self.gallery_faces)

    @property
    def expected_false_candidates(self) -> float:
        return self.gallery_faces * self.false_match.rate

    @property
    def expected_false_candidates_upper(self) -> float:
        """N x the 95% bound: what the measurement can vouch for when few pairs were this close."""
        return self.gallery_faces * self.false_match.upper_95

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.name,
            "people": self.people,
            "false_match_rate": self.false_match.rate,
            "false_match_rate_upper_95": self.false_match.upper_95,
            "fpir_upper_95": self.fpir_upper,
            "expected_false_candidates": self.expected_false_candidates,
            "expected_false_candidates_upper_95": self.expected_false_candidates_upper,
        }


@dataclass(frozen=True)
class OperatingThreshold:
    mode: ThresholdMode
    threshold: float
    gallery_faces: int
    target_fpir: float
    promise_met: bool
    overall: GroupRisk
    groups: tuple[GroupRisk, ...]  # the groups the promise is kept for
    ignored_groups: tuple[str, ...]  # measured on too few people to steer by
    unvouched_groups: tuple[str, ...] = ()  # too few pairs to bound at this gallery size: held to their rate

    @property
    def worst(self) -> GroupRisk:
        """The group the promise is closest to failing for (the overall table when no group counts)."""
        return max((self.overall, *self.groups), key=lambda risk: risk.fpir_upper)

    @property
    def expected_false_candidates(self) -> float:
        return self.overall.expected_false_candidates

    def strangers(self, false_match: FalseMatchEstimate) -> dict[str, Any]:
        """A candidate's "in a gallery of N faces, about k strangers would score this close"."""
        return false_match.gallery_dict(self.gallery_faces)

    def describe(self) -> str:
        worst = self.worst
        kept = "kept" if self.promise_met else "NOT kept"
        how = "derived from the promise" if self.mode is ThresholdMode.DERIVED else "fixed by the deployment"
        text = (
            f"threshold {self.threshold:.3f} ({how}) for {self.gallery_faces:,} gallery faces: a person not in "
            f"the gallery should get a false candidate in at most {self.target_fpir:.2%} of searches; promise {kept} "
            f"(worst: {worst.name}, up to {worst.fpir_upper:.2%}); expected false candidates per search "
            f"{_amount(self.overall)} (worst group {_amount(worst)})"
        )
        if not self.groups:
            text += "; this table has no per-group counts of enough people, so the promise is for the average only"
        if self.unvouched_groups:
            text += (
                f"; {', '.join(self.unvouched_groups)}: measured on too few pairs to vouch for the promise at this "
                "gallery size, so the threshold only keeps the measured rate within it"
            )
        if not self.promise_met and self.mode is ThresholdMode.DERIVED and not self.unvouched_groups:
            text += (
                "; no measured distance keeps the promise for a gallery this large: this threshold is the "
                "tightest the data supports"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        worst = self.worst
        return {
            "mode": self.mode.value,
            "threshold": self.threshold,
            "gallery_faces": self.gallery_faces,
            "target_fpir": self.target_fpir,
            "promise_met": self.promise_met,
            "expected_false_candidates": self.expected_false_candidates,
            "worst_group": worst.name,
            "worst_group_fpir_upper_95": worst.fpir_upper,
            "worst_group_expected_false_candidates": worst.expected_false_candidates,
            "expected_false_candidates_upper_95": self.overall.expected_false_candidates_upper,
            "overall": self.overall.to_dict(),
            "groups": [group.to_dict() for group in self.groups],
            "ignored_groups": list(self.ignored_groups),
            "unvouched_groups": list(self.unvouched_groups),
            "text": self.describe(),
        }


def _amount(risk: GroupRisk) -> str:
    return f"{risk.expected_false_candidates:.2g}, at most {risk.expected_false_candidates_upper:.2g}"


def false_candidate_rate(false_match_rate: float, gallery_faces: int) -> float:
    """P(at least one of N strangers scores within the threshold) = 1 - (1 - p)^N, computed stably."""
    if false_match_rate >= 1.0:
        return 1.0 if gallery_faces > 0 else 0.0
    return -math.expm1(gallery_faces * math.log1p(-false_match_rate))


def operating_threshold(
    table: CalibrationTable,
    gallery_faces: int,
    target_fpir: float,
    min_group_people: int,
    *,
    mode: ThresholdMode = ThresholdMode.DERIVED,
    fixed: float | None = None,
) -> OperatingThreshold:
    if gallery_faces < 0:
        raise InvalidInput(f"a gallery cannot hold {gallery_faces} faces")
    if not 0 < target_fpir < 1:
        raise InvalidInput(f"the target false-candidate rate must be between 0 and 1, got {target_fpir}")
    overall = _Counts(OVERALL, None, table.impostor_pairs, table.impostor_at_or_below)
    kept = [
        _Counts(g.name, g.people, g.impostor_pairs, g.impostor_at_or_below)
        for g in table.groups
        if g.people >= min_group_people and g.impostor_pairs > 0
    ]
    ignored = tuple(g.name for g in table.groups if g.people < min_group_people or g.impostor_pairs <= 0)
    counts = [overall, *kept]
    # An empty gallery is derived as one of one face: the threshold the next search would need.
    derive_for = max(gallery_faces, 1)

    # A group whose bound fails even with no impostor seen cannot be steered by its bound at this size.
    unvouched = [c for c in kept if false_candidate_rate(_upper(c, 0, zero=True), derive_for) > target_fpir]
    bounded = [c for c in counts if c not in unvouched]

    def holds(row: int) -> bool:
        return all(false_candidate_rate(_upper(c, row), derive_for) <= target_fpir for c in bounded) and all(
            false_candidate_rate(c.at_or_below[row] / c.impostor_pairs, derive_for) <= target_fpir for c in unvouched
        )

    if mode is ThresholdMode.FIXED:
        if fixed is None or fixed <= 0:
            raise InvalidInput("a fixed threshold needs a positive match_threshold")
        threshold, row = fixed, table.grid_index(fixed)
        met = holds(row) and not unvouched
    else:
        # Counts are cumulative, so the rate only grows with distance: the rows that hold are a prefix.
        met_rows = [row for row in range(len(table.distances)) if holds(row)]
        met = bool(met_rows)
        if not met:  # the tightest distance the data supports: nothing is vouched for, whatever the group
            unvouched = []
        row = met_rows[-1] if met else _tightest(counts)
        threshold = table.distances[row]
        if threshold <= 0:  # a threshold must be positive; the first grid step above zero is the tightest usable
            row = min(row + 1, len(table.distances) - 1)
            threshold, met = table.distances[row], met and holds(row)
        met = met and not unvouched

    def risk(c: _Counts) -> GroupRisk:
        return GroupRisk(
            c.name, c.people, FalseMatchEstimate(threshold, c.at_or_below[row], c.impostor_pairs), gallery_faces
        )

    return OperatingThreshold(
        mode,
        threshold,
        gallery_faces,
        target_fpir,
        met,
        risk(overall),
        tuple(risk(c) for c in kept),
        ignored,
        tuple(c.name for c in unvouched),
    )


def _upper(counts: _Counts, row: int, *, zero: bool = False) -> float:
    """The 95% upper bound of the rate at `row`; `zero`: as if no impostor pair had been seen at all."""
    errors = 0 if zero else counts.at_or_below[row]
    return FalseMatchEstimate(0.0, errors, counts.impostor_pairs).upper_95


def _tightest(counts: list[_Counts]) -> int:
    """The largest row whose every bound is still as low as at distance 0: the data cannot tell any distance
    up to it from a perfect matcher, and any larger one is measurably worse for some group."""
    row = 0
    for candidate in range(1, len(counts[0].at_or_below)):
        if any(c.at_or_below[candidate] != c.at_or_below[0] for c in counts):
            break
        row = candidate
    return row
