"""Distances between LFW images under one pipeline: the one model's Euclidean distance, or the fusion rule
over the models that embedded both images (engine.fusion.FusionRule; the rule renormalises its weights
when a model is missing). A pair no model scored has no distance (NaN here; callers decide what it means)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from faceledger.engine.fusion import FusionRule
from faceledger.errors import InvalidInput, ModelMismatch
from faceledger.eval.lfw import LfwImage

Vector = npt.NDArray[np.float32]
Embeddings = dict[LfwImage, Vector]
Matrix = npt.NDArray[np.float64]


def _euclidean_block(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> Matrix:
    """Like engine.distance.pairwise_euclidean, for two different sets (float64, clipped at 0)."""
    gram = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    result: Matrix = np.sqrt(np.maximum(gram, 0.0))
    return result


class PairScorer:
    def __init__(self, per_model: dict[str, Embeddings], rule: FusionRule | None = None) -> None:
        if not per_model:
            raise InvalidInput("no model embedded any image")
        if rule is None and len(per_model) != 1:
            raise InvalidInput(f"{len(per_model)} models' embeddings need a fusion rule to be scored together")
        if rule is not None and set(per_model) - set(rule.model_keys):
            raise ModelMismatch(
                f"the fusion rule {rule.name} has no part for {sorted(set(per_model) - set(rule.model_keys))}"
            )
        self.per_model = per_model
        self.rule = rule
        seen: dict[LfwImage, None] = {}
        for embeddings in per_model.values():
            seen.update(dict.fromkeys(embeddings))
        self.images = sorted(seen, key=lambda i: (i.person, i.number))

    @classmethod
    def single(cls, embeddings: Embeddings, model_key: str = "model") -> PairScorer:
        return cls({model_key: embeddings})

    @property
    def only(self) -> Embeddings | None:
        """The embeddings when one model scores everything without a rule (the original fast paths)."""
        return next(iter(self.per_model.values())) if self.rule is None else None

    def __contains__(self, image: object) -> bool:
        return any(image in embeddings for embeddings in self.per_model.values())

    def pair(self, a: LfwImage, b: LfwImage) -> float | None:
        distances = {
            key: float(np.linalg.norm(e[a].astype(np.float64) - e[b].astype(np.float64)))
            for key, e in self.per_model.items()
            if a in e and b in e
        }
        if not distances:
            return None
        return next(iter(distances.values())) if self.rule is None else self.rule.distance(distances)

    def matrix(self, rows: Sequence[LfwImage], cols: Sequence[LfwImage]) -> Matrix:
        """Distances rows x cols, NaN where no model embedded both images. Vectorised FusionRule.distance."""
        numerator = np.zeros((len(rows), len(cols)))
        weights = np.zeros((len(rows), len(cols)))
        for key, embeddings in self.per_model.items():
            dim = len(next(iter(embeddings.values())))
            a = np.stack([embeddings.get(i, np.zeros(dim, np.float32)) for i in rows]).astype(np.float64)
            b = np.stack([embeddings.get(i, np.zeros(dim, np.float32)) for i in cols]).astype(np.float64)
            present = np.array([i in embeddings for i in rows])[:, None] & np.array([i in embeddings for i in cols])
            distances = _euclidean_block(a, b)
            if self.rule is None:
                return np.where(present, distances, np.nan)
            part = next(m for m in self.rule.models if m.model_key == key)
            numerator += np.where(present, part.weight * (distances - part.mean) / part.std, 0.0)
            weights += np.where(present, part.weight, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            fused = (
                np.maximum(0.0, self.rule.offset + self.rule.scale * numerator / weights) if self.rule else numerator
            )
        return np.where(weights > 0, fused, np.nan)
