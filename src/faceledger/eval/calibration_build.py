"""Measure the distance -> false-match-rate table on LFW View 1 training data (pairsDevTrain.txt).

Every image the training pairs name is embedded (the face nearest the image centre). Genuine pairs are
the file's 1,100 matched pairs; impostor pairs are *all* pairs of those images whose people differ, which
gives millions of pairs where the file's 1,100 mismatched pairs could resolve no rate below 1e-3.
Every table also carries per-group impostor counts ("groups"), for thresholds that hold for the worst group.
Run: python -m faceledger.eval.calibration_build --data ../shared/data [--pipeline dlib|sface|fused] [--out FILE]"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from faceledger.config import Settings
from faceledger.engine.calibration import CalibrationTable
from faceledger.engine.distance import euclidean, pairwise_euclidean
from faceledger.engine.fusion import FUSION_RULE_FILE, fusion_rule_for
from faceledger.engine.models import recognition_model_identity
from faceledger.errors import InvalidInput
from faceledger.eval.embeddings import EmbeddingCache, ModelEmbeddings, default_cache_path, embed_lfw, embed_lfw_models
from faceledger.eval.lfw import LfwImage, Pair, images_of, read_pairs
from faceledger.eval.lfw_labels import gender_labels, race_labels
from faceledger.eval.operating import CALIBRATION_FILES
from faceledger.eval.scoring import PairScorer
from faceledger.types import BUILTIN_PIPELINES, ModelIdentity, Pipeline

GRID = tuple(round(0.005 * i, 3) for i in range(0, 301))  # 0.000 .. 1.500
# SFace: Euclidean between unit vectors, 0 .. 2 (LFW reaches ~1.6); fused: dlib-like, but its tail is longer
GRIDS = {
    Pipeline.DLIB: GRID,
    Pipeline.SFACE: tuple(round(0.005 * i, 3) for i in range(0, 401)),
    Pipeline.FUSED: tuple(round(0.005 * i, 3) for i in range(0, 501)),
}
GRIDS[Pipeline.OPERATOR] = GRIDS[Pipeline.SFACE]  # an added model's distances are also between unit vectors
_DATA = Path(__file__).resolve().parents[1] / "engine" / "data"


def embed_images(
    images: Sequence[LfwImage], data_dir: Path, settings: Settings, workers: int | None = None
) -> dict[LfwImage, npt.NDArray[np.float32]]:
    """Embeddings of the central face of each image (uncached); images with no usable face are left out."""
    return embed_lfw(images, data_dir, settings, EmbeddingCache(None), workers=workers)


def build_table(
    pairs: Sequence[Pair],
    embeddings: dict[LfwImage, npt.NDArray[np.float32]],
    model: ModelIdentity,
    dataset: str,
) -> CalibrationTable:
    genuine = np.array(
        [
            euclidean(embeddings[p.first], embeddings[p.second])
            for p in pairs
            if p.same_person and p.first in embeddings and p.second in embeddings
        ]
    )
    impostor = impostor_distances(embeddings)
    grid = np.array(GRID)
    impostor_counts = np.searchsorted(impostor, grid, side="right")
    genuine_sorted = np.sort(genuine)
    genuine_above = len(genuine_sorted) - np.searchsorted(genuine_sorted, grid, side="right")
    people = len({image.person for image in embeddings})
    method = (
        f"Euclidean distances between dlib ResNet embeddings (HOG detector, central face, no jitter) of "
        f"{len(embeddings):,} images of {people:,} people named in {dataset}; impostor pairs are all pairs "
        f"of those images of different people; genuine pairs are the file's matched pairs. A lookup rounds "
        f"the distance up to the next 0.005 grid point."
    )
    return CalibrationTable(
        model=model,
        dataset=dataset,
        method=method,
        impostor_pairs=len(impostor),
        genuine_pairs=len(genuine),
        distances=GRID,
        impostor_at_or_below=tuple(int(c) for c in impostor_counts),
        genuine_above=tuple(int(c) for c in genuine_above),
    )


def impostor_distances(embeddings: dict[LfwImage, npt.NDArray[np.float32]]) -> npt.NDArray[np.float64]:
    """Sorted distances of every pair of images of different people."""
    images = list(embeddings)
    vectors = np.stack([embeddings[image] for image in images])
    people = np.array([image.person for image in images])
    distances = pairwise_euclidean(vectors)
    upper_i, upper_j = np.triu_indices(len(images), k=1)
    different = people[upper_i] != people[upper_j]
    return np.sort(distances[upper_i[different], upper_j[different]])


def group_counts(
    embeddings: dict[LfwImage, npt.NDArray[np.float32]] | PairScorer, data_dir: Path, grid: Sequence[float]
) -> list[dict[str, Any]]:
    """Per demographic group (evaluation labels, eval/lfw_labels.py): distinct people among the table's
    images, impostor pairs with BOTH images in the group, and how many of those are at or below each
    grid distance, so a threshold can be set for the worst group rather than the average."""
    scorer = embeddings if isinstance(embeddings, PairScorer) else PairScorer.single(embeddings)
    images = scorer.images
    distances = scorer.matrix(images, images)
    people = np.array([image.person for image in images])
    upper = np.triu(np.ones(distances.shape, dtype=bool), k=1) & (people[:, None] != people[None, :])
    upper &= ~np.isnan(distances)
    races = race_labels(data_dir)
    genders = gender_labels(data_dir)
    labelled = {"race": [races.get(image.person) for image in images], "gender": [genders.get(i) for i in images]}
    result = []
    for attribute, labels in labelled.items():
        for group in sorted({label for label in labels if label is not None}):
            member = np.array([label == group for label in labels])
            chosen = np.sort(distances[upper & member[:, None] & member[None, :]])
            result.append(
                {
                    "attribute": attribute,
                    "group": group,
                    "people": len(set(people[member])),
                    "impostor_pairs": len(chosen),
                    "impostor_at_or_below": [int(c) for c in np.searchsorted(chosen, np.array(grid), side="right")],
                }
            )
    return result


def pipeline_table(
    pipeline: Pipeline,
    pairs: Sequence[Pair],
    per_model: ModelEmbeddings,
    dataset: str,
    identity: ModelIdentity | None = None,
) -> tuple[CalibrationTable, PairScorer]:
    """The table of one pipeline's own distance (fused: the shipped rule's). `identity`: the single model's,
    where the engine's built-in models do not include it (an operator-added model)."""
    rule = fusion_rule_for(pipeline)
    scorer = PairScorer(per_model, rule)
    if pipeline is Pipeline.DLIB:
        (embeddings,) = per_model.values()
        return build_table(pairs, embeddings, recognition_model_identity(), dataset), scorer
    grid = GRIDS[pipeline]
    genuine = np.array([d for p in pairs if p.same_person and (d := scorer.pair(p.first, p.second)) is not None])
    images = scorer.images
    matrix = scorer.matrix(images, images)
    people = np.array([image.person for image in images])
    upper = np.triu(np.ones(matrix.shape, dtype=bool), k=1) & (people[:, None] != people[None, :])
    impostor = np.sort(matrix[upper & ~np.isnan(matrix)])
    genuine_sorted = np.sort(genuine)
    if rule is None:
        (key,) = per_model
        model, what = (
            identity or identity_for_key(key),
            f"Euclidean distances between unit {key} embeddings (YuNet, 112 px five-point chip)",
        )
    else:
        text = json.dumps(rule.to_json(), sort_keys=True).encode()
        model = ModelIdentity(f"fusion:{rule.name}", "1", hashlib.sha256(text).hexdigest())
        what = (
            f"fused distances ({FUSION_RULE_FILE}: z-scores of {', '.join(rule.model_keys)}, "
            "renormalised when a model missed)"
        )
    method = (
        f"{what} of the central face of {len(images):,} images of {len(set(people)):,} people named in {dataset}; "
        "impostor pairs are all pairs of those images of different people; genuine pairs are the file's matched "
        f"pairs. A lookup rounds the distance up to the next {grid[1] - grid[0]:g} grid point."
    )
    table = CalibrationTable(
        model=model,
        dataset=dataset,
        method=method,
        impostor_pairs=len(impostor),
        genuine_pairs=len(genuine),
        distances=tuple(grid),
        impostor_at_or_below=tuple(int(c) for c in np.searchsorted(impostor, np.array(grid), side="right")),
        genuine_above=tuple(int(len(genuine_sorted) - c) for c in np.searchsorted(genuine_sorted, grid, side="right")),
    )
    return table, scorer


