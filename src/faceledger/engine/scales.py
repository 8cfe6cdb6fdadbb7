"""Numbers stated on dlib's distance scale, carried onto another pipeline's scale at equal false-match rate.

Settings and constants from before the ONNX pipelines (match_threshold 0.6, inconclusive_margin 0.04,
optout_threshold 0.6, the video tracker's 0.55 and 0.7) are dlib distances. SFace's distances (Euclidean
between unit vectors, its match region ~1.1-1.2) and the fused rule's are on other scales, so the same
number would mean a different false-match rate. A dlib distance d is carried over as the distance at which
the pipeline's own LFW View 1 table reaches the false-match rate dlib's table has at d: the largest grid
point whose rate does not exceed it, so the carried number never falsely matches more often than dlib's.
On dlib's own table every number is returned unchanged (dlib's output stays exactly as it was)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from faceledger.engine.calibration import CalibrationTable, load_pipeline_calibration
from faceledger.engine.tracking import DIFFERENT_PERSON_DISTANCE, SAME_PERSON_DISTANCE, LinkDistances
from faceledger.types import Pipeline


@lru_cache(maxsize=len(Pipeline))
def pipeline_table(pipeline: Pipeline) -> CalibrationTable:
    """The shipped table of a pipeline's distances, read once per process (tables are immutable)."""
    return load_pipeline_calibration(pipeline)


@dataclass(frozen=True)
class DistanceScale:
    """Carries dlib distances onto `table`'s scale at equal false-match rate."""

    table: CalibrationTable  # the pipeline's own
    reference: CalibrationTable  # dlib's: the scale the settings are stated on

    @property
    def is_reference(self) -> bool:
        return self.table.model == self.reference.model

    def distance(self, dlib_distance: float) -> float:
        """The distance on this scale with the false-match rate dlib's table has at `dlib_distance`."""
        if self.is_reference:
            return dlib_distance
        rate = self.reference.false_match(max(0.0, dlib_distance)).rate
        return self.table.distance_for_false_match_rate(rate)

    def margin(self, dlib_margin: float, around: float) -> float:
        """A band of +-`dlib_margin` around the dlib distance `around`, as a half-width on this scale: the
        same false-match rates bound it on every scale (dlib's 0.6 +- 0.04: sface 1.17 +- 0.03)."""
        if self.is_reference:
            return dlib_margin
        low, high = self.distance(around - dlib_margin), self.distance(around + dlib_margin)
        return max(0.0, (high - low) / 2)

    def describe(self) -> str:
        if self.is_reference:
            return f"dlib's scale ({self.table.model.key})"
        return f"{self.table.model.key}'s scale, carried from dlib's at equal false-match rate (LFW View 1 tables)"


def pipeline_scale(pipeline: Pipeline) -> DistanceScale:
    return DistanceScale(pipeline_table(pipeline), pipeline_table(Pipeline.DLIB))


def scale_for_table(table: CalibrationTable) -> DistanceScale:
    """For a table given by the caller (a deployment's own measurement); dlib's when it is dlib's model."""
    return DistanceScale(table, pipeline_table(Pipeline.DLIB))


def first_model_scale(pipeline: Pipeline) -> DistanceScale:
    """The scale of the pipeline's FIRST model's distances (types.Face.embedding): fused's is SFace's."""
    return pipeline_scale(Pipeline.DLIB if pipeline is Pipeline.DLIB else Pipeline.SFACE)


def link_distances(pipeline: Pipeline) -> LinkDistances:
    """The video tracker's link distances for the embeddings it links (Face.embedding, the first model's)."""
    scale = first_model_scale(pipeline)
    if scale.is_reference:
        return LinkDistances()
    return LinkDistances(scale.distance(SAME_PERSON_DISTANCE), scale.distance(DIFFERENT_PERSON_DISTANCE))


def scale_for_model_key(model_key: str) -> DistanceScale | None:
    """The scale of one model's own distances (by ModelIdentity.key); None for a model with no shipped table
    (an operator-supplied one), whose numbers cannot be carried."""
    for pipeline in (Pipeline.DLIB, Pipeline.SFACE):  # the single-model tables
        scale = pipeline_scale(pipeline)
        if scale.table.model.key == model_key:
            return scale
    return None
