"""Measure the distance -> false-match-rate table on LFW View 1 training data (pairsDevTrain.txt).

Every image the training pairs name is embedded (the face nearest the image centre). Genuine pairs are
the file's 1,100 matched pairs; impostor pairs are *all* pairs of those images whose people differ, which
gives millions of pairs where the file's 1,100 mismatched pairs could resolve no rate below 1e-3.
Run: python -m faceledger.eval.calibration_build --data ../shared/data --out table.json"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faceledger.config import Settings
from faceledger.engine.calibration import CalibrationTable
from faceledger.engine.distance import euclidean, pairwise_euclidean
from faceledger.engine.models import recognition_model_identity
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw
from faceledger.eval.lfw import LfwImage, Pair, images_of, read_pairs
from faceledger.types import ModelIdentity

GRID = tuple(round(0.005 * i, 3) for i in range(0, 301))  # 0.000 .. 1.500


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
        [euclidean(embeddings[p.first], embeddings[p.second]) for p in pairs
         if p.same_person and p.first in embeddings and p.second in embeddings]
    )  # fmt: skip
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--pairs", default="pairsDevTrain.txt")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    settings = Settings()
    pairs = read_pairs(args.data / args.pairs)
    embeddings = embed_images(images_of(pairs), args.data, settings, args.workers)
    table = build_table(pairs, embeddings, recognition_model_identity(), f"LFW View 1 training pairs, {args.pairs}")
    args.out.write_text(json.dumps(table.to_json(), indent=1) + "\n")
    missing = len(images_of(pairs)) - len(embeddings)
    print(json.dumps({"embedded": len(embeddings), "no_face": missing, "impostor_pairs": table.impostor_pairs,
                      "genuine_pairs": table.genuine_pairs}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
