"""M2: ingest reads only under the configured roots, never the data directory or the keys folder, never
through a symlink out of the roots; missing and forbidden read the same; errors quote no file contents.

Synthetic images are enough: every refusal comes before anything is analysed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select

from faceledger.api.app import create_app
from faceledger.errors import InvalidInput, PolicyDenied
from faceledger.services.gallery import curation
from faceledger.services.gallery._ingest import SourceSpec, ingest
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.models import GalleryImage, IngestJob
from tests.office import make_office

SPEC = SourceSpec("web", "test basis")


def picture(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 64), (120, 90, 60)).save(path)
    return path


def stored(deployment: Deployment) -> tuple[int, int]:
    with deployment.sessions() as session:
        images = session.scalar(select(func.count()).select_from(GalleryImage)) or 0
        jobs = session.scalar(select(func.count()).select_from(IngestJob)) or 0
    return int(images), int(jobs)


def test_no_roots_means_ingest_by_path_is_off(make_deployment: Callable[..., Deployment], tmp_path: Path) -> None:
    deployment = make_deployment(ingest_roots=[])
    folder = tmp_path / "photos"
    picture(folder / "a.jpg")
    with pytest.raises(InvalidInput, match="ingest by path is off"):
        ingest(deployment, folder, SPEC)
    assert stored(deployment) == (0, 0)


def test_the_data_directory_and_keys_folder_are_never_ingested(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = make_deployment(ingest_roots=[tmp_path])  # the root holds the data directory itself
    probes = deployment.data_dir / "probes"
    picture(probes / "refused-search-probe.jpg")
    for inside in (probes, deployment.data_dir, deployment.keys.directory):
        with pytest.raises(InvalidInput, match="under the ingest roots"):
            ingest(deployment, inside, SPEC)
    # a folder above the data directory reaches into it: refused whole, not quietly ingested
    with pytest.raises(InvalidInput, match="not a file under the ingest roots"):
        ingest(deployment, tmp_path, SPEC)
    assert stored(deployment) == (0, 0)


def test_a_symlink_out_of_the_roots_refuses_the_whole_input(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    deployment = make_deployment(ingest_roots=[root])
    picture(root / "photos" / "fine.jpg")
    outside = picture(tmp_path / "elsewhere" / "private.jpg")
    (root / "photos" / "link.jpg").symlink_to(outside)
    with pytest.raises(InvalidInput, match=r"link\.jpg is not a file under the ingest roots"):
        ingest(deployment, root / "photos", SPEC)
    (root / "linked-folder").symlink_to(outside.parent, target_is_directory=True)
    with pytest.raises(InvalidInput):
        ingest(deployment, root / "linked-folder", SPEC)
    manifest = root / "photos" / "manifest.csv"
    manifest.write_text("file\nlink.jpg\n")
    with pytest.raises(InvalidInput):
        ingest(deployment, manifest, SPEC)
    assert stored(deployment) == (0, 0)


def test_missing_and_forbidden_read_the_same_and_are_ledgered(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    deployment = make_deployment(ingest_roots=[tmp_path / "root"])
    office = make_office(deployment)
    (tmp_path / "root").mkdir()
    forbidden = picture(tmp_path / "elsewhere" / "a.jpg").parent
    missing = tmp_path / "root" / "nothing-here"
    messages = []
    for path in (forbidden, missing):
        with pytest.raises(PolicyDenied) as refused:
            curation.governed_ingest(deployment, office.curator, path, SPEC)
        messages.append(str(refused.value).replace(str(path), "PATH").split(" (ledger entry")[0])
    assert messages[0] == messages[1]
    refusals = [e for e in office.entries(action="gallery_ingest") if e.outcome == "refused"]
    assert len(refusals) == 2
    assert stored(deployment) == (0, 0)


def test_errors_quote_no_file_contents(make_deployment: Callable[..., Deployment], tmp_path: Path) -> None:
    deployment = make_deployment(ingest_roots=[tmp_path])
    secret = "s3cret-hash:$6$abcdef"
    csv_file = tmp_path / "in" / "notes.csv"
    csv_file.parent.mkdir()
    csv_file.write_text(f"{secret},other\n1,2\n")
    with pytest.raises(InvalidInput) as no_file_column:
        ingest(deployment, csv_file, SPEC)
    csv_file.write_text(f"file,{secret}\na.jpg,1\n")
    with pytest.raises(InvalidInput) as unknown_column:
        ingest(deployment, csv_file, SPEC)
    jsonl = tmp_path / "in" / "notes.jsonl"
    jsonl.write_text(json.dumps({"file": "a.jpg", secret: 1}) + "\n")
    with pytest.raises(InvalidInput) as unknown_field:
        ingest(deployment, jsonl, SPEC)
    for error in (no_file_column, unknown_column, unknown_field):
        assert secret not in str(error.value)


def test_the_api_refuses_before_starting_and_alike(make_deployment: Callable[..., Deployment], tmp_path: Path) -> None:
    deployment = make_deployment(ingest_roots=[tmp_path / "root"])
    office = make_office(deployment)
    (tmp_path / "root").mkdir()
    picture(deployment.data_dir / "probes" / "p.jpg")
    headers = {"Authorization": f"Bearer {office.tokens['curator']}"}
    app = create_app(deployment.settings, deployment.data_dir)
    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for path in (deployment.data_dir / "probes", tmp_path / "root" / "missing"):
            response = client.post(
                "/api/v1/gallery/jobs", headers=headers, json={"path": str(path), "source": "web", "legal_basis": "x"}
            )
            answers.append((response.status_code, response.text.replace(str(path), "PATH").split(" (ledger")[0]))
    assert answers[0] == answers[1] and answers[0][0] == 403
    assert stored(deployment) == (0, 0)
