"""dlib-scale numbers carried onto each pipeline's scale at equal false-match rate (engine/scales.py)."""

from __future__ import annotations

import pytest

from faceledger.engine.calibration import load_calibration
from faceledger.engine.onnx_models import SFACE
from faceledger.engine.scales import link_distances, pipeline_scale, pipeline_table, scale_for_model_key
from faceledger.engine.tracking import LinkDistances
from faceledger.types import Pipeline

DLIB_NUMBERS = [0.42, 0.55, 0.56, 0.6, 0.64, 0.7]


def test_dlib_numbers_are_unchanged_on_dlib_scale() -> None:
    scale = pipeline_scale(Pipeline.DLIB)
    assert scale.is_reference and scale.table == load_calibration()  # the table compare read before
    assert [scale.distance(d) for d in DLIB_NUMBERS] == DLIB_NUMBERS
    assert scale.margin(0.04, 0.6) == 0.04
    assert link_distances(Pipeline.DLIB) == LinkDistances(0.55, 0.7)


@pytest.mark.parametrize("pipeline", [Pipeline.SFACE, Pipeline.FUSED])
@pytest.mark.parametrize("dlib_distance", DLIB_NUMBERS)
def test_a_carried_distance_falsely_matches_as_often_as_dlibs(pipeline: Pipeline, dlib_distance: float) -> None:
    scale, dlib = pipeline_scale(pipeline), pipeline_table(Pipeline.DLIB)
    carried = scale.distance(dlib_distance)
    target = dlib.false_match(dlib_distance).rate
    assert scale.table.false_match(carried).rate <= target  # never more false matches than dlib's number
    step = scale.table.distances[1] - scale.table.distances[0]
    assert scale.table.false_match(carried + step).rate > target  # and the largest such grid distance


def test_sface_and_fused_scales_are_not_dlibs() -> None:
    sface, fused = pipeline_scale(Pipeline.SFACE), pipeline_scale(Pipeline.FUSED)
    assert 1.1 < sface.distance(0.6) < 1.25 and 0.6 < fused.distance(0.6) < 0.75
    # dlib's 0.6 +- 0.04 spans the same false-match rates on each scale: narrower in both units here.
    assert 0.02 <= sface.margin(0.04, 0.6) <= 0.035 and 0.02 <= fused.margin(0.04, 0.6) <= 0.035
    link = link_distances(Pipeline.SFACE)
    assert link == link_distances(Pipeline.FUSED)  # fused links its first model's (SFace's) embeddings
    assert link.same_person == sface.distance(0.55) and link.different_person == sface.distance(0.7)
    assert link.same_person < link.different_person and link.unit > 1.5


def test_a_model_scale_is_found_by_key() -> None:
    sface = scale_for_model_key(SFACE.identity().key)
    assert sface is not None and sface.table.model == SFACE.identity()
    dlib = scale_for_model_key(pipeline_table(Pipeline.DLIB).model.key)
    assert dlib is not None and dlib.is_reference
    assert scale_for_model_key("operator_model@1#000000000000") is None
