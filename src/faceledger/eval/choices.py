"""Pipeline choices measured on LFW View 1 only (threshold on DevTrain, accuracy on DevTest), so that
View 2 stays untouched for the one report of the chosen pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceledger.config import Settings
from faceledger.engine.distance import euclidean
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw
from faceledger.eval.lfw import Pair, images_of, read_pairs
from faceledger.eval.metrics import best_threshold, tar_at_far

# Jitter is left out: dlib's jitter runs its own ResNet 10+ times per face (>1 s a face here).
VARIANTS: dict[str, dict[str, Any]] = {
    "baseline (HOG upsample 1, CNN fallback)": {},
    "no CNN fallback": {"cnn_fallback": False},
    "flip averaging": {"embed_flip": True},
    "chip padding 0.15": {"chip_padding": 0.15},
    "chip padding 0.35": {"chip_padding": 0.35},
    "HOG upsample 2": {"hog_upsample": 2},
}


def _scored(pairs: list[Pair], embeddings: dict[Any, Any]) -> tuple[list[float], list[bool]]:
    distances = [
        euclidean(embeddings[p.first], embeddings[p.second])
        if p.first in embeddings and p.second in embeddings
        else 10.0
        for p in pairs
    ]
    return distances, [p.same_person for p in pairs]


def measure_choices(
    data_dir: Path, base: Settings, cache: EmbeddingCache, workers: int | None = None
) -> list[dict[str, Any]]:
    train, test = read_pairs(data_dir / "pairsDevTrain.txt"), read_pairs(data_dir / "pairsDevTest.txt")
    images = images_of(train + test)
    rows = []
    for name, overrides in VARIANTS.items():
        settings = base.model_copy(update=overrides)
        embeddings = embed_lfw(images, data_dir, settings, cache, workers=workers)
        threshold, train_accuracy = best_threshold(*_scored(train, embeddings))
        distances, same = _scored(test, embeddings)
        accuracy = sum((d <= threshold) == s for d, s in zip(distances, same, strict=True)) / len(test)
        rows.append(
            {
                "variant": name,
                "settings": overrides,
                "images_without_face": len(images) - len(embeddings),
                "threshold_from_devtrain": round(threshold, 4),
                "devtrain_accuracy": round(train_accuracy, 4),
                "devtest_accuracy": round(accuracy, 4),
                "devtest_tar_at_far_0.01": round(tar_at_far(distances, same, 0.01)[0], 4),
            }
        )
    return rows
