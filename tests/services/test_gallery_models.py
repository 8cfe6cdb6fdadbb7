"""The gallery's models on real faces: a second model re-embedded (resumably, from the originals, ledgered),
enabled only once complete, one index per model, searches that fuse per-model distances and never compare
across models, and subjects ranked by their best photo.

The second model is dlib's ResNet behind a fixed rotation of its output (a different ModelIdentity): its
distances equal dlib's, so what it must find is known exactly, with no second engine needed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from faceledger.config import Settings
from faceledger.engine.fusion import FusionRule, ModelScale
from faceledger.engine.image_input import load_image
from faceledger.engine.models import model_files, recognition_model_identity
from faceledger.engine.pipeline import FaceEngine
from faceledger.engine.runtime import DlibRuntime
from faceledger.errors import Conflict, ModelNotEnabled
from faceledger.services.casework._gallery_search import rank_candidates, search_gallery
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.model_admin import gallery_models
from faceledger.services.runtime.deployment import Deployment, index_drift, open_deployment
from faceledger.services.runtime.pipeline_models import pipeline_model_keys
from faceledger.store import ledger
from faceledger.store.models import FaceEmbedding, GalleryFace
from faceledger.types import BUILTIN_PIPELINES, DetectedFace, Embedding, ModelIdentity, Pipeline
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import make_office

pytestmark = pytest.mark.needs_data
SPEC = SourceSpec("lfw-test", "research test data")
ROTATED = ModelIdentity("rotated_dlib", "1", "f" * 64)
ROTATION = np.linalg.qr(np.random.default_rng(12).standard_normal((128, 128)))[0]


class RotatedRuntime:
    """dlib's runtime, its descriptor turned by a fixed orthogonal matrix: another model's key, same distances."""

    def __init__(self, inner: DlibRuntime) -> None:
        self._inner = inner
        self.model = ROTATED

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def describe(self, chip: Any, jitters: int) -> Any:
        return rotate(self._inner.describe(chip, jitters))


def rotate(vector: np.ndarray) -> np.ndarray:
    return (np.asarray(vector, dtype=np.float64) @ ROTATION).astype(np.float32)


@pytest.fixture(autouse=True)
def dlib_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    """These galleries are dlib's (the second model is dlib turned), whatever the default pipeline."""
    monkeypatch.setenv("FACELEDGER_PIPELINE", Pipeline.DLIB.value)


@pytest.fixture(scope="module")
def rotated_engine() -> FaceEngine:
    settings = Settings(workers=1, pipeline=Pipeline.DLIB)
    return FaceEngine(settings, RotatedRuntime(DlibRuntime(model_files(), settings.descriptor_runtime))).load()


@pytest.fixture
def fused(monkeypatch: pytest.MonkeyPatch) -> Iterator[FusionRule]:
    dlib_key = recognition_model_identity().key
    rule = FusionRule(
        "test",
        "a test",
        (ModelScale(dlib_key, 0.6, 0.1, 1.0), ModelScale(ROTATED.key, 0.6, 0.1, 1.0)),
        offset=0.6,
        scale=0.1,
    )
    monkeypatch.setattr("faceledger.services.casework._model_search.pipeline_fusion_rule", lambda _settings: rule)
    yield rule


def two_model_probe(engine: FaceEngine, path: Path) -> DetectedFace:
    face = max(engine.analyse(load_image(path, engine.limits)).faces, key=lambda f: f.box.area)
    assert face.embedding is not None
    return replace(face, extra_embeddings=(Embedding(rotate(face.embedding.vector), ROTATED),))


