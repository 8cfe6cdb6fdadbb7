"""Fit the fused pipeline's score fusion (engine.fusion.FusionRule) on LFW View 1 TRAINING pairs only.

View 1 training = pairsDevTrain.txt (1,100 matched + 1,100 mismatched pairs, 2,132 people); View 2
(pairs.txt) stays the test. Per model: the mean and spread of its distances over the training pairs it
scored. Weights: a grid over each model's share, scored by TAR at FAR 1e-3 against every cross-person
pair of the training images (millions: the file's 1,100 mismatched pairs cannot resolve 1e-3), ties broken
by the training pairs' best accuracy, then by the more even split. The fused z is mapped onto dlib's
scale (offset = dlib's mean, scale = dlib's spread) so that fused distances read like dlib's and stay >= 0.
Run: python -m faceledger.eval.fusion_fit [--data DIR] [--out FILE]"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceledger.config import Settings
from faceledger.engine.fusion import FUSION_RULE_FILE, FusionRule, ModelScale
from faceledger.errors import InvalidInput
from faceledger.eval.embeddings import EmbeddingCache, ModelEmbeddings, Vector, default_cache_path, embed_lfw_models
from faceledger.eval.lfw import LfwImage, Pair, images_of, read_pairs
from faceledger.eval.metrics import best_threshold, tar_at_far
from faceledger.eval.operating import strict_json
from faceledger.eval.scoring import PairScorer
from faceledger.types import Pipeline

TRAINING_PAIRS_FILE = "pairsDevTrain.txt"  # View 1 training: the only pairs this fit may read
WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))  # the first model's share, 0.05 .. 0.95
FAR_TARGET = 1e-3
MIN_FUSED_DISTANCE = 0.0
_DEFAULT_OUT = Path(__file__).resolve().parents[1] / "engine" / "data" / FUSION_RULE_FILE


def _pair_distances(pairs: Sequence[Pair], embeddings: dict[LfwImage, Vector]) -> np.ndarray:
    """Each pair's distance, NaN where the model did not embed both images."""
    return np.array(
        [
            float(np.linalg.norm(embeddings[p.first].astype(np.float64) - embeddings[p.second]))
            if p.first in embeddings and p.second in embeddings
            else np.nan
            for p in pairs
        ]
    )


def fit_rule(
    pairs: Sequence[Pair], per_model: ModelEmbeddings, reference_model: str
) -> tuple[FusionRule, list[dict[str, float]]]:
    """The rule, and the grid's scores (for the record). `reference_model` sets the output scale (dlib)."""
    if len(per_model) != 2 or reference_model not in per_model:
        raise InvalidInput(f"fusion is fitted for two models including {reference_model}; got {sorted(per_model)}")
    keys = sorted(per_model, key=lambda k: k == reference_model)  # the other model first, the reference last
    stats = {}
    for key in keys:
        distances = _pair_distances(pairs, per_model[key])
        distances = distances[~np.isnan(distances)]
        if len(distances) < 100:
            raise InvalidInput(f"{key} scored only {len(distances)} training pairs: too few to fit on")
        stats[key] = (float(distances.mean()), float(distances.std()))
    mean_ref, std_ref = stats[reference_model]
    same = np.array([p.same_person for p in pairs])
    images = [i for i in images_of(list(pairs)) if any(i in e for e in per_model.values())]
    people = np.array([i.person for i in images])
    upper = np.triu(np.ones((len(images), len(images)), dtype=bool), k=1) & (people[:, None] != people[None, :])
    # each model's impostor distances once (NaN where it missed a face); the grid only re-weights them
    impostor_by_model = [PairScorer({k: per_model[k]}).matrix(images, images)[upper] for k in keys]
    grid = []
    for share in WEIGHT_GRID:
        rule = _rule(keys, stats, (share, round(1 - share, 2)), mean_ref, std_ref)
        scorer = PairScorer(per_model, rule)
        pair_scores = np.array([_or_far(scorer.pair(p.first, p.second)) for p in pairs])
        impostor = _fuse(rule, impostor_by_model)
        genuine = pair_scores[same]
        all_scores = np.concatenate([genuine, impostor])
        labels = np.concatenate([np.ones(len(genuine), bool), np.zeros(len(impostor), bool)])
        tar, _ = tar_at_far(all_scores, labels, FAR_TARGET)
        _, accuracy = best_threshold(pair_scores, same)
        grid.append({"share": share, "tar_at_far_0.001": tar, "pair_accuracy": accuracy})
    best = max(grid, key=lambda g: (g["tar_at_far_0.001"], g["pair_accuracy"], -abs(g["share"] - 0.5)))
    return _rule(keys, stats, (best["share"], round(1 - best["share"], 2)), mean_ref, std_ref), grid


def _fuse(rule: FusionRule, distances: list[np.ndarray]) -> np.ndarray:
    """FusionRule.distance over arrays (models in the rule's order; NaN = that model missed a face)."""
    numerator = np.zeros(len(distances[0]))
    weights = np.zeros(len(distances[0]))
    for part, values in zip(rule.models, distances, strict=True):
        present = ~np.isnan(values)
        numerator += np.where(present, part.weight * (np.nan_to_num(values) - part.mean) / part.std, 0.0)
        weights += np.where(present, part.weight, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        fused = np.maximum(0.0, rule.offset + rule.scale * numerator / weights)
    return np.where(weights > 0, fused, 10.0)


def _or_far(distance: float | None) -> float:
    return 10.0 if distance is None else distance


def _rule(
    keys: list[str], stats: dict[str, tuple[float, float]], weights: tuple[float, float], offset: float, scale: float
) -> FusionRule:
    models = tuple(ModelScale(k, stats[k][0], stats[k][1], w) for k, w in zip(keys, weights, strict=True))
    return FusionRule(
        name="sface+dlib z-score (LFW View 1)",
        fitted_on=f"LFW View 1 training pairs ({TRAINING_PAIRS_FILE}); weights by TAR at FAR {FAR_TARGET:g} "
        "against all cross-person pairs of its images",
        models=models,
        offset=offset,
        scale=scale,
    )


def dlib_key_of(per_model: ModelEmbeddings) -> str:
    dlib = [key for key in per_model if key.startswith("dlib")]
    if len(dlib) != 1:
        raise InvalidInput(f"the fused pipeline should embed with one dlib model; got {sorted(per_model)}")
    return dlib[0]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=_DEFAULT_OUT)
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: the eval cache)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--cached-only", action="store_true", help="fit on the training pairs already embedded (the rule says how many)"
    )
    args = parser.parse_args(argv)
    pairs = read_pairs(args.data / TRAINING_PAIRS_FILE)
    cache = EmbeddingCache(args.cache or default_cache_path())
    try:
        settings = Settings(pipeline=Pipeline.FUSED)
        per_model = embed_lfw_models(
            images_of(pairs), args.data, settings, cache, workers=args.workers, cached_only=args.cached_only
        )
    finally:
        cache.close()
    if args.cached_only:
        embedded = {image for vectors in per_model.values() for image in vectors}
        pairs = [p for p in pairs if p.first in embedded and p.second in embedded]
    rule, grid = fit_rule(pairs, per_model, dlib_key_of(per_model))
    if args.cached_only:
        rule = replace(rule, fitted_on=f"{rule.fitted_on}; {len(pairs):,} of its 2,200 pairs (those embedded)")
    args.out.write_text(strict_json(rule.to_json(), indent=1) + "\n")
    best = next(g for g in grid if g["share"] == rule.models[0].weight)
    sys.stdout.write(strict_json({"out": str(args.out), "rule": rule.to_json(), "chosen": best, "grid": grid}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
