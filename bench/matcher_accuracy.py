"""Matcher accuracy per pipeline against issue 12's targets, so the default pipeline is chosen by measurement.

Per pipeline (the same protocol as `faceledger eval lfw`): LFW View 2 10-fold accuracy and TAR at FAR 1e-3;
open-set identification over all of LFW (gallery ~3,300): rank-1 and FNIR at FPIR 1% (and 0.1%, with and
without the known label errors); per-group FMR at the threshold where the pipeline's overall FMR equals
dlib's at 0.6, as the race worst/best ratio with its 95% interval, and the gender ratio. One JSON object per
pipeline, then a summary line; embeddings come from the eval cache (the first run embeds all of LFW).

Run: .venv/bin/python bench/matcher_accuracy.py [--pipeline dlib sface fused] [--data ../shared/data]"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from faceledger.config import Settings
from faceledger.errors import FaceledgerError
from faceledger.eval.compare import headline
from faceledger.eval.embeddings import EmbeddingCache, default_cache_path
from faceledger.eval.operating import strict_json
from faceledger.eval.report import run_lfw
from faceledger.types import BUILTIN_PIPELINES, Pipeline

TARGETS = {  # issue 12, for the default pipeline
    "accuracy_min": 0.996,
    "tar_at_far_0.001_min": 0.990,
    "rank1_min": 0.985,
    "fnir_at_fpir_0.01_max": 0.05,
    "race_worst_best_ratio_max": 3.0,
}


def against_targets(row: dict[str, Any]) -> dict[str, bool | None]:
    race = row["group_fmr_worst_best_ratio"].get("race")

    def at_least(value: float | None, bound: float) -> bool | None:
        return None if value is None else value >= bound

    def at_most(value: float | None, bound: float) -> bool | None:
        return None if value is None else value <= bound

    return {
        "accuracy": at_least(row["accuracy"], TARGETS["accuracy_min"]),
        "tar_at_far_0.001": at_least(row["tar_at_far"]["0.001"], TARGETS["tar_at_far_0.001_min"]),
        "rank1": at_least(row["rank1"], TARGETS["rank1_min"]),
        "fnir_at_fpir_0.01": at_most(row["fnir_at_fpir"]["0.01"], TARGETS["fnir_at_fpir_0.01_max"]),
        "race_worst_best_ratio": at_most(race["ratio"] if race else None, TARGETS["race_worst_best_ratio_max"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    builtin = list(BUILTIN_PIPELINES)
    parser.add_argument("--pipeline", nargs="+", type=Pipeline, default=builtin, choices=builtin)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FACELEDGER_TEST_DATA", "../shared/data")))
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("bench-matcher-accuracy"))
    parser.add_argument(
        "--cached-only", action="store_true", help="score only images already in the cache (the output says: a subset)"
    )
    args = parser.parse_args()
    cache = EmbeddingCache(args.cache or default_cache_path())
    rows = []
    try:
        for pipeline in args.pipeline:
            started = time.perf_counter()
            settings = Settings(pipeline=pipeline, **({"workers": args.workers} if args.workers else {}))
            try:
                evaluation = run_lfw(
                    args.data,
                    settings,
                    folds=list(range(1, 11)),
                    cache=cache,
                    workers=args.workers,
                    cached_only=args.cached_only,
                )
            except FaceledgerError as exc:  # e.g. a cached subset with no View 2 pairs yet
                print(strict_json({"pipeline": pipeline.value, "error": str(exc)}, indent=None), flush=True)
                continue
            summary = evaluation.summary()
            row = headline(summary)
            row["groups"] = [
                {"attribute": g["attribute"], "group": g["group"], "people": g["people"], "fmr": g["fmr"]}
                for g in summary["groups"]
            ]
            row["identification"] = {
                k: summary["identification"][k] for k in ("gallery_size", "mated_probes", "nonmated_probes")
            }
            row["label_error_probes"] = summary["identification"]["label_error_probes"]
            row["equal_fmr_target"] = summary["equal_fmr_target"]
            row["subset"] = summary["subset"]
            row["verification_pairs_scored"] = summary["verification"]["pairs_used"]
            row["meets_targets"] = against_targets(row)
            row["seconds"] = round(time.perf_counter() - started, 1)
            print(strict_json(row, indent=None), flush=True)
            rows.append(row)
    finally:
        cache.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "matcher_accuracy.json").write_text(strict_json({"targets": TARGETS, "pipelines": rows}) + "\n")
    print(
        strict_json(
            {
                "targets": TARGETS,
                "summary": [
                    {
                        "pipeline": r["pipeline"],
                        "accuracy": r["accuracy"],
                        "tar_at_far_0.001": r["tar_at_far"]["0.001"],
                        "rank1": r["rank1"],
                        "fnir_at_fpir_0.01": r["fnir_at_fpir"]["0.01"],
                        "race_ratio": r["group_fmr_worst_best_ratio"].get("race"),
                        "gender_ratio": r["group_fmr_worst_best_ratio"].get("gender"),
                        "meets_targets": r["meets_targets"],
                    }
                    for r in rows
                ],
            },
            indent=None,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
