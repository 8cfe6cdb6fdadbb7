"""Batch ingestion with the analysis on a real Ray cluster (`ray start --head`, 2 CPUs, started here).

The same photos ingested locally and through Ray give the same gallery and the same ledger entries; a
cluster that loses its workers mid-run leaves what was committed, and the rerun adds the rest exactly
once; an address where no cluster listens is a clear error, not a hang."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from faceledger.config import Settings
from faceledger.errors import EngineUnavailable
from faceledger.services.gallery._ingest import IngestReport, SourceSpec
from faceledger.services.gallery.curation import governed_ingest
from faceledger.services.oversight import audit_ledger
from faceledger.services.runtime.deployment import Deployment, init_deployment
from faceledger.store import ledger
from faceledger.store.models import FaceEmbedding, GalleryFace, GalleryImage
from faceledger.types import IndexBackend
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import Office, make_office
from tests.raycluster import RAY, free_port, local_cluster

pytestmark = [pytest.mark.needs_data, pytest.mark.slow]
SPEC = SourceSpec("lfw", "research test data")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A local two-CPU Ray cluster for this module; its address."""
    if importlib.util.find_spec("ray") is None or not RAY.is_file():
        pytest.skip("the ray package is not installed (it comes with the test extras on Linux)")
    with local_cluster(cpus=2) as address:
        yield address


@pytest.fixture
def photos(data_dir: Path, tmp_path: Path) -> Path:
    return copy_with_manifest(people_with_several(data_dir, 6), tmp_path / "photos")


def _ingest(office: Office, photos: Path, **options: Any) -> IngestReport:
    return governed_ingest(office.deployment, office.curator, photos, SPEC, **options)


def _gallery(deployment: Deployment) -> dict[tuple[str, int], np.ndarray]:
    with deployment.sessions() as session:
        rows = session.execute(
            select(GalleryImage.sha256, GalleryFace.face_index, FaceEmbedding.embedding, GalleryFace.thumbnail)
            .join(GalleryFace, GalleryFace.image_id == GalleryImage.id)
            .join(FaceEmbedding, FaceEmbedding.face_id == GalleryFace.id)
        ).all()
    return {(sha, index): deployment.embedding_vector(thumbnail, blob) for sha, index, blob, thumbnail in rows}


def _ingest_entries(deployment: Deployment) -> list[tuple[Any, ...]]:
    """The gallery's entries as what they say (the time and the chain's hashes aside)."""
    with deployment.sessions() as session:
        entries = ledger.entries(session, limit=10_000)
    return [
        (e.actor, e.action, e.outcome, e.subjects, e.details, e.reasons)
        for e in entries
        if e.action.startswith("gallery_")
    ]


def _sqlite_deployment(folder: Path) -> Deployment:
    """Two deployments side by side: each its own SQLite file (on PostgreSQL they would share one database)."""
    return init_deployment(Settings(workers=2), folder, IndexBackend.FAISS)


def test_ray_ingest_stores_and_ledgers_what_a_local_ingest_does(ray_cluster: str, photos: Path, tmp_path: Path) -> None:
    local, through_ray = _sqlite_deployment(tmp_path / "local"), _sqlite_deployment(tmp_path / "ray")
    started = time.monotonic()
    here = _ingest(make_office(local, grant=False), photos, workers=1)
    local_s = time.monotonic() - started
    started = time.monotonic()
    there = _ingest(make_office(through_ray, grant=False), photos, ray_address=ray_cluster)
    ray_s = time.monotonic() - started
    assert here.images_added == there.images_added == 6 and here.faces_added == there.faces_added
    assert not there.failures
    ours, theirs = _gallery(local), _gallery(through_ray)
    assert ours.keys() == theirs.keys()
    for sha, vector in ours.items():
        np.testing.assert_allclose(theirs[sha], vector, atol=1e-5)  # the same models on the cluster
    entries = _ingest_entries(local)
    assert [entry[1] for entry in entries] == ["gallery_ingest_start", "gallery_ingest"]
    assert _ingest_entries(through_ray) == entries
    local.close()
    through_ray.close()
    print(f"local {local_s:.1f} s, through Ray {ray_s:.1f} s for 6 photos (Ray's includes loading its actors)")


# On PostgreSQL, the deployment a cluster serves; the local resume is tested on SQLite (test_ingest_crash).
@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
def test_a_cluster_that_loses_its_workers_leaves_a_run_to_resume_exactly_once(
    ray_cluster: str, make_deployment: Callable[..., Deployment], photos: Path
) -> None:
    import ray

    deployment = make_deployment(ingest_batch_images=2)
    office = make_office(deployment, grant=False)
    killed: list[str] = []

    def kill_workers(done: int, _total: int, _report: IngestReport) -> None:
        if done == 2 and not killed:  # the first batch is committed: now the cluster loses every worker
            for actor in ray.util.list_named_actors(all_namespaces=True):
                if actor["name"].startswith("faceledger-analyser"):
                    ray.kill(ray.get_actor(actor["name"], namespace=actor["namespace"]))
                    killed.append(actor["name"])

    with pytest.raises(EngineUnavailable, match="run the same ingest again"):
        _ingest(office, photos, ray_address=ray_cluster, on_progress=kill_workers)
    assert killed
    with deployment.sessions() as session:
        committed = session.scalar(select(func.count()).select_from(GalleryImage))
    assert committed is not None and 2 <= committed < 6

    rerun = _ingest(office, photos, ray_address=ray_cluster)
    assert rerun.images_added == 6 - committed and rerun.images_known == committed
    with deployment.sessions() as session:
        assert session.scalar(select(func.count()).select_from(GalleryImage)) == 6
        assert session.scalar(select(func.count(func.distinct(GalleryImage.sha256)))) == 6
    actions = [entry[1] for entry in _ingest_entries(deployment)]
    assert "gallery_ingest_interrupted" in actions
    verified = audit_ledger.verify(deployment, office.auditor)
    assert verified.status.value == "verified", verified.problem


def test_no_cluster_at_the_address_is_a_clear_error_not_a_hang(photos: Path, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(EngineUnavailable, match=f"no Ray cluster .* at {address}"):
        _ingest(
            make_office(deployment := _sqlite_deployment(tmp_path / "data"), grant=False), photos, ray_address=address
        )
    assert time.monotonic() - started < 30
    deployment.close()
