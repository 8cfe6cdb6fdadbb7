"""1:N search and complete deletion on real faces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from faceledger.config import Settings
from faceledger.engine.fusion import FusionRule, ModelScale
from faceledger.errors import EngineUnavailable, InvalidInput, NoFaceFound, NotFound
from faceledger.services.casework._gallery_search import search_gallery
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.gallery._removal import remove_from_gallery
from faceledger.services.runtime.deployment import Deployment, index_drift, open_deployment, rebuild_index
from faceledger.services.runtime.pipeline_models import pipeline_fusion_rule, pipeline_model_keys
from faceledger.store import model_registry
from faceledger.store.models import GalleryFace, GalleryImage
from faceledger.types import IndexBackend, Pipeline
from tests.databases import SQLITE_ONLY
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.security.sealed_scan import opened_index_bytes

pytestmark = pytest.mark.needs_data
SPEC = SourceSpec("lfw-test", "research test data")


@pytest.fixture
def two_model_pipeline(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The fused pipeline (SFace and dlib, both enabled in a gallery made with it). Where its fitted rule
    is not shipped (eval.fusion_fit writes it), a rough z-score rule stands in: ranking by any positive
    weighting of two distances, what this test checks is that both models' scores reach the lineup."""
    settings = Settings(pipeline=Pipeline.FUSED)
    try:
        sface, dlib = pipeline_model_keys(settings)
    except EngineUnavailable as exc:
        pytest.skip(f"no two-model pipeline here: {exc}")
    try:
        pipeline_fusion_rule(settings)
    except InvalidInput:
        rough = FusionRule(
            "rough",
            "a test stand-in, not fitted",
            (ModelScale(sface, 1.05, 0.2, 1.0), ModelScale(dlib, 0.6, 0.15, 1.0)),
            offset=0.6,
            scale=0.15,
        )
        monkeypatch.setattr(
            "faceledger.services.casework._model_search.pipeline_fusion_rule",
            lambda s: rough if s.pipeline is Pipeline.FUSED else None,
        )
    return Pipeline.FUSED


@pytest.mark.slow
@SQLITE_ONLY  # accuracy is the index's and the engine's; the removal tests below run on both databases
def test_rank1_over_300_people(make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path) -> None:
    """On the default pipeline, the one deployed: the fused lineup and dlib are checked on small galleries
    (test_two_models_enabled_find_the_same_person_first, tests/engine), their accuracy in bench/ and eval."""
    people = people_with_several(data_dir, 320)
    deployment = make_deployment()
    report = ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    assert report.images_added >= 300
    hits = searched = 0
    for _, images in people:
        searched += 1
        try:
            result = search_gallery(deployment, images[1], top_k=5)
        except NoFaceFound:  # counted as a miss
            continue
        central = min(result.results, key=lambda r: abs(r.face.box.left + r.face.box.right - 250))
        top = central.candidates[0] if central.candidates else None
        hits += top is not None and top.original_filename == images[0].name
    rank1 = hits / searched
    print(f"rank-1 {hits}/{searched} = {rank1:.3f}")
    assert searched == 320
    assert rank1 >= 0.95