def test_reembed_resumes_is_ledgered_and_enables_a_second_model(
    make_deployment: Callable[..., Deployment],
    data_dir: Path,
    tmp_path: Path,
    rotated_engine: FaceEngine,
    fused: FusionRule,
) -> None:
    people = people_with_several(data_dir, 6)
    deployment = make_deployment()
    ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    office = make_office(deployment, case=False)
    probe = two_model_probe(deployment.face_engine, people[2][1][1])
    with pytest.raises(ModelNotEnabled, match="rotated_dlib"):  # not in this gallery yet: a clear refusal
        rank_candidates(deployment, probe, 3)

    class Killed(Exception):
        pass

    def kill_after_first_batch(done: int, _total: int, _report: object) -> None:
        raise Killed

    with pytest.raises(Killed):  # a run killed after its first committed batch of two faces
        gallery_models.governed_reembed(
            deployment,
            office.curator,
            "rotated_dlib",
            engine=rotated_engine,
            on_progress=kill_after_first_batch,
            batch_faces=2,
        )
    with deployment.sessions() as session:
        faces = len(session.scalars(select(GalleryFace.id)).all())
    with pytest.raises(Conflict, match=f"{faces - 2} gallery faces have no embedding"):
        gallery_models.governed_enable(deployment, office.curator, "rotated_dlib")
    report = gallery_models.governed_reembed(
        deployment, office.curator, "rotated_dlib", engine=rotated_engine, batch_faces=2
    )
    assert (report.gallery_faces, report.already_embedded, report.embedded) == (faces, 2, faces - 2)
    assert report.from_originals == faces - 2 and report.unavailable == report.not_found_again == 0

    with deployment.sessions() as session:  # re-read from the originals: exactly dlib's vector, rotated
        for face in session.scalars(select(GalleryFace)):
            stored = {e.model_key: deployment.embedding_vector(face.thumbnail, e.embedding) for e in face.embeddings}
            assert set(stored) == {deployment.model_key, ROTATED.key}
            np.testing.assert_allclose(stored[ROTATED.key], rotate(stored[deployment.model_key]), atol=1e-5)
        actions = [e.action for e in ledger.entries(session, limit=1000) if e.action.startswith("models_")]
    assert actions == ["models_reembed_start", "models_reembed_start", "models_reembed"]  # the kill: no finish

    status = gallery_models.governed_enable(deployment, office.curator, "rotated_dlib")
    assert status.enabled and status.faces_embedded == status.index_faces == faces
    listed = {m.model_key: m for m in gallery_models.governed_list(deployment, office.curator)}
    assert listed[deployment.model_key].enabled and listed[deployment.model_key].in_pipeline
    assert not listed[ROTATED.key].in_pipeline

    ranked = rank_candidates(deployment, probe, 3)
    assert ranked[0].subject_external_id == people[2][0]
    for candidate in ranked:  # each model scored on its own; the rotation keeps distances: they agree
        assert set(candidate.model_scores) == {deployment.model_key, ROTATED.key}
        dlib, other = candidate.model_scores[deployment.model_key], candidate.model_scores[ROTATED.key]
        assert dlib == pytest.approx(other, abs=1e-4)
        assert candidate.distance == pytest.approx(fused.distance(candidate.model_scores))
        assert candidate.to_dict()["model_scores"][ROTATED.key] == round(other, 4)
    dlib_only = rank_candidates(deployment, replace(probe, extra_embeddings=()), 3)
    assert [c.face_id for c in dlib_only] == [c.face_id for c in ranked]

    # each model has its own index folder; reopened, both are level with the database
    deployment.close()
    reopened = open_deployment(deployment.settings, deployment.data_dir)
    try:
        assert set(reopened.index.model_keys()) == {deployment.model_key, ROTATED.key}
        assert index_drift(reopened)[0].clean
        assert len([p for p in (reopened.data_dir / "index").iterdir() if p.is_dir()]) == 2
        again = gallery_models.reembed(reopened, ROTATED.key, engine=rotated_engine)
        assert (again.already_embedded, again.embedded) == (faces, 0)  # nothing left to do
    finally:
        reopened.close()


