"""Which threshold each pipeline is judged at, and strict JSON for everything eval prints.

Pipelines score on different scales (dlib ~0-1.2, SFace ~0-1.6, fused dlib-like), so comparing their
per-group error rates at one number means nothing. They are compared at EQUAL overall false-match rate:
dlib's at its deployed 0.6, read from the shipped dlib table (LFW View 1 training, 5.75 M impostor pairs);
each other pipeline's threshold is where its own View 1 table reaches that rate (or, when its table is not
shipped yet, where its impostor pairs among the View 1 training images in this run do)."""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import numpy as np

from faceledger.engine.calibration import DEFAULT_TABLE, CalibrationTable
from faceledger.errors import NotFound
from faceledger.eval.lfw import LfwImage
from faceledger.eval.scoring import PairScorer
from faceledger.types import Pipeline

DLIB_REFERENCE_THRESHOLD = 0.6  # the deployed dlib threshold the issue compares every pipeline against
CALIBRATION_FILES = {
    Pipeline.DLIB: DEFAULT_TABLE,
    Pipeline.SFACE: "calibration_sface_lfw_view1.json",
    Pipeline.FUSED: "calibration_fused_lfw_view1.json",
}


def shipped_table(pipeline: Pipeline) -> CalibrationTable | None:
    try:
        text = resources.files("faceledger.engine").joinpath("data", CALIBRATION_FILES[pipeline]).read_text()
    except (OSError, KeyError):  # KeyError: the operator pipeline ships no table (its evaluation measures one)
        return None
    return CalibrationTable.from_json(json.loads(text))


def reference_fmr() -> float:
    """dlib's false-match rate at 0.6 in the shipped dlib table."""
    table = shipped_table(Pipeline.DLIB)
    if table is None:
        raise NotFound(f"{DEFAULT_TABLE}: the dlib calibration table is missing from the package")
    return table.false_match(DLIB_REFERENCE_THRESHOLD).rate


def equal_fmr_threshold(
    pipeline: Pipeline, scorer: PairScorer, view1_images: list[LfwImage], target_fmr: float
) -> tuple[float, str]:
    """(threshold, how it was found) where this pipeline's overall FMR equals `target_fmr`."""
    if pipeline is Pipeline.DLIB:
        return DLIB_REFERENCE_THRESHOLD, "dlib's reference threshold"
    table = shipped_table(pipeline)
    if table is not None:
        return table.distance_for_false_match_rate(
            target_fmr
        ), f"its shipped View 1 table ({CALIBRATION_FILES[pipeline]})"
    images = [image for image in view1_images if image in scorer]
    distances = scorer.matrix(images, images)
    people = np.array([image.person for image in images])
    upper = np.triu(np.ones(distances.shape, dtype=bool), k=1) & (people[:, None] != people[None, :])
    impostor = np.sort(np.nan_to_num(distances[upper], nan=np.inf))
    allowed = math.floor(target_fmr * len(impostor))
    threshold = float(impostor[allowed] - 1e-9) if allowed < len(impostor) else float(impostor[-1])
    return threshold, f"measured in this run on {len(impostor):,} View 1 training impostor pairs"


def sanitise(value: Any) -> Any:
    """NaN and infinities become null (strict JSON: jq and browsers reject NaN); numpy scalars become numbers."""
    if isinstance(value, dict):
        return {str(k): sanitise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitise(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def strict_json(value: Any, indent: int | None = 2) -> str:
    return json.dumps(sanitise(value), indent=indent, ensure_ascii=False, allow_nan=False, default=str)