def test_search_links_back_and_removal_is_complete(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    people = people_with_several(data_dir, 8)
    deployment = make_deployment()
    ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    person, images = people[3]
    result = search_gallery(deployment, images[1])
    top = result.results[0].candidates[0]
    assert top.subject_external_id == person and top.rank == 1
    assert top.source == SPEC.name and top.source_url.endswith(images[0].name) and top.thumbnail.is_file()
    assert top.false_match.impostor_pairs > 1_000_000
    with deployment.sessions() as session:
        removed = session.scalars(select(GalleryFace).where(GalleryFace.id == top.face_id)).one()
        kept = session.scalars(select(GalleryFace).where(GalleryFace.id != top.face_id)).first()
        assert kept is not None
        removed_bytes, kept_bytes = removed.embeddings[0].embedding, kept.embeddings[0].embedding  # sealed
        removed_plain = deployment.embedding_vector(removed.thumbnail, removed_bytes).tobytes()
        kept_plain = deployment.embedding_vector(kept.thumbnail, kept_bytes).tobytes()
    thumbnail_bytes = top.thumbnail.read_bytes()

    removal = remove_from_gallery(deployment, sha256=top.image_sha256)
    assert (removal.images, removal.faces, removal.thumbnails) == (1, 1, 1)
    again = search_gallery(deployment, images[1])
    assert all(c.face_id != top.face_id for r in again.results for c in r.candidates)
    assert all(c.subject_external_id != person for r in again.results for c in r.candidates)
    assert not top.thumbnail.exists()
    assert index_drift(deployment)[0].clean
    with pytest.raises(NotFound):
        remove_from_gallery(deployment, sha256=top.image_sha256)

    if deployment.engine.dialect.name == "sqlite":  # the bytes live in the data directory: scan it
        deployment.close()
        stored = b"".join(p.read_bytes() for p in sorted(deployment.data_dir.rglob("*")) if p.is_file())
        assert kept_bytes in stored, "the scan must be able to find an embedding that is still stored"
        assert removed_bytes not in stored
        assert thumbnail_bytes not in stored
        opened = opened_index_bytes(deployment)  # the index is sealed too: look inside it
        assert kept_plain in opened, "the scan must find a vector the index still holds"
        assert removed_plain not in opened


def test_two_models_enabled_find_the_same_person_first(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path, two_model_pipeline: Pipeline
) -> None:
    """Acceptance: a gallery with two models enabled (each with its own index) puts the same, right, person
    first as the dlib gallery does, and shows each model's distance beside the fused one."""
    people = people_with_several(data_dir, 8)
    manifest = copy_with_manifest(people, tmp_path / "gallery")
    fused = make_deployment(pipeline=two_model_pipeline)
    ingest(fused, manifest, SPEC)
    # the same gallery searched by the dlib pipeline alone (one database per test on PostgreSQL)
    dlib = replace(fused, settings=fused.settings.model_copy(update={"pipeline": Pipeline.DLIB}))
    with fused.sessions() as session:
        assert model_registry.enabled_keys(session) == set(fused.pipeline_keys)
    assert set(fused.index.model_keys()) == set(fused.pipeline_keys) and index_drift(fused)[0].clean
    for person, images in people:
        firsts = []
        for deployment in (dlib, fused):
            result = search_gallery(deployment, images[1], top_k=3)
            central = min(result.results, key=lambda r: abs(r.face.box.left + r.face.box.right - 250))
            firsts.append(central.candidates[0])
        assert [c.subject_external_id for c in firsts] == [person, person]
        assert set(firsts[1].model_scores) == set(fused.pipeline_keys)
        assert set(firsts[0].model_scores) == {dlib.model_key}
        assert firsts[0].distance == firsts[0].model_scores[dlib.model_key]  # single model: its own distance


def test_a_lagging_index_is_found_and_rebuilt(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment(IndexBackend.EXACT)
    ingest(deployment, copy_with_manifest(people_with_several(data_dir, 6), tmp_path / "gallery"), SPEC)
    faces = deployment.index.count()
    deployment.index.remove(deployment.index.ids()[:2])  # as if a crash came between commit and index
    deployment.index.save(0)
    settings = deployment.settings.model_copy(update={"index_sync_on_open": False})
    lagging = open_deployment(settings, deployment.data_dir)
    drift, missing, _ = index_drift(lagging)
    assert (drift.missing_from_index, drift.clean) == (2, False) and len(missing) == 2
    rebuild_index(lagging)
    assert index_drift(lagging)[0].clean and lagging.index.count() == faces
    healed = open_deployment(deployment.settings, deployment.data_dir)  # sync on open does the same
    assert healed.index.count() == faces
    for opened in (lagging, healed):
        opened.close()


def test_search_never_returns_rows_the_database_lacks(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment(IndexBackend.EXACT)
    people = people_with_several(data_dir, 4)
    ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    with deployment.sessions() as session, session.begin():
        image = session.scalars(
            select(GalleryImage).where(GalleryImage.original_filename == people[0][1][0].name)
        ).one()
        face_ids = [face.id for face in image.faces]
        session.delete(image)  # behind the index's back
    assert set(face_ids) <= set(deployment.index.ids().tolist())
    result = search_gallery(deployment, people[0][1][1])
    assert not {c.face_id for r in result.results for c in r.candidates} & set(face_ids)
    assert np.all([c.rank == i + 1 for r in result.results for i, c in enumerate(r.candidates)])


def test_milvus_backend_serves_the_same_workflow(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    people = people_with_several(data_dir, 6)
    deployment = make_deployment(IndexBackend.MILVUS)
    ingest(deployment, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    assert deployment.index.backend is IndexBackend.MILVUS and index_drift(deployment)[0].clean
    top = search_gallery(deployment, people[2][1][1]).results[0].candidates[0]
    assert top.original_filename == people[2][1][0].name
    remove_from_gallery(deployment, image_id=None, sha256=top.image_sha256)
    again = search_gallery(deployment, people[2][1][1])
    assert all(c.face_id != top.face_id for r in again.results for c in r.candidates)
    assert index_drift(deployment)[0].clean
