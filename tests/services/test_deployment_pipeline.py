"""A deployment keeps the pipeline it was made with: a release whose default pipeline changes must not
silently switch the matcher of a gallery embedded with another one; FACELEDGER_PIPELINE still chooses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceledger.config import Settings
from faceledger.errors import InvalidInput
from faceledger.services.runtime.deployment import CONFIG_FILE, init_deployment, open_deployment
from faceledger.services.runtime.pipeline_models import pipeline_model_keys
from faceledger.types import IndexBackend, Pipeline

OTHER = {Pipeline.DLIB: Pipeline.SFACE, Pipeline.SFACE: Pipeline.DLIB, Pipeline.FUSED: Pipeline.DLIB}


def _made_with(folder: Path, pipeline: Pipeline) -> None:
    init_deployment(Settings(pipeline=pipeline), folder, IndexBackend.FAISS).close()


def test_a_deployment_opens_with_the_pipeline_it_was_made_with(tmp_path: Path) -> None:
    default = Settings().pipeline
    other = OTHER[default]
    _made_with(tmp_path / "d", other)
    assert json.loads((tmp_path / "d" / CONFIG_FILE).read_text())["pipeline"] == other.value
    deployment = open_deployment(Settings(), tmp_path / "d")  # nothing names a pipeline: the deployment's own
    try:
        assert deployment.settings.pipeline is other
        assert deployment.pipeline_keys == pipeline_model_keys(Settings(pipeline=other))
    finally:
        deployment.close()
    chosen = open_deployment(Settings(pipeline=default), tmp_path / "d")  # named (FACELEDGER_PIPELINE): it rules
    try:
        assert chosen.settings.pipeline is default
    finally:
        chosen.close()


def test_a_deployment_from_before_pipelines_were_recorded_is_dlib(tmp_path: Path) -> None:
    _made_with(tmp_path / "d", Pipeline.DLIB)
    path = tmp_path / "d" / CONFIG_FILE
    config = json.loads(path.read_text())
    del config["pipeline"]
    path.write_text(json.dumps(config))
    deployment = open_deployment(Settings(), tmp_path / "d")
    try:
        assert deployment.settings.pipeline is Pipeline.DLIB
    finally:
        deployment.close()
    config["pipeline"] = "insightface"
    path.write_text(json.dumps(config))
    with pytest.raises(InvalidInput, match="unknown pipeline 'insightface'"):
        open_deployment(Settings(), tmp_path / "d")
