"""Ingestion on real faces, on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select

from faceledger.errors import Conflict, InvalidInput
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.gallery.stats import gallery_stats
from faceledger.services.runtime.deployment import Deployment, index_drift
from faceledger.store.models import GalleryFace, GalleryImage, IngestFailure, Source, Subject
from tests.lfwdata import copy_with_manifest, people_with_several

pytestmark = pytest.mark.needs_data
SPEC = SourceSpec("lfw-test", "research test data, consent not applicable (public figures)")


def counts(deployment: Deployment) -> tuple[int, int, int]:
    with deployment.sessions() as session:
        images = session.scalar(select(func.count()).select_from(GalleryImage))
        faces = session.scalar(select(func.count()).select_from(GalleryFace))
        sources = session.scalar(select(func.count()).select_from(Source))
    return int(images or 0), int(faces or 0), int(sources or 0)


def test_folder_ingest_is_incremental_and_deduplicated(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment()
    folder = tmp_path / "in"
    copy_with_manifest(people_with_several(data_dir, 12), folder)
    (folder / "manifest.csv").unlink()
    shutil.copy(next(folder.glob("*.jpg")), folder / "copy-of-first.jpg")  # same bytes, other name
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    first = ingest(deployment, folder, SPEC)
    assert (first.files_seen, first.images_added, first.duplicates_in_input) == (14, 12, 1)
    assert [path for path, _ in first.failures] == [str(folder / "broken.jpg")]
    assert counts(deployment)[0] == 12
    again = ingest(deployment, folder, SPEC)
    assert (again.images_added, again.images_known) == (0, 13)  # the copy is known by its content now
    assert counts(deployment)[0] == 12
    drift, _, _ = index_drift(deployment)
    assert drift.clean and drift.index_faces == counts(deployment)[1]
    with deployment.sessions() as session:
        assert session.scalar(select(func.count()).select_from(IngestFailure)) == 2  # recorded on both runs


def test_manifest_carries_provenance_and_subjects(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment()
    manifest = copy_with_manifest(people_with_several(data_dir, 5), tmp_path / "in")
    report = ingest(deployment, manifest, SPEC)
    assert report.images_added == 5
    with deployment.sessions() as session:
        image = session.scalars(select(GalleryImage).order_by(GalleryImage.id)).first()
        assert image is not None
        assert image.source_url.startswith("https://example.org/lfw/") and image.collected_at is not None
        assert image.subject is not None and image.source.legal_basis == SPEC.legal_basis
        assert session.scalar(select(func.count()).select_from(Subject)) == 5
        face = session.scalars(select(GalleryFace).where(GalleryFace.image_id == image.id)).first()
        assert face is not None and face.subject_id == image.subject_id
        (stored,) = face.embeddings  # a single-model pipeline: that model's
        vector = deployment.embedding_vector(face.thumbnail, stored.embedding)  # sealed at rest
        assert vector.shape == (128,) and stored.model_key == deployment.model_key
        assert (deployment.data_dir / face.thumbnail).is_file()
    assert gallery_stats(deployment)["sources"][0]["images"] == 5


def test_bad_manifests_and_sources_store_nothing(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment()
    manifest = copy_with_manifest(people_with_several(data_dir, 3), tmp_path / "in")
    ingest(deployment, manifest, SPEC)
    before = counts(deployment)
    bad_column = tmp_path / "in" / "bad.csv"
    bad_column.write_text("path,source_url\nx.jpg,\n")
    with pytest.raises(InvalidInput, match="needs a 'file' column"):
        ingest(deployment, bad_column, SPEC)
    escape = tmp_path / "in" / "escape.csv"
    escape.write_text("file\n../../etc/passwd\n")
    with pytest.raises(InvalidInput, match="not a file in the manifest's folder under the ingest roots"):
        ingest(deployment, escape, SPEC)
    missing = tmp_path / "in" / "missing.jsonl"
    missing.write_text('{"file": "nope.jpg"}\n')
    with pytest.raises(InvalidInput, match="not a file in the manifest's folder under the ingest roots"):
        ingest(deployment, missing, SPEC)
    with pytest.raises(InvalidInput, match="give its legal basis"):
        ingest(deployment, manifest, SourceSpec("new-source", None))
    with pytest.raises(Conflict, match="another legal basis"):
        ingest(deployment, manifest, SourceSpec(SPEC.name, "a different reason"))
    assert counts(deployment) == before
