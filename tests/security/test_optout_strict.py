"""M1: an opt-out deletes no stranger. Matches are taken within a strict distance derived from the
calibration table (false-match rate at most 1 in 100,000), shown to a curator, and only the faces the
curator confirms are deleted; nothing else loses its provenance.

Real LFW faces: Ai_Sugiyama's fifth photo is the opt-out photo (0.33-0.37 from her three gallery photos);
three strangers lie 0.55-0.58 from it: inside the old 0.6 opt-out distance, beyond the strict one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from faceledger.api.app import create_app
from faceledger.errors import InvalidInput
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery import curation, optout
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.governance_models import Candidate
from faceledger.store.models import GalleryFace, GalleryImage
from faceledger.types import Pipeline
from tests.lfwdata import copy_with_manifest
from tests.office import ATTESTATION, make_office

pytestmark = pytest.mark.needs_data
PERSON = "Ai_Sugiyama"
STRANGERS = ("Adisai_Bodharamik", "Akiko_Morigami", "Alberto_Fujimori")  # 0.576, 0.560, 0.553 from the photo


def faces_of(deployment: Deployment, names: set[str]) -> set[int]:
    with deployment.sessions() as session:
        rows = session.execute(select(GalleryFace.id, GalleryImage.original_filename).join(GalleryImage)).all()
    return {face for face, name in rows if name in names}


def test_strangers_within_the_old_distance_are_neither_removed_nor_scrubbed(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    own = sorted((data_dir / "lfw" / PERSON).glob("*.jpg"))
    photo = own[4]
    strangers = [(name, sorted((data_dir / "lfw" / name).glob("*.jpg"))[:1]) for name in STRANGERS]
    manifest = copy_with_manifest([*strangers, *((PERSON, [image]) for image in own[:3])], tmp_path / "g")
    # every photo its own candidate: faces are counted; dlib, whose strangers below score this close
    deployment = make_deployment(search_rank_subjects=False, pipeline=Pipeline.DLIB)
    office = make_office(deployment)
    assert curation.governed_ingest(deployment, office.curator, manifest, SourceSpec("lfw", "test")).images_added == 6
    person_faces = faces_of(deployment, {image.name for image in own[:3]})
    stranger_faces = faces_of(deployment, {images[0].name for _, images in strangers})
    assert len(person_faces) == 3 and len(stranger_faces) == 3

    # A search before the opt-out leaves candidates of strangers as well as of the person.
    outcome = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, photo))
    found = {c["face_id"] for c in outcome.candidates}
    assert stranger_faces & found and person_faces <= found

    pending = optout.submit(deployment, office.curator, photo, contact="p@example.org")
    with deployment.sessions() as session:
        still = set(session.scalars(select(GalleryFace.id)))
        candidates = session.scalars(select(Candidate).where(Candidate.search_id == outcome.search_id)).all()
    assert stranger_faces <= still, "an opt-out removed strangers"
    assert person_faces <= still, "nothing is deleted before a curator confirms"
    assert all(c.face_id is not None and "removed" not in c.provenance for c in candidates)
    # The strict distance and what it means, from the calibration table.
    strict = optout.strict_distance(deployment)
    measured = deployment.calibration.false_match(strict)
    assert strict < 0.5 and measured.rate <= 1e-5 and measured.upper_95 < 1e-4

    assert pending.status == "pending"
    assert {m.face_id for m in pending.matches} == person_faces
    assert all(m.distance <= strict for m in pending.matches)

    with pytest.raises(InvalidInput, match="not among"):  # a stranger's face cannot be confirmed
        optout.confirm(deployment, office.curator, pending.request_id, [min(stranger_faces)])
    assert optout.status(deployment, office.curator, pending.request_id).status == "pending"

    # The curator confirms two of the three; the third, and every stranger, keep face and provenance.
    declined = max(person_faces)
    app = create_app(deployment.settings, deployment.data_dir)
    headers = {"Authorization": f"Bearer {office.tokens['curator']}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        base = f"/api/v1/optouts/{pending.request_id}"
        listed = client.get(base, headers=headers).json()
        assert {m["face_id"] for m in listed["matches"]} == person_faces
        assert client.get(f"{base}/faces/{declined}.jpg", headers=headers).status_code == 200
        assert client.get(f"{base}/faces/{min(stranger_faces)}.jpg", headers=headers).status_code == 404
        analyst = {"Authorization": f"Bearer {office.tokens['analyst']}"}
        assert client.post(f"{base}/confirm", headers=analyst, json={"face_ids": []}).status_code == 403
        done = client.post(f"{base}/confirm", headers=headers, json={"face_ids": sorted(person_faces - {declined})})
        assert done.status_code == 200, done.text
        assert done.json()["status"] == "completed" and done.json()["faces_removed"] == 2
        assert client.post(f"{base}/confirm", headers=headers, json={"face_ids": [declined]}).status_code == 409

    with deployment.sessions() as session:
        remaining = set(session.scalars(select(GalleryFace.id)))
        candidates = session.scalars(select(Candidate).where(Candidate.search_id == outcome.search_id)).all()
    assert remaining == stranger_faces | {declined}
    kept = [c for c in candidates if c.provenance != {"removed": "opt-out"}]
    assert {c.face_id for c in kept} == (stranger_faces & found) | {declined}
    assert all(c.provenance.get("original_filename") for c in kept)
    scrubbed = [c for c in candidates if c.provenance == {"removed": "opt-out"}]
    assert len(scrubbed) == 2 and all(c.face_id is None for c in scrubbed)
    confirm_entry = office.entries(action="optout_confirm")[-1].to_dict()["details"]
    assert confirm_entry == {"confirmed": sorted(person_faces - {declined}), "declined": [declined]}