def test_without_originals_reembedding_needs_thumbnails(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path, rotated_engine: FaceEngine
) -> None:
    people = people_with_several(data_dir, 3)
    deployment = make_deployment()
    manifest = copy_with_manifest(people, tmp_path / "gallery")
    ingest(deployment, manifest, SPEC)
    for image in manifest.parent.glob("*.jpg"):
        image.write_bytes(b"changed")  # the originals are gone (or are not the files ingested)
    report = gallery_models.reembed(deployment, ROTATED.key, engine=rotated_engine)
    assert report.embedded == 0 and report.unavailable == report.gallery_faces >= 3
    report = gallery_models.reembed(deployment, ROTATED.key, engine=rotated_engine, from_thumbnails=True)
    assert (
        report.from_thumbnails == report.embedded and report.embedded + report.not_found_again == report.gallery_faces
    )
    assert report.embedded >= 3
    with deployment.sessions() as session:  # the thumbnail's embedding is near, not equal to, the original's
        for face in session.scalars(select(GalleryFace)):
            stored = {e.model_key: deployment.embedding_vector(face.thumbnail, e.embedding) for e in face.embeddings}
            if ROTATED.key in stored:
                distance = float(np.linalg.norm(stored[ROTATED.key] - rotate(stored[deployment.model_key])))
                assert 0 < distance < 0.4
        assert not session.scalars(select(FaceEmbedding).where(FaceEmbedding.model_key == "none")).first()


def test_one_subject_cannot_fill_the_lineup(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    many = people_with_several(data_dir, 1, minimum=6)[0]
    others = [p for p in people_with_several(data_dir, 8) if p[0] != many[0]][:4]
    deployment = make_deployment()
    for number in range(5):  # five photos of one person, each a manifest row for the same subject
        ingest(deployment, copy_with_manifest([many], tmp_path / f"many-{number}", number), SPEC)
    ingest(deployment, copy_with_manifest(others, tmp_path / "others"), SPEC)
    probe = max(
        deployment.face_engine.analyse(load_image(many[1][5], deployment.face_engine.limits)).faces,
        key=lambda f: f.box.area,
    )

    ranked = rank_candidates(deployment, probe, 5)
    assert len({c.subject_external_id for c in ranked}) == 5  # five different people
    assert ranked[0].subject_external_id == many[0]
    assert ranked[0].subject_other_photos == 4  # the best of the five photos, the other four counted
    matched = ranked[0].to_dict()["subject"]["matched_photo"]
    assert matched["face_id"] == ranked[0].face_id and matched["original_filename"] in {p.name for p in many[1][:5]}

    by_photo = replace(deployment, settings=deployment.settings.model_copy(update={"search_rank_subjects": False}))
    photos = rank_candidates(by_photo, probe, 5)  # the setting off: photos rank on their own, as before
    assert [c.subject_external_id for c in photos].count(many[0]) >= 3


@pytest.mark.parametrize("pipeline", BUILTIN_PIPELINES)
def test_the_registry_knows_the_keys_the_engine_stamps(pipeline: Pipeline) -> None:
    """A gallery made with a pipeline enables exactly the models whose embeddings its engine produces."""
    settings = Settings(pipeline=pipeline)
    assert pipeline_model_keys(settings) == tuple(m.key for m in FaceEngine(settings).models)


def test_a_dlib_gallery_reembedded_with_sface_is_searched_with_sface(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    """The real migration path: a gallery made with dlib, SFace added from the originals, then searched by
    the sface pipeline; until SFace is enabled, an sface search is refused with what to do."""
    people = people_with_several(data_dir, 4)
    deployment = make_deployment()
    ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    sface = replace(deployment, settings=deployment.settings.model_copy(update={"pipeline": Pipeline.SFACE}))
    with pytest.raises(ModelNotEnabled, match="models reembed"):
        search_gallery(sface, people[1][1][1])
    report = gallery_models.reembed(deployment, gallery_models.target_key(deployment, "sface"))
    assert report.embedded + report.not_found_again == report.gallery_faces and report.embedded >= 4
    # a face dlib found that YuNet does not stays without an SFace embedding: enabling says so
    status = gallery_models.enable_model(deployment, "sface", allow_missing=bool(report.not_found_again))
    assert status.enabled and status.faces_embedded == report.embedded
    top = search_gallery(sface, people[1][1][1]).results[0].candidates[0]
    assert top.subject_external_id == people[1][0]
    assert set(top.model_scores) == {pipeline_model_keys(sface.settings)[0]}
