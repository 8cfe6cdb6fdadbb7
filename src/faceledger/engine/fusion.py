"""Score fusion: several models' distances for one pair of faces -> one distance, lower = closer.

Each model's distance is turned into a z-score with that model's mean and spread (fitted on LFW View 1
training pairs only), the z-scores are averaged with fitted weights, and the result is mapped back onto a
non-negative distance scale so that a calibration table can be measured for it like any other model's.
A pair where a model found no usable face is scored with the models that did (weights renormalised):
treating the missing score as a non-match made fusion worse than SFace alone on hard poses."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from faceledger.errors import InvalidInput, ModelMismatch
from faceledger.types import Pipeline


@dataclass(frozen=True)
class ModelScale:
    """One model's part in the rule: its distances' mean and spread, and its weight."""

    model_key: str  # ModelIdentity.key
    mean: float
    std: float
    weight: float


@dataclass(frozen=True)
class FusionRule:
    name: str
    fitted_on: str  # what the parameters were fitted on (View 1 only; View 2 is the test)
    models: tuple[ModelScale, ...]
    offset: float  # fused distance = max(0, offset + scale * weighted mean z)
    scale: float

    @property
    def model_keys(self) -> tuple[str, ...]:
        return tuple(m.model_key for m in self.models)

    def distance(self, distances: Mapping[str, float]) -> float:
        """The fused distance from whichever of the rule's models scored the pair."""
        unknown = set(distances) - set(self.model_keys)
        if unknown:
            raise ModelMismatch(f"the fusion rule {self.name} has no part for {sorted(unknown)}")
        present = [m for m in self.models if m.model_key in distances]
        if not present:
            raise InvalidInput(f"the fusion rule {self.name} needs at least one model's distance")
        total = sum(m.weight for m in present)
        z = sum(m.weight * (distances[m.model_key] - m.mean) / m.std for m in present) / total
        return max(0.0, self.offset + self.scale * z)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fitted_on": self.fitted_on,
            "offset": self.offset,
            "scale": self.scale,
            "models": [
                {"model_key": m.model_key, "mean": m.mean, "std": m.std, "weight": m.weight} for m in self.models
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FusionRule:
        try:
            models = tuple(
                ModelScale(str(m["model_key"]), float(m["mean"]), float(m["std"]), float(m["weight"]))
                for m in data["models"]
            )
            rule = cls(str(data["name"]), str(data["fitted_on"]), models, float(data["offset"]), float(data["scale"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(f"fusion rule is malformed: {exc}") from exc
        if not models or any(m.std <= 0 or m.weight <= 0 for m in models) or rule.scale <= 0:
            raise InvalidInput(f"fusion rule {rule.name}: every spread, weight and the scale must be positive")
        return rule


def load_fusion_rule(filename: str) -> FusionRule:
    """A rule shipped in engine/data (fitted by `python -m faceledger.eval.fusion_fit`)."""
    try:
        text = resources.files("faceledger.engine").joinpath("data", filename).read_text()
    except OSError as exc:
        raise InvalidInput(f"fusion rule {filename} is not shipped with this package ({exc})") from exc
    return FusionRule.from_json(json.loads(text))


FUSION_RULE_FILE = "fusion_sface_dlib_lfw_view1.json"  # fitted by `python -m faceledger.eval.fusion_fit`


def fusion_rule_for(pipeline: Pipeline | str) -> FusionRule | None:
    """The shipped rule that scores a pipeline's models together; None for a single-model pipeline."""
    if Pipeline(pipeline) is not Pipeline.FUSED:
        return None
    return load_fusion_rule(FUSION_RULE_FILE)
