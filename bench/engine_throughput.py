"""Engine throughput on real LFW images, side by side with face_recognition doing the same work.

Same images, same model files, same detector settings (HOG, upsample 1, every detection scoring above 0),
5-point landmarks, one descriptor per face, no jitter. faceledger runs the same ResNet weights through
numpy's BLAS (descriptor_runtime "numpy"; equal to dlib's output within 4e-7, see
tests/engine/test_resnet_numpy.py). faceledger's times include starting its worker processes and loading
the models; face_recognition's exclude its model loading (it loads at import).
Prints one JSON object. Target: faceledger with 2 workers >= 1.8x face_recognition's images/s.

Run: .venv/bin/python bench/engine_throughput.py [--data ../shared/data] [--images 500]"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from faceledger.config import Settings
from faceledger.engine.parallel import analyse_files

TARGET_SPEEDUP = 1.8


def pick_images(data_dir: Path, count: int) -> list[Path]:
    paths = sorted((data_dir / "lfw").glob("*/*.jpg"))
    if len(paths) < count:
        raise SystemExit(f"need {count} LFW images under {data_dir / 'lfw'}, found {len(paths)}")
    random.Random(20261124).shuffle(paths)
    return paths[:count]


def run_faceledger(paths: list[Path], workers: int) -> dict[str, Any]:
    settings = Settings(hog_upsample=1, hog_min_score=0.0, hog_upsample_max_pixels=10**9, workers=workers)
    start = time.perf_counter()
    results = list(analyse_files(paths, settings, workers=workers))
    seconds = time.perf_counter() - start
    faces = sum(len(r.faces.faces) for r in results if r.faces is not None)
    return _row(f"faceledger, {workers} worker{'s' if workers > 1 else ''}", workers, len(paths), faces, seconds)


def _fr_one(path: str) -> int:
    import face_recognition

    image = face_recognition.load_image_file(path)
    locations = face_recognition.face_locations(image, 1, "hog")
    return len(face_recognition.face_encodings(image, locations, num_jitters=1, model="small"))


def run_face_recognition(paths: list[Path], workers: int) -> dict[str, Any]:
    import face_recognition  # noqa: F401 - loads its models now, outside the timing

    names = [str(p) for p in paths]
    if workers == 1:
        start = time.perf_counter()
        faces = sum(_fr_one(name) for name in names)
    else:  # what face_recognition's own CLI does with --cpus: a multiprocessing pool
        start = time.perf_counter()
        with get_context("spawn").Pool(workers) as pool:
            faces = sum(pool.map(_fr_one, names, chunksize=8))
    seconds = time.perf_counter() - start
    name = f"face_recognition, {workers} process{'es' if workers > 1 else ''}"
    return _row(name, workers, len(paths), faces, seconds)


def _row(name: str, workers: int, images: int, faces: int, seconds: float) -> dict[str, Any]:
    return {
        "name": name,
        "workers": workers,
        "images": images,
        "faces": faces,
        "seconds": round(seconds, 2),
        "images_per_s": round(images / seconds, 2),
        "faces_per_s": round(faces / seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")))
    parser.add_argument("--images", type=int, default=500)
    args = parser.parse_args()
    paths = pick_images(args.data, args.images)
    runs = [
        run_face_recognition(paths, 1),
        run_faceledger(paths, 1),
        run_faceledger(paths, 2),
        run_face_recognition(paths, 2),
    ]
    reference, ours = runs[0], runs[2]
    speedup = ours["images_per_s"] / reference["images_per_s"]
    report = {
        "benchmark": "engine_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "processor": platform.machine()},
        "descriptor_runtime": Settings().descriptor_runtime.value,
        "runs": runs,
        "same_faces_found": len({run["faces"] for run in runs}) == 1,
        "speedup_2_workers_vs_face_recognition": round(speedup, 2),
        "speedup_1_worker_vs_face_recognition": round(runs[1]["images_per_s"] / reference["images_per_s"], 2),
        "target": TARGET_SPEEDUP,
        "target_met": speedup >= TARGET_SPEEDUP,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
