"""Distance -> false-match-rate: what a score means, measured on impostor pairs of real faces.

The table stores counts, not just rates, so every estimate can say how many pairs it rests on. A lookup
rounds the distance *up* to the next grid point, which can only overstate the false-match rate."""

from __future__ import annotations

import bisect
import json
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from faceledger.errors import EngineUnavailable, InvalidInput, ModelMismatch, NotFound
from faceledger.types import ModelIdentity, Pipeline

DEFAULT_TABLE = "calibration_dlib_resnet_v1_lfw_view1.json"
_Z_95_ONE_SIDED = 1.6449
_FEW_OBSERVED = 10


@dataclass(frozen=True)
class FalseMatchEstimate:
    distance: float
    observed: int  # impostor pairs at or below this distance
    impostor_pairs: int

    @property
    def rate(self) -> float:
        return self.observed / self.impostor_pairs

    @property
    def upper_95(self) -> float:
        """One-sided 95% Wilson upper bound: honest when few or no impostor pairs were this close."""
        return wilson_upper(self.observed, self.impostor_pairs)

    @property
    def too_few_to_estimate(self) -> bool:
        """Under ~10 observed pairs a point estimate is noise: say the bound instead."""
        return self.observed < _FEW_OBSERVED

    def one_in(self) -> int:
        """Strangers per false match (two significant digits): from the point estimate, or the bound
        when too few were seen. More digits would claim a precision the pairs cannot give."""
        rate = self.upper_95 if self.too_few_to_estimate else self.rate
        return round_significant(max(1, round(1 / rate)))

    def describe(self) -> str:
        total = f"{self.impostor_pairs:,}"
        if self.too_few_to_estimate:
            seen = "none" if self.observed == 0 else f"only {self.observed}"
            return (
                f"fewer than 1 in {self.one_in():,} strangers score this close "
                f"({seen} of {total} impostor pairs did; 95% bound)"
            )
        return f"about 1 in {self.one_in():,} strangers score this close ({self.observed:,} of {total} impostor pairs)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "distance": round(self.distance, 4),
            "false_match_rate": self.rate,
            "false_match_rate_upper_95": self.upper_95,
            "one_in": self.one_in(),
            "observed_impostor_pairs": self.observed,
            "impostor_pairs": self.impostor_pairs,
            "text": self.describe(),
        }

    def expected_strangers(self, gallery_faces: int) -> float:
        """Strangers in a gallery of this size expected to score this close: N x the false-match rate, or
        N x its 95% bound when too few impostor pairs were this close for the rate to mean anything."""
        rate = self.upper_95 if self.too_few_to_estimate else self.rate
        return gallery_faces * rate

    def in_gallery(self, gallery_faces: int) -> str:
        """The lineup's sentence: "in a gallery of 1,000,000 faces, about 12 strangers would score this close"."""
        if gallery_faces < 0:
            raise InvalidInput(f"a gallery cannot hold {gallery_faces} faces")
        expected = self.expected_strangers(gallery_faces)
        if expected < 0.5:
            count = "fewer than one stranger"
        else:
            rounded = round_significant(round(expected))
            qualifier = "at most" if self.too_few_to_estimate else "about"
            count = f"{qualifier} {rounded:,} stranger{'s' if rounded != 1 else ''}"
        sentence = f"in a gallery of {gallery_faces:,} faces, {count} would score this close"
        if self.too_few_to_estimate:
            seen = "none" if self.observed == 0 else f"only {self.observed}"
            sentence += f" (a 95% upper bound: {seen} of {self.impostor_pairs:,} impostor pairs did)"
        return sentence

    def gallery_dict(self, gallery_faces: int) -> dict[str, Any]:
        return {
            "gallery_faces": gallery_faces,
            "expected_strangers": round(self.expected_strangers(gallery_faces), 4),
            "upper_bound": self.too_few_to_estimate,
            "text": self.in_gallery(gallery_faces),
        }


def round_significant(value: int, digits: int = 2) -> int:
    if value < 10**digits:
        return value
    scale: int = 10 ** (len(str(value)) - digits)
    return round(value / scale) * scale


def wilson_upper(successes: int, trials: int, z: float = _Z_95_ONE_SIDED) -> float:
    if trials <= 0:
        raise InvalidInput("a rate needs at least one trial")
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = p + z * z / (2 * trials)
    spread = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials))
    return min(1.0, (centre + spread) / denominator)


@dataclass(frozen=True)
class GroupCalibration:
    """Impostor pairs within one demographic group (both faces in it), counted on the table's grid."""

    attribute: str  # "race" | "gender"
    group: str
    people: int
    impostor_pairs: int
    impostor_at_or_below: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.attribute}={self.group}"

    @classmethod
    def from_json(cls, data: dict[str, Any], rows: int) -> GroupCalibration:
        counts = tuple(int(c) for c in data["impostor_at_or_below"])
        if len(counts) != rows:
            raise ValueError(f"group {data['attribute']}={data['group']} has {len(counts)} counts for {rows} rows")
        return cls(str(data["attribute"]), str(data["group"]), int(data["people"]), int(data["impostor_pairs"]), counts)

    def to_json(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "group": self.group,
            "people": self.people,
            "impostor_pairs": self.impostor_pairs,
            "impostor_at_or_below": list(self.impostor_at_or_below),
        }


