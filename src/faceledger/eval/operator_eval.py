"""The View 1 calibration table of an operator-added model (`faceledger eval lfw --pipeline NAME`): the
same construction as the shipped tables (eval/calibration_build.py), with group counts, so the operator
pipeline's operating threshold can be derived for its worst group (policy/operating_threshold.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from faceledger.config import Settings
from faceledger.engine.operator_model import settings_spec
from faceledger.eval.calibration_build import group_counts, pipeline_table
from faceledger.eval.embeddings import EmbeddingCache, embed_lfw_models
from faceledger.eval.lfw import images_of, read_pairs
from faceledger.types import Pipeline

VIEW1_PAIRS = "pairsDevTrain.txt"


def operator_view1_table(
    data_dir: Path, settings: Settings, cache: EmbeddingCache, *, workers: int | None = None
) -> dict[str, Any]:
    """The table (JSON, with groups) of the added model's own distances on the LFW View 1 training pairs."""
    identity = settings_spec(settings).identity()
    pairs = read_pairs(data_dir / VIEW1_PAIRS)
    per_model = embed_lfw_models(images_of(pairs), data_dir, settings, cache, workers=workers)
    per_model = {identity.key: per_model.get(identity.key, {})}
    dataset = f"LFW View 1 training pairs, {VIEW1_PAIRS}"
    table, scorer = pipeline_table(Pipeline.OPERATOR, pairs, per_model, dataset, identity=identity)
    data = table.to_json()
    data["groups"] = group_counts(scorer, data_dir, table.distances)
    return data
