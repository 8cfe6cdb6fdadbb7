"""SFace on LFW View 1 training pairs (pairsDevTrain: 1,100 same + 1,100 different), with and without
flip averaging (the aligned chip and its mirror), to choose the `sface_flip` setting on View 1 only.

Accuracy is 10-fold cross-validated over the pairs (threshold chosen on the other nine folds). Each
image's central YuNet face is embedded once, chip and mirror separately; "flip" is their normalised sum.
Vectors are cached in --cache (an .npz) so that a rerun costs nothing. Prints one JSON object.

Run: nice .venv/bin/python bench/sface_flip_view1.py [--data ../shared/data] [--cache /tmp/sface-view1.npz]"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.eval.lfw import LfwImage, central_face, images_of, read_pairs
from faceledger.types import Pipeline

FOLDS = 10


def embed_all(data_dir: Path, images: list[LfwImage], cache: Path) -> dict[str, np.ndarray]:
    """name -> (2, 128): the chip's and the mirror's unit vectors; images without a face are left out."""
    found: dict[str, np.ndarray] = dict(np.load(cache)) if cache.is_file() else {}
    engine = FaceEngine(Settings(pipeline=Pipeline.SFACE, sface_flip=False)).load()
    for number, image in enumerate(images):
        key = f"{image.person}_{image.number:04d}"
        if key in found:
            continue
        if number % 200 == 0:  # a run stopped part-way resumes from here
            np.savez(cache, **found)
        loaded = engine.load_image(image.path(data_dir))
        face = central_face(engine.analyse(loaded).faces, loaded.info.width, loaded.info.height)
        if face is None or face.chip is None:
            continue
        mirror = engine.onnx.sface.embed([np.ascontiguousarray(face.chip[:, ::-1])], flip=False)[0]
        found[key] = np.stack([face.embedding.vector, mirror])  # type: ignore[union-attr]
    np.savez(cache, **found)
    return found


def cross_validated_accuracy(distances: np.ndarray, same: np.ndarray, folds: np.ndarray) -> float:
    correct = 0
    candidates = np.unique(distances)
    for fold in range(FOLDS):
        train, test = folds != fold, folds == fold
        accuracy = [((distances[train] <= t) == same[train]).mean() for t in candidates]
        threshold = candidates[int(np.argmax(accuracy))]
        correct += int(((distances[test] <= threshold) == same[test]).sum())
    return correct / len(distances)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")))
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faceledger-sface-view1.npz"))
    parser.add_argument("--pairs", type=int, default=0, help="only this many pairs, half same, half different")
    args = parser.parse_args()
    pairs = read_pairs(args.data / "pairsDevTrain.txt")
    if args.pairs:  # an even subset: as many same as different pairs
        pairs = pairs[: args.pairs // 2] + pairs[len(pairs) // 2 : len(pairs) // 2 + args.pairs // 2]
    start = time.perf_counter()
    vectors = embed_all(args.data, images_of(pairs), args.cache)
    seconds = time.perf_counter() - start
    usable = [p for p in pairs if all(f"{i.person}_{i.number:04d}" in vectors for i in (p.first, p.second))]
    same = np.array([p.same_person for p in usable])
    folds = np.arange(len(usable)) % FOLDS  # same and different pairs interleave over the folds
    report: dict[str, Any] = {
        "benchmark": "sface_flip_view1",
        "pairs": len(pairs),
        "pairs_with_faces": len(usable),
        "embedding_seconds": round(seconds, 1),
    }
    for name in ("plain", "flip"):
        distances = []
        for pair in usable:
            a, b = (vectors[f"{i.person}_{i.number:04d}"] for i in (pair.first, pair.second))
            if name == "flip":
                a, b = (v.sum(axis=0) / np.linalg.norm(v.sum(axis=0)) for v in (a, b))
            else:
                a, b = a[0], b[0]
            distances.append(float(np.linalg.norm(a - b)))
        d = np.array(distances)
        spread = np.sqrt((d[same].var() + d[~same].var()) / 2)
        report[name] = {
            "accuracy_10fold_cv": round(cross_validated_accuracy(d, same, folds), 4),
            "separation_d_prime": round(float((d[~same].mean() - d[same].mean()) / spread), 3),
            "mean_same": round(float(d[same].mean()), 4),
            "mean_different": round(float(d[~same].mean()), 4),
        }
    gain = report["flip"]["accuracy_10fold_cv"] - report["plain"]["accuracy_10fold_cv"]
    report["flip_gain_points"] = round(100 * gain, 2)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
