"""`compare` on the sface and fused pipelines: each pipeline's own table, a threshold at dlib's false-match
rate at 0.6, the fused score from both models; dlib's comparison is as it was."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.engine.calibration import load_calibration
from faceledger.engine.distance import embedding_distance
from faceledger.engine.pipeline import FaceEngine
from faceledger.engine.scales import pipeline_scale, pipeline_table
from faceledger.services.runtime.pipeline_models import pipeline_fusion_rule, pipeline_model_keys
from faceledger.services.standalone.analysis import AnalysisService
from faceledger.types import Likelihood, Pipeline

pytestmark = pytest.mark.needs_data

OBAMA = ("wh_obama_2009_congress.jpg", "wh_obama_2010_blue_room.jpg")
BIDEN = "wh_biden_2010_blue_room.jpg"


@cache
def _service(pipeline: Pipeline) -> AnalysisService:
    settings = Settings(pipeline=pipeline, workers=1)
    return AnalysisService(settings, FaceEngine(settings).load())  # one engine per pipeline for the module


@pytest.fixture(scope="module", params=[Pipeline.SFACE, Pipeline.FUSED])
def service(request: pytest.FixtureRequest) -> AnalysisService:
    return _service(request.param)


def test_same_person_on_the_pipelines_own_scale(service: AnalysisService, samples: Path) -> None:
    pipeline = service.settings.pipeline
    result = service.compare(samples / OBAMA[0], samples / OBAMA[1])
    assert result.calibration == pipeline_table(pipeline)  # never dlib's table for another scale
    assert result.threshold == pipeline_scale(pipeline).distance(0.6) != 0.6
    dlib_rate = load_calibration().false_match(0.6).rate
    assert result.threshold_false_match.rate <= dlib_rate  # the threshold stands for dlib's false-match rate
    assert result.likelihood is Likelihood.LIKELY_SAME and result.distance < result.threshold
    data = result.to_dict()
    assert data["pipeline"] == pipeline.value and data["threshold"] == result.threshold
    assert data["inconclusive_margin"] == round(pipeline_scale(pipeline).margin(0.04, 0.6), 4)
    assert pipeline.value in result.scored_by


def test_different_people_on_the_pipelines_own_scale(service: AnalysisService, samples: Path) -> None:
    result = service.compare(samples / OBAMA[0], samples / BIDEN)
    assert result.likelihood is Likelihood.LIKELY_DIFFERENT
    assert result.distance > result.threshold + result.to_dict()["inconclusive_margin"]


def test_fused_scores_the_pair_with_both_models(samples: Path) -> None:
    service = _service(Pipeline.FUSED)
    result = service.compare(samples / OBAMA[0], samples / OBAMA[1])
    rule = pipeline_fusion_rule(service.settings)
    assert rule is not None and result.model_scores is not None
    assert set(result.model_scores) == set(pipeline_model_keys(service.settings))
    assert result.distance == rule.distance(result.model_scores)
    sface = embedding_distance(result.a.face.embeddings[0], result.b.face.embeddings[0])
    assert result.model_scores[result.a.embedding.model.key] == sface
    assert result.to_dict()["model"]["name"].startswith("fusion:")
    assert all(key in result.scored_by for key in result.model_scores)


def test_dlib_compare_is_unchanged(dlib_engine: FaceEngine, samples: Path) -> None:
    result = AnalysisService(dlib_engine.settings, dlib_engine).compare(samples / OBAMA[0], samples / OBAMA[1])
    assert result.threshold == 0.6 and result.calibration == load_calibration() and result.model_scores is None
    data = result.to_dict()
    assert data["inconclusive_margin"] == 0.04 and data["pipeline"] == "dlib"
    assert "below the threshold 0.60 by" in result.relation
