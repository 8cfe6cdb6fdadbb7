"""Opt-out on real faces: a person's faces leave the gallery completely and stay out of it."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from faceledger.errors import InvalidInput, NoFaceFound, PolicyDenied
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery import curation, optout
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.runtime.deployment import Deployment, index_drift
from faceledger.store.governance_models import Candidate, OptOutEmbedding, OptOutRequest
from faceledger.store.models import FaceEmbedding, GalleryFace, GalleryImage
from tests.lfwdata import copy_with_manifest, people_with_several
from tests.office import ATTESTATION, Office, make_office
from tests.security.sealed_scan import opened_index_bytes

pytestmark = pytest.mark.needs_data
SPEC = SourceSpec("lfw", "test basis")
# Five single-face images, all within 0.43 of each other and at least 0.79 from the other gallery people;
# the fifth is within 0.37 of the first three (inside the strict opt-out distance, 0.42).
PERSON = "Ai_Sugiyama"


def utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def search(deployment: Deployment, office: Office, probe: Path) -> list[dict[str, object]]:
    outcome = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, probe))
    return list(outcome.candidates)


def from_person(candidate: dict[str, object], names: set[str], digests: set[str]) -> bool:
    provenance = candidate["provenance"]
    assert isinstance(provenance, dict)
    return provenance.get("original_filename") in names or provenance.get("image_sha256") in digests


def test_opt_out_removes_a_person_completely_and_keeps_them_out(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    images = sorted((data_dir / "lfw" / PERSON).glob("*.jpg"))
    assert len(images) >= 5
    in_gallery, probe, opt_out_photo = images[:3], images[3], images[4]
    others = [(name, paths) for name, paths in people_with_several(data_dir, 5) if name != PERSON][:4]
    manifest = copy_with_manifest([*others, *((PERSON, [image]) for image in in_gallery)], tmp_path / "gallery")
    names = {image.name for image in in_gallery}
    digests = {sha256(image) for image in in_gallery}

    deployment = make_deployment()
    office = make_office(deployment)
    report = curation.governed_ingest(deployment, office.curator, manifest, SPEC)
    assert report.images_added == 7 and report.faces_skipped_optout == 0
    faces_before = deployment.index.count()
    with deployment.sessions() as session:
        person_face_ids = set(
            session.scalars(select(GalleryFace.id).join(GalleryImage).where(GalleryImage.sha256.in_(digests)))
        )
        stored = select(FaceEmbedding.embedding)
        kept_bytes = session.scalars(stored.where(FaceEmbedding.face_id.not_in(person_face_ids))).first()
        removed_bytes = list(session.scalars(stored.where(FaceEmbedding.face_id.in_(person_face_ids))))  # sealed
        removed_plain = [
            deployment.embedding_vector(f.thumbnail, e.embedding).tobytes()
            for f in session.scalars(select(GalleryFace).where(GalleryFace.id.in_(person_face_ids)))
            for e in f.embeddings
        ]
        thumbnail_bytes = [
            (deployment.data_dir / t).read_bytes()
            for t in session.scalars(select(GalleryFace.thumbnail).where(GalleryFace.id.in_(person_face_ids)))
        ]
    assert len(person_face_ids) == len(removed_bytes) == len(thumbnail_bytes) == 3

    before = search(deployment, office, probe)
    found = [c for c in before if from_person(c, names, digests)]
    assert found, f"the probe should find {PERSON} before the opt-out: {before}"
    assert {c["face_id"] for c in found} <= person_face_ids
    found_ids = [c["candidate_id"] for c in found]

    pending = optout.submit(deployment, office.curator, opt_out_photo, contact="p@example.org")
    assert pending.status == "pending" and pending.faces_removed == 0  # nothing deleted before a curator confirms
    assert {m.face_id for m in pending.matches} == person_face_ids
    done = optout.confirm(deployment, office.curator, pending.request_id, [m.face_id for m in pending.matches])
    assert done.status == "completed" and done.completed_at is not None
    assert (done.faces_removed, done.images_removed) == (3, 3)
    assert done.contact == "p@example.org"
    shown = optout.status(deployment, office.curator, done.request_id)
    # SQLite hands DateTime(timezone=True) back naive (UTC); compare the instants, not the tzinfo
    assert replace(shown, submitted_at=done.submitted_at, completed_at=done.completed_at) == done
    assert utc(shown.submitted_at) == utc(done.submitted_at) and utc(shown.completed_at) == utc(done.completed_at)

    after = search(deployment, office, probe)
    assert not [c for c in after if from_person(c, names, digests)]
    assert not {c["face_id"] for c in after} & person_face_ids
    assert deployment.index.count() == faces_before - 3
    assert not set(deployment.index.ids().tolist()) & person_face_ids
    assert index_drift(deployment)[0].clean
    thumbnails = [path.name for path in (deployment.data_dir / "thumbnails").rglob("*") if path.is_file()]
    assert thumbnails, "the other people's thumbnails stay"
    assert not [name for name in thumbnails if any(digest in name for digest in digests)]
    with deployment.sessions() as session:
        assert session.scalar(select(func.count()).where(GalleryImage.sha256.in_(digests))) == 0
        assert session.scalar(select(func.count()).where(GalleryFace.id.in_(person_face_ids))) == 0
        assert not [t for t in session.scalars(select(GalleryFace.thumbnail)) if any(d in t for d in digests)]
        scrubbed = session.scalars(select(Candidate).where(Candidate.id.in_(found_ids))).all()
        assert len(scrubbed) == len(found_ids)
        assert all(c.face_id is None and c.provenance == {"removed": "opt-out"} for c in scrubbed)
        request = session.get(OptOutRequest, done.request_id)
        assert request is not None and request.photo_sha256 == sha256(opt_out_photo)
        assert session.scalar(select(func.count()).select_from(OptOutEmbedding)) == 1

    again = tmp_path / "again"
    again.mkdir()
    for image in [*in_gallery, probe]:  # the probe was never ingested: a new photo of the same person
        shutil.copy(image, again / image.name)
    rerun = curation.governed_ingest(deployment, office.curator, again, SPEC)
    assert rerun.files_seen == 4
    assert rerun.images_added == 0 and rerun.faces_added == 0
    assert rerun.faces_skipped_optout >= 4
    assert len(rerun.failures) == 4 and all("opt-out" in reason for _, reason in rerun.failures)
    assert deployment.index.count() == faces_before - 3
    with deployment.sessions() as session:
        assert session.scalar(select(func.count()).where(GalleryImage.sha256.in_(digests | {sha256(probe)}))) == 0

    submitted = office.entries(action="optout_submit")
    completed = office.entries(action="optout_complete")
    assert len(submitted) == 1 and len(completed) == 1
    assert submitted[0].to_dict()["subjects"] == {"optout": done.request_id}
    assert submitted[0].to_dict()["details"] == {
        "photo_sha256": sha256(opt_out_photo),
        "matched_faces": sorted(person_face_ids),
    }
    details = completed[0].to_dict()["details"]
    assert details["faces_removed"] == 3 and details["images_removed"] == 3
    assert set(details["face_ids"]) == person_face_ids
    for entry in (*submitted, *completed):
        assert "embedding" not in entry.details and len(entry.details) < 400  # ids, hashes and counts only
        assert not [v for v in json.loads(entry.details).values() if isinstance(v, float)]
    ingests = office.entries(action="gallery_ingest")
    assert ingests[-1].to_dict()["details"]["faces_skipped_optout"] == rerun.faces_skipped_optout

    if deployment.engine.dialect.name == "sqlite":  # every byte lives in the data directory: scan it
        deployment.close()
        stored = b"".join(p.read_bytes() for p in sorted(deployment.data_dir.rglob("*")) if p.is_file())
        assert kept_bytes is not None and kept_bytes in stored, "the scan must find an embedding still stored"
        assert not [blob for blob in removed_bytes if blob in stored], "a removed embedding is still stored"
        assert not [blob for blob in thumbnail_bytes if blob in stored], "a removed thumbnail is still stored"
        opened = opened_index_bytes(deployment)  # the index files are sealed: look inside them too
        assert not [blob for blob in removed_plain if blob in opened], "a removed vector is still in the index"


def test_opt_out_refusals_and_bad_input(
    make_deployment: Callable[..., Deployment], data_dir: Path, tmp_path: Path
) -> None:
    deployment = make_deployment()
    office = make_office(deployment, case=False)
    photo = sorted((data_dir / "lfw" / PERSON).glob("*.jpg"))[0]

    with pytest.raises(PolicyDenied):
        optout.submit(deployment, office.analyst, photo, contact="p@example.org")
    refused = office.entries(action="opt_out", outcome="refused")
    assert len(refused) == 1 and refused[0].actor == "analyst"

    blank = tmp_path / "blank.jpg"
    Image.new("RGB", (250, 250), (128, 128, 128)).save(blank)
    with pytest.raises(NoFaceFound):
        optout.submit(deployment, office.curator, blank, contact="p@example.org")
    with pytest.raises(InvalidInput):
        optout.submit(deployment, office.curator, photo, contact="   ")
    with pytest.raises(InvalidInput):
        optout.submit(deployment, office.curator, tmp_path / "missing.jpg", contact="p@example.org")

    with deployment.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OptOutRequest)) == 0
        assert session.scalar(select(func.count()).select_from(OptOutEmbedding)) == 0
    assert not office.entries(action="optout_submit")