def identity_for_key(key: str) -> ModelIdentity:
    """The full identity behind an embedding key (name@version#sha12), from the models the engine knows."""
    known = [recognition_model_identity(), *_engine_identities()]
    for identity in known:
        if identity.key == key:
            return identity
    raise InvalidInput(f"no known model has the key {key}")


def _engine_identities() -> list[ModelIdentity]:
    """The ONNX models' identities (engine/onnx_models.py), when that engine is installed."""
    try:
        onnx_models = importlib.import_module("faceledger.engine.onnx_models")
    except ImportError:
        return []
    return [
        value.identity()
        for value in vars(onnx_models).values()
        if isinstance(getattr(value, "sha256", None), str) and callable(getattr(value, "identity", None))
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", default="pairsDevTrain.txt")
    parser.add_argument("--pipeline", type=Pipeline, default=Pipeline.DLIB, choices=list(BUILTIN_PIPELINES))
    parser.add_argument("--out", type=Path, default=None, help="default: the shipped table of the pipeline")
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: the eval cache)")
    parser.add_argument("--no-cache", action="store_true", help="embed every image afresh")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument(
        "--cached-only",
        action="store_true",
        help="only the training images already embedded (the method says how many)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out or _DATA / CALIBRATION_FILES[args.pipeline]
    settings = Settings(pipeline=args.pipeline)
    pairs = read_pairs(args.data / args.pairs)
    cache = EmbeddingCache(None if args.no_cache else args.cache or default_cache_path())
    try:
        per_model = embed_lfw_models(
            images_of(pairs), args.data, settings, cache, workers=args.workers, cached_only=args.cached_only
        )
    finally:
        cache.close()
    dataset = f"LFW View 1 training pairs, {args.pairs}"
    if args.cached_only:
        embedded = {image for vectors in per_model.values() for image in vectors}
        pairs = [p for p in pairs if p.first in embedded and p.second in embedded]
        dataset += f" (the {len(embedded):,} of its images embedded so far)"
    table, scorer = pipeline_table(args.pipeline, pairs, per_model, dataset)
    data = table.to_json()
    # the dlib table's rows are what deployments were calibrated with: only the group counts may be added
    if out.is_file() and args.pipeline is Pipeline.DLIB and json.loads(out.read_text())["rows"] != data["rows"]:
        sys.stderr.write(f"{out}: the rebuilt rows differ from the shipped ones; not overwritten\n")
        return 1
    data["groups"] = group_counts(scorer, args.data, table.distances)
    out.write_text(json.dumps(data, indent=1) + "\n")
    missing = len([i for i in images_of(pairs) if i not in scorer])  # no usable face (or not yet embedded)
    print(
        json.dumps(
            {
                "pipeline": args.pipeline.value,
                "out": str(out),
                "embedded": len(scorer.images),
                "no_face": missing,
                "impostor_pairs": table.impostor_pairs,
                "genuine_pairs": table.genuine_pairs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
