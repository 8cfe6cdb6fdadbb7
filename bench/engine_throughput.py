"""Engine throughput on real LFW images, side by side with face_recognition in the same run.

face_recognition: HOG (upsample 1), 5-point landmarks, one dlib ResNet descriptor per face, no jitter.
faceledger's dlib pipeline does the same work with the same model files and detector settings (numpy's
BLAS runs the same ResNet weights, equal to dlib's output within 4e-7); its sface pipeline runs YuNet ->
SFace (flip-averaged: two SFace passes a face), fused adds dlib's ResNet on every face. faceledger's
times include starting its worker processes and loading the models; face_recognition's exclude its
model loading (it loads at import). The headline ratio compares EQUAL cores: faceledger with N workers
against face_recognition with N processes. `batching` measures SFace a face at a time against the
faces of one image (and their mirrors) in one onnxruntime call, in this process.
Prints one JSON object. Target: >= 2x face_recognition's images/s at equal cores.

Run: .venv/bin/python bench/engine_throughput.py [--pipeline sface] [--images 500] [--workers 2] [--single]"""

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

import numpy as np

from faceledger.config import Settings
from faceledger.engine.parallel import analyse_files
from faceledger.engine.pipeline import FaceEngine
from faceledger.types import BUILTIN_PIPELINES, Pipeline

TARGET_SPEEDUP = 2.0


def pick_images(data_dir: Path, count: int) -> list[Path]:
    paths = sorted((data_dir / "lfw").glob("*/*.jpg"))
    if len(paths) < count:
        raise SystemExit(f"need {count} LFW images under {data_dir / 'lfw'}, found {len(paths)}")
    random.Random(20261124).shuffle(paths)
    return paths[:count]


def bench_settings(pipeline: Pipeline, workers: int) -> Settings:
    return Settings(
        pipeline=pipeline, hog_upsample=1, hog_min_score=0.0, hog_upsample_max_pixels=10**9, workers=workers
    )


def run_faceledger(paths: list[Path], workers: int, pipeline: Pipeline) -> dict[str, Any]:
    settings = bench_settings(pipeline, workers)
    start = time.perf_counter()
    results = list(analyse_files(paths, settings, workers=workers))
    seconds = time.perf_counter() - start
    faces = sum(len(r.faces.faces) for r in results if r.faces is not None)
    name = f"faceledger {pipeline.value}, {workers} worker{'s' if workers > 1 else ''}"
    return _row(name, workers, len(paths), faces, seconds)


def measure_batching(paths: list[Path], pipeline: Pipeline) -> dict[str, Any] | None:
    """SFace ms per face: one chip per call, against one call per image (its faces and their mirrors)."""
    if pipeline is Pipeline.DLIB:
        return None
    engine = FaceEngine(bench_settings(pipeline, 1)).load()
    per_image = []
    for path in paths:
        faces = engine.analyse(engine.load_image(path), embed=False).faces
        per_image.append([face.chip for face in faces if face.chip is not None and face.landmarks])
    sface, flip = engine.onnx.sface, engine.settings.sface_flip
    count = sum(len(chips) for chips in per_image)
    start = time.perf_counter()
    for chips in per_image:
        for chip in chips:
            sface.embed([chip], flip=False)
            if flip:
                sface.embed([np.ascontiguousarray(chip[:, ::-1])], flip=False)
    single = time.perf_counter() - start
    start = time.perf_counter()
    for chips in per_image:
        sface.embed(chips, flip=flip)
    batched = time.perf_counter() - start
    return {
        "images": len(paths),
        "faces": count,
        "flip": flip,
        "ms_per_face_one_call_per_chip": round(1000 * single / count, 1),
        "ms_per_face_one_call_per_image": round(1000 * batched / count, 1),
        "saved": round(1 - batched / single, 3),
    }


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
    parser.add_argument("--workers", type=int, default=2, help="faceledger workers = face_recognition processes")
    parser.add_argument(
        "--pipeline",
        type=Pipeline,
        choices=list(BUILTIN_PIPELINES),
        default=Settings().pipeline,
        help="faceledger's pipeline (default: the configured one, FACELEDGER_PIPELINE)",
    )
    parser.add_argument("--single", action="store_true", help="also run both on one core")
    parser.add_argument("--batching-images", type=int, default=100)
    args = parser.parse_args()
    paths = pick_images(args.data, args.images)
    reference = run_face_recognition(paths, args.workers)
    ours = run_faceledger(paths, args.workers, args.pipeline)
    runs = [reference, ours]
    if args.single:
        runs += [run_face_recognition(paths, 1), run_faceledger(paths, 1, args.pipeline)]
    speedup = ours["images_per_s"] / reference["images_per_s"]
    report: dict[str, Any] = {
        "benchmark": "engine_throughput",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "processor": platform.machine(),
            "load_average_at_start": os.getloadavg(),
        },
        "pipeline": args.pipeline.value,
        "descriptor_runtime": Settings().descriptor_runtime.value,
        "runs": runs,
        f"speedup_at_equal_cores_{args.workers}": round(speedup, 2),
        "target": TARGET_SPEEDUP,
        "target_met": speedup >= TARGET_SPEEDUP,
    }
    if args.single:
        report["speedup_at_equal_cores_1"] = round(runs[3]["images_per_s"] / runs[2]["images_per_s"], 2)
    if args.pipeline is Pipeline.DLIB:
        report["same_faces_found"] = len({run["faces"] for run in runs}) == 1
    report["batching"] = measure_batching(paths[: args.batching_images], args.pipeline)
    report["load_average_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
