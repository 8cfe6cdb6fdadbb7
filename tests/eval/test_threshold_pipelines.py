"""`faceledger eval threshold` advises with the configured pipeline's table and the worst-group policy."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from faceledger.cli.app import app
from faceledger.engine.scales import pipeline_table
from faceledger.eval.report import threshold_advice
from faceledger.policy.operating_threshold import operating_threshold
from faceledger.types import BUILTIN_PIPELINES, Pipeline


def advise(*args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    result = CliRunner().invoke(
        app, ["eval", "threshold", "--gallery-size", "1000", "--fpir", "0.01", "--json", *args], env=env
    )
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


@pytest.mark.parametrize("pipeline", BUILTIN_PIPELINES)
def test_threshold_advice_reads_the_pipelines_own_table(pipeline: Pipeline) -> None:
    table = pipeline_table(pipeline)
    data = advise("--pipeline", pipeline.value)
    assert data["pipeline"] == pipeline.value and data["table_model"] == table.model.key
    assert data["threshold"] == threshold_advice(table, 1000, 0.01)["threshold"]
    policy = data["operating_threshold"]
    assert isinstance(policy, dict)
    assert policy["threshold"] == operating_threshold(table, 1000, 0.01, 20).threshold
    assert policy["threshold"] <= data["threshold"]  # the worst group's upper bound is never looser
    if pipeline is not Pipeline.DLIB:  # these tables count groups: the promise is kept for the worst of them
        assert policy["groups"] and policy["worst_group"] != "overall"


def test_threshold_follows_the_configured_pipeline() -> None:
    data = advise(env={"FACELEDGER_PIPELINE": "sface"})
    assert data["pipeline"] == "sface"
    assert data["threshold"] == threshold_advice(pipeline_table(Pipeline.SFACE), 1000, 0.01)["threshold"] > 0.9
    dlib = advise(env={"FACELEDGER_PIPELINE": "dlib"})
    assert dlib["threshold"] == threshold_advice(pipeline_table(Pipeline.DLIB), 1000, 0.01)["threshold"] < 0.5
