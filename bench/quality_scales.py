"""Do the quality marks mean the same on every pipeline? The same faces (LFW View 1 training people's
images and the sample photos) assessed by the dlib pipeline (HOG box, 150 px chip, dlib's 5 points) and the
sface pipeline (YuNet box, 112 px template chip, YuNet's 5 points; fused assesses exactly as sface does),
paired by box overlap. Prints JSON: per check, the median sface/dlib ratio (or difference) and each
pipeline's pass rate under the same `quality_min_*` settings.

    PYTHONPATH=src .venv/bin/python bench/quality_scales.py --data ../shared/data --images 300"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np

from faceledger.config import Settings
from faceledger.engine.pipeline import FaceEngine
from faceledger.engine.tracking import iou
from faceledger.types import DetectedFace, Pipeline

CHECKS = ("face_size_px", "sharpness", "frontalness", "brightness", "contrast")


def values(face: DetectedFace) -> dict[str, tuple[float, bool]]:
    return {check.name: (check.value, check.passed) for check in face.quality.checks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--images", type=int, default=300, help="LFW images, drawn with a fixed seed")
    args = parser.parse_args()
    people = [line.split("\t")[0] for line in (args.data / "peopleDevTrain.txt").read_text().splitlines()[1:]]
    lfw = sorted(path for name in people for path in (args.data / "lfw" / name).glob("*.jpg"))  # View 1 only
    paths = random.Random(12).sample(lfw, min(args.images, len(lfw))) + sorted((args.data / "samples").glob("*.jpg"))
    engines = {p: FaceEngine(Settings(pipeline=p, workers=1)).load() for p in (Pipeline.DLIB, Pipeline.SFACE)}
    pairs: list[tuple[DetectedFace, DetectedFace]] = []
    for path in paths:
        found = {p: e.analyse(e.load_image(path)).faces for p, e in engines.items()}
        for face in found[Pipeline.DLIB]:
            best = max(found[Pipeline.SFACE], key=lambda f: iou(f.box, face.box), default=None)
            if best is not None and iou(best.box, face.box) >= 0.3:
                pairs.append((face, best))
    report: dict[str, Any] = {"images": len(paths), "paired_faces": len(pairs), "checks": {}}
    for name in CHECKS:
        dlib = np.array([values(a)[name][0] for a, _ in pairs])
        sface = np.array([values(b)[name][0] for _, b in pairs])
        dlib_pass = np.array([values(a)[name][1] for a, _ in pairs])
        sface_pass = np.array([values(b)[name][1] for _, b in pairs])
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = sface / dlib
        report["checks"][name] = {
            "dlib_median": float(np.median(dlib)),
            "sface_median": float(np.median(sface)),
            "median_ratio_sface_over_dlib": float(np.nanmedian(ratio[np.isfinite(ratio)])),
            "median_difference": float(np.median(sface - dlib)),
            "dlib_pass_rate": float(dlib_pass.mean()),
            "sface_pass_rate": float(sface_pass.mean()),
            "disagree": int((dlib_pass != sface_pass).sum()),
        }
    report["overall_acceptable"] = {
        "dlib": float(np.mean([a.quality.acceptable for a, _ in pairs])),
        "sface": float(np.mean([b.quality.acceptable for _, b in pairs])),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
