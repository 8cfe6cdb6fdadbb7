"""The operator-supplied model slot: a recognizer built here with onnx.helper is checked, stored read-only
by its sha256 with a row and a ledger entry, refused when its weights are non-commercial on a deployment
that forbids them, refused at load when its stored file changes, enabled only after an evaluation of this
very file is stored, and then re-embeds a gallery and is searched with its own embeddings only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from faceledger.engine.operator_model import OperatorEmbedder, read_spec, to_input, validate_model_file
from faceledger.engine.pipeline import FaceEngine
from faceledger.errors import Conflict, EngineUnavailable, InvalidInput, PolicyDenied
from faceledger.services.casework._gallery_search import search_gallery
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.model_admin import gallery_models, operator_models
from faceledger.services.runtime.deployment import Deployment, open_deployment
from faceledger.store import ledger, model_registry
from faceledger.store.models import OperatorModel
from faceledger.types import ColourOrder, OnnxProvider, Pipeline, PixelScale
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import make_office
from tests.operator_onnx import DIM, recognizer

SPEC = SourceSpec("lfw-test", "research test data")


def actions(deployment: Deployment) -> list[str]:
    with deployment.sessions() as session:
        return [e.action for e in ledger.entries(session, limit=1000)]


def test_the_file_checks_name_what_is_wrong(tmp_path: Path) -> None:
    good = validate_model_file(recognizer(tmp_path / "good.onnx"), 10**8)
    assert good.embedding_dim == DIM and len(good.sha256) == 64
    (tmp_path / "text.onnx").write_text("not a model")
    small = recognizer(tmp_path / "s.onnx", input_shape=(1, 3, 96, 96))
    cases = {
        "not an ONNX model": tmp_path / "text.onnx",
        "input image is tensor\\(float\\) \\[1, 3, 96, 96\\]; an aligned face is a float tensor 1 x 3 x 112": small,
        "exactly one 2-D output": recognizer(tmp_path / "two.onnx", two_outputs=True),
    }
    for why, path in cases.items():
        with pytest.raises(InvalidInput, match=why):
            validate_model_file(path, 10**8)
    big = recognizer(tmp_path / "big.onnx", pad_bytes=2_000_000)
    with pytest.raises(InvalidInput, match=r"2,[0-9,]+ bytes is over the limit of 1,000,000"):
        validate_model_file(big, 1_000_000)


def test_pixels_reach_the_model_in_its_colour_order_and_scale() -> None:
    chip = np.zeros((112, 112, 3), dtype=np.uint8)
    chip[..., 0] = 255  # pure red
    rgb_raw = to_input([chip], ColourOrder.RGB, PixelScale.RAW)
    assert rgb_raw.shape == (1, 3, 112, 112) and rgb_raw[0, 0].max() == 255 and rgb_raw[0, 2].max() == 0
    bgr_sym = to_input([chip], ColourOrder.BGR, PixelScale.SYMMETRIC)
    assert bgr_sym[0, 2].min() == 1.0 and bgr_sym[0, 0].max() == -1.0
    assert to_input([chip], ColourOrder.RGB, PixelScale.UNIT)[0, 0].max() == 1.0


def test_add_stores_file_row_and_ledger_and_refuses_non_commercial(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = make_deployment()
    office = make_office(deployment, case=False)
    model = recognizer(tmp_path / "arc.onnx")
    with pytest.raises(PolicyDenied, match="non-commercial"):
        operator_models.add_model(
            deployment, office.curator, model, name="arc", licence="CC BY-NC 4.0", commercial_use=False
        )
    assert actions(deployment)[-1] == "models_add_refused" and operator_models.list_operator_models(deployment) == []
    with pytest.raises(Conflict, match="built-in"):
        operator_models.add_model(deployment, office.curator, model, name="sface", licence="x", commercial_use=True)
    info = operator_models.add_model(
        deployment,
        office.curator,
        model,
        name="arc",
        licence="city licence 2026-17",
        commercial_use=True,
        scale=PixelScale.UNIT,
    )
    stored = deployment.data_dir / "operator_models" / f"{info.sha256}.onnx"
    assert stored.read_bytes() == model.read_bytes() and stored.stat().st_mode & 0o777 == 0o400
    assert info.model_key == f"arc@operator#{info.sha256[:12]}" and not info.evaluated and info.embedding_dim == DIM
    assert read_spec(stored.parent, "arc").scale is PixelScale.UNIT
    with deployment.sessions() as session:
        row = session.scalars(select(OperatorModel)).one()
        assert (row.licence, row.commercial_use, row.added_by) == ("city licence 2026-17", True, "curator")
        assert model_registry.registered_keys(session)[-1] == info.model_key  # registered, not enabled
        assert info.model_key not in model_registry.enabled_keys(session)
        entry = next(e for e in ledger.entries(session, limit=1000) if e.action == "models_add")
        assert json.loads(entry.details)["sha256"] == info.sha256
    with pytest.raises(Conflict, match="already named"):
        operator_models.add_model(
            deployment,
            office.curator,
            recognizer(tmp_path / "b.onnx", seed=1),
            name="arc",
            licence="x",
            commercial_use=True,
        )


def test_non_commercial_weights_where_the_deployment_allows_them(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    model = recognizer(tmp_path / "arc.onnx")
    allowing = make_deployment(allow_non_commercial_models=True)
    other = make_office(allowing, case=False)
    added = operator_models.add_model(
        allowing, other.curator, model, name="arc", licence="CC BY-NC 4.0", commercial_use=False
    )
    assert not added.commercial_use


def test_a_changed_stored_file_is_refused_at_load(make_deployment: Callable[..., Deployment], tmp_path: Path) -> None:
    deployment = make_deployment()
    office = make_office(deployment, case=False)
    info = operator_models.add_model(
        deployment, office.curator, recognizer(tmp_path / "m.onnx"), name="m", licence="x", commercial_use=True
    )
    settings = operator_models.operator_settings(deployment, "m")
    spec = read_spec(settings.operator_model_dir or Path(), "m")
    assert OperatorEmbedder(spec, OnnxProvider.CPU, 1).model.key == info.model_key
    os.chmod(spec.path, 0o600)
    spec.path.write_bytes(recognizer(tmp_path / "other.onnx", seed=5).read_bytes())
    with pytest.raises(EngineUnavailable, match="has changed since it was added"):
        FaceEngine(settings).load()


@pytest.mark.needs_data
def test_enable_waits_for_an_evaluation_then_searches_with_its_own_embeddings(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    people = people_with_several(data_dir, 3)
    deployment = make_deployment()
    ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    office = make_office(deployment, case=False)
    info = operator_models.add_model(
        deployment,
        office.curator,
        recognizer(tmp_path / "m.onnx"),
        name="m",
        licence="x",
        commercial_use=True,
        scale=PixelScale.SYMMETRIC,
    )
    report = gallery_models.governed_reembed(deployment, office.curator, "m")
    assert report.embedded >= 3 and report.model_key == info.model_key
    with pytest.raises(Conflict, match="faceledger eval lfw --pipeline m"):
        gallery_models.governed_enable(deployment, office.curator, "m", allow_missing=True)

    table = _uniform_table(info.sha256, info.model_key)
    with pytest.raises(Conflict, match="evaluation is of sha256"):
        operator_models.record_evaluation(
            deployment, office.curator, "m", {"pipeline": "operator"}, _uniform_table("0" * 64, info.model_key)
        )
    stored = operator_models.record_evaluation(deployment, office.curator, "m", {"pipeline": "operator"}, table)
    assert stored.evaluated and "models_evaluate" in actions(deployment)
    status = gallery_models.governed_enable(deployment, office.curator, "m", allow_missing=True)
    assert status.enabled

    # FACELEDGER_PIPELINE=operator FACELEDGER_OPERATOR_MODEL=m: the deployment finds the added model itself
    chosen = deployment.settings.model_copy(update={"pipeline": Pipeline.OPERATOR, "operator_model": "m"})
    operator = open_deployment(chosen, deployment.data_dir)
    searching = operator.settings
    probe = people[1][1][0]  # a gallery photo: its own face is nearest
    result = search_gallery(operator, probe).results[0]
    assert result.candidates and result.candidates[0].subject_external_id == people[1][0]
    assert all(set(c.model_scores) == {info.model_key} for c in result.candidates)
    assert operator.calibration.model.weights_sha256 == info.sha256
    engine = FaceEngine(searching).load()
    faces = engine.analyse(engine.load_image(probe)).faces
    embedded = [face.embedding for face in faces if face.embedding is not None]
    assert embedded and all(
        e.model.key == info.model_key and not f.extra_embeddings for e, f in zip(embedded, faces, strict=False)
    )
    assert all(abs(float(np.linalg.norm(e.vector)) - 1) < 1e-5 for e in embedded)  # L2-normalised by us
    operator.close()


def _uniform_table(sha256: str, key: str) -> dict[str, object]:
    """A stand-in View 1 table (the CLI test measures a real one on a tiny LFW subset)."""
    name = key.split("@", 1)[0]
    rows = [
        {"distance": round(0.005 * i, 3), "impostor_at_or_below": i * 10, "genuine_above": max(0, 100 - i)}
        for i in range(401)
    ]
    return {
        "model": {"name": name, "version": "operator", "weights_sha256": sha256},
        "dataset": "test",
        "method": "test",
        "impostor_pairs": 4010,
        "genuine_pairs": 100,
        "rows": rows,
    }