@dataclass(frozen=True)
class CalibrationTable:
    model: ModelIdentity
    dataset: str
    method: str
    impostor_pairs: int
    genuine_pairs: int
    distances: tuple[float, ...]  # ascending grid
    impostor_at_or_below: tuple[int, ...]  # false matches if the threshold were this distance
    genuine_above: tuple[int, ...]  # false non-matches if the threshold were this distance
    groups: tuple[GroupCalibration, ...] = ()  # per demographic group; tables measured before have none

    def grid_index(self, distance: float) -> int:
        """The row a distance is read at: the next grid point up (never understating a rate)."""
        if distance < 0 or math.isnan(distance):
            raise InvalidInput(f"distance must be a non-negative number, got {distance}")
        return min(bisect.bisect_left(self.distances, distance - 1e-9), len(self.distances) - 1)

    def group(self, attribute: str, group: str) -> GroupCalibration:
        for found in self.groups:
            if found.attribute == attribute and found.group == group:
                return found
        known = ", ".join(g.name for g in self.groups) or "none"
        raise NotFound(f"the calibration table has no group {attribute}={group} (it has: {known})")

    def group_false_match(self, attribute: str, group: str, distance: float) -> FalseMatchEstimate:
        found = self.group(attribute, group)
        return FalseMatchEstimate(distance, found.impostor_at_or_below[self.grid_index(distance)], found.impostor_pairs)

    def false_match(self, distance: float) -> FalseMatchEstimate:
        if distance < 0 or math.isnan(distance):
            raise InvalidInput(f"distance must be a non-negative number, got {distance}")
        index = min(bisect.bisect_left(self.distances, distance - 1e-9), len(self.distances) - 1)
        return FalseMatchEstimate(distance, self.impostor_at_or_below[index], self.impostor_pairs)

    def false_non_match_rate(self, threshold: float) -> float:
        index = min(bisect.bisect_left(self.distances, threshold - 1e-9), len(self.distances) - 1)
        return self.genuine_above[index] / self.genuine_pairs

    def distance_for_false_match_rate(self, target: float) -> float:
        """The largest grid distance whose measured false-match rate does not exceed `target`."""
        best = 0.0
        for distance, observed in zip(self.distances, self.impostor_at_or_below, strict=True):
            if observed / self.impostor_pairs <= target:
                best = distance
        return best

    def check_model(self, model: ModelIdentity) -> None:
        if model.weights_sha256 != self.model.weights_sha256:
            raise ModelMismatch(
                f"the calibration table was measured for {self.model.key}, not {model.key}; "
                "scores of one model cannot be read with another model's table"
            )

    def to_json(self) -> dict[str, Any]:
        data = {
            "model": self.model.to_dict(),
            "dataset": self.dataset,
            "method": self.method,
            "impostor_pairs": self.impostor_pairs,
            "genuine_pairs": self.genuine_pairs,
            "rows": [
                {"distance": d, "impostor_at_or_below": i, "genuine_above": g}
                for d, i, g in zip(self.distances, self.impostor_at_or_below, self.genuine_above, strict=True)
            ],
        }
        if self.groups:
            data["groups"] = [group.to_json() for group in self.groups]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CalibrationTable:
        try:
            rows = data["rows"]
            return cls(
                model=ModelIdentity(**data["model"]),
                dataset=str(data["dataset"]),
                method=str(data["method"]),
                impostor_pairs=int(data["impostor_pairs"]),
                genuine_pairs=int(data["genuine_pairs"]),
                distances=tuple(float(r["distance"]) for r in rows),
                impostor_at_or_below=tuple(int(r["impostor_at_or_below"]) for r in rows),
                genuine_above=tuple(int(r["genuine_above"]) for r in rows),
                groups=tuple(GroupCalibration.from_json(g, len(rows)) for g in data.get("groups", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"calibration table is malformed: {exc}") from exc


def load_calibration(path: Path | None = None) -> CalibrationTable:
    """The table shipped with the package, or one at `path` (e.g. a deployment's own measurement)."""
    if path is None:
        text = resources.files("faceledger.engine").joinpath("data", DEFAULT_TABLE).read_text()
    else:
        try:
            text = path.read_text()
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read calibration table ({exc.strerror})") from exc
    try:
        return CalibrationTable.from_json(json.loads(text))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"calibration table is not valid JSON: {exc}") from exc


# The table each pipeline's distances are read with (fused: the fused score's own table, engine/fusion.py).
PIPELINE_TABLES = {
    Pipeline.DLIB: DEFAULT_TABLE,
    Pipeline.SFACE: "calibration_sface_lfw_view1.json",
    Pipeline.FUSED: "calibration_fused_lfw_view1.json",
}


def load_pipeline_calibration(pipeline: Pipeline) -> CalibrationTable:
    """The shipped table for a pipeline's distances; a pipeline never reads another pipeline's table."""
    name = PIPELINE_TABLES[pipeline]
    path = resources.files("faceledger.engine").joinpath("data", name)
    if not path.is_file():
        raise EngineUnavailable(
            f"no calibration table for the {pipeline.value} pipeline: faceledger/engine/data/{name} is missing "
            "(it is measured by faceledger eval on LFW View 1); its scores cannot be given a false-match rate"
        )
    try:
        return CalibrationTable.from_json(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"calibration table {name} is not valid JSON: {exc}") from exc
