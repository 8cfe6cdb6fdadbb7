"""A deployment's dlib-scale settings (match_threshold in fixed mode, optout_threshold, the opt-out strict
distance) carried onto its pipeline's scale; dlib's unchanged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from faceledger.engine.onnx_models import SFACE
from faceledger.engine.scales import pipeline_scale, pipeline_table
from faceledger.services.gallery.optout import strict_distance
from faceledger.services.governance.blocklist import load_blocklist
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.runtime.deployment import Deployment
from faceledger.types import BUILTIN_PIPELINES, Pipeline, ThresholdMode


@pytest.mark.parametrize("pipeline", BUILTIN_PIPELINES)
def test_dlib_scale_settings_follow_the_pipeline(
    make_deployment: Callable[..., Deployment], pipeline: Pipeline
) -> None:
    deployment = make_deployment(pipeline=pipeline, threshold_mode=ThresholdMode.FIXED)
    table, scale = pipeline_table(pipeline), pipeline_scale(pipeline)
    fixed = current_threshold(deployment, gallery_faces=1000)
    assert fixed.threshold == scale.distance(0.6)
    assert table.false_match(fixed.threshold).rate <= pipeline_table(Pipeline.DLIB).false_match(0.6).rate
    # The blocklist and opt-out matching compare the first model's embeddings: fused's are SFace's.
    first = Pipeline.DLIB if pipeline is Pipeline.DLIB else Pipeline.SFACE
    first_key = deployment.pipeline_keys[0]
    assert load_blocklist(deployment).model_key == first_key  # the key opt-outs are stored under (optout.submit)
    assert load_blocklist(deployment, first_key).threshold == pipeline_scale(first).distance(0.6)
    assert strict_distance(deployment) == pipeline_table(first).distance_for_false_match_rate(1e-5)
    if pipeline is Pipeline.DLIB:
        assert fixed.threshold == 0.6 and load_blocklist(deployment).threshold == 0.6
        assert strict_distance(deployment) == 0.42
    else:
        assert first_key == SFACE.identity().key
        assert load_blocklist(deployment, first_key).threshold > 1.1  # SFace's 0.6 would match almost no one
        dlib_key = pipeline_table(Pipeline.DLIB).model.key  # dlib's opt-out vectors keep dlib's number
        assert load_blocklist(deployment, dlib_key).threshold == 0.6
