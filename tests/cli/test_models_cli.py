"""`faceledger models` as a curator uses it: what the gallery holds, re-embedding that skips what it has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from faceledger.config import Settings
from tests.cli.test_gallery_cli import run
from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = pytest.mark.needs_data


def test_models_list_enable_reembed(data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    manifest = copy_with_manifest(people_with_several(data_dir, 3), tmp_path / "in")
    created = run("init", "--data-dir", str(folder), "--json")
    assert created.returncode == 0, created.stderr
    token = ["--data-dir", str(folder), "--token", json.loads(created.stdout)["token"]]
    ingested = run("gallery", "ingest", str(manifest), "--source", "lfw", "--legal-basis", "test", *token)
    assert ingested.returncode == 0, ingested.stderr

    listed = run("models", "list", "--json", *token)
    assert listed.returncode == 0, listed.stderr
    (model,) = json.loads(listed.stdout)["models"]  # the pipeline's model, enabled when the gallery was made
    assert model["enabled"] and model["in_pipeline"] and model["faces_embedded"] == model["gallery_faces"] >= 3
    assert model["index_faces"] == model["gallery_faces"]

    again = run("models", "reembed", Settings().pipeline.value, "--json", *token)  # a pipeline's name: its model
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert (report["already_embedded"], report["embedded"]) == (model["gallery_faces"], 0)
    enabled = run("models", "enable", model["name"], *token)
    assert enabled.returncode == 0 and "enabled" in enabled.stdout
    unknown = run("models", "enable", "arcface", *token)
    assert unknown.returncode == 4 and "no model 'arcface'" in unknown.stderr
    text = run("models", "list", *token)
    assert f"{model['model_key']}: enabled, the configured pipeline's" in text.stdout
    shown = json.loads(run("ledger", "show", "--json", *token).stdout)
    assert [e["action"] for e in shown if e["action"].startswith("models")] == [
        "models_reembed_start",
        "models_reembed",
        "models_enable",
    ]
