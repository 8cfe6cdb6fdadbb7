"""Removing from the gallery completely: rows, index entries, thumbnails. Ungoverned: callers go through
curation.governed_remove or the opt-out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from faceledger.errors import InvalidInput, NotFound
from faceledger.services.runtime.deployment import Deployment, index_lock
from faceledger.store.db import checkpoint, transaction
from faceledger.store.governance_models import Candidate
from faceledger.store.models import GalleryFace, GalleryImage, IngestFailure, IngestJob, Source, Subject


@dataclass(frozen=True)
class Removal:
    what: str
    images: int
    faces: int
    thumbnails: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def remove_from_gallery(
    deployment: Deployment,
    *,
    image_id: int | None = None,
    sha256: str | None = None,
    source: str | None = None,
    subject: str | None = None,
) -> Removal:
    """Delete images (and their faces) by image, content hash, source or subject, completely: database
    rows first (one transaction), then index entries, thumbnails, and the SQLite write-ahead log."""
    given = (("image", image_id), ("sha256", sha256), ("source", source), ("subject", subject))
    chosen = [(name, value) for name, value in given if value is not None]
    if len(chosen) != 1:
        raise InvalidInput("name exactly one of: an image id, a sha256, a source or a subject")
    kind, value = chosen[0]
    # Under the index lock, the delete and then the index removal: no other process writes an index row
    # for these faces in between (index/vector_file.py), so none is left behind.
    with index_lock(deployment.data_dir, exclusive=True):
        with transaction(deployment.sessions) as session:
            images = _images_query(kind, value)
            image_ids = list(session.scalars(images.with_only_columns(GalleryImage.id)))
            if not image_ids and kind in ("image", "sha256"):
                raise NotFound(f"no gallery image with {kind} {value}")
            faces = session.execute(
                select(GalleryFace.id, GalleryFace.thumbnail).where(GalleryFace.image_id.in_(image_ids))
            ).all()
            session.execute(delete(GalleryFace).where(GalleryFace.image_id.in_(image_ids)))
            session.execute(delete(GalleryImage).where(GalleryImage.id.in_(image_ids)))
            _delete_owner(session, kind, value)
            deployment.bump_version(session)
        deployment.index.remove(np.array([row[0] for row in faces], dtype=np.int64))
    deployment.save_index()
    removed_thumbnails = _unlink_thumbnails(deployment, [row[1] for row in faces])
    checkpoint(deployment.engine)
    return Removal(f"{kind} {value}", len(image_ids), len(faces), removed_thumbnails)


def remove_faces(deployment: Deployment, face_ids: list[int], *, scrub_candidates: bool) -> Removal:
    """Delete single faces completely (an opt-out); an image left with no face goes too. With
    `scrub_candidates`, earlier search results keep their scores but lose the face's provenance."""
    if not face_ids:
        return Removal("faces", 0, 0, 0)
    # as in remove_from_gallery: the delete, then the index removal, under the index lock
    with index_lock(deployment.data_dir, exclusive=True):
        with transaction(deployment.sessions) as session:
            faces = session.execute(
                select(GalleryFace.id, GalleryFace.thumbnail, GalleryFace.image_id).where(GalleryFace.id.in_(face_ids))
            ).all()
            image_ids = {row[2] for row in faces}
            if scrub_candidates:
                session.execute(
                    update(Candidate)
                    .where(Candidate.face_id.in_(face_ids))
                    .values(face_id=None, provenance={"removed": "opt-out"})
                )
            session.execute(delete(GalleryFace).where(GalleryFace.id.in_(face_ids)))
            emptied = [
                image_id
                for image_id in image_ids
                if session.scalar(select(func.count()).where(GalleryFace.image_id == image_id)) == 0
            ]
            session.execute(delete(GalleryImage).where(GalleryImage.id.in_(emptied)))
            deployment.bump_version(session)
        deployment.index.remove(np.array([row[0] for row in faces], dtype=np.int64))
    deployment.save_index()
    removed = _unlink_thumbnails(deployment, [row[1] for row in faces])
    checkpoint(deployment.engine)
    return Removal("faces", len(emptied), len(faces), removed)


def _unlink_thumbnails(deployment: Deployment, relatives: list[str]) -> int:
    removed = 0
    for relative in relatives:
        path = deployment.data_dir / relative
        if path.is_file():
            path.unlink()
            removed += 1
    return removed


def _images_query(kind: str, value: object) -> Select[GalleryImage]:
    query = select(GalleryImage)
    if kind == "image":
        return query.where(GalleryImage.id == value)
    if kind == "sha256":
        return query.where(GalleryImage.sha256 == str(value).lower())
    if kind == "source":
        return query.join(Source).where(Source.name == value)
    return query.join(Subject, GalleryImage.subject_id == Subject.id).where(Subject.external_id == value)


def _delete_owner(session: Session, kind: str, value: object) -> None:
    """Removing a source or subject removes its record too (and a source's ingest history)."""
    if kind == "source":
        source_id = session.scalars(select(Source.id).where(Source.name == value)).one_or_none()
        if source_id is None:
            raise NotFound(f"no source named {value!r}")
        job_ids = select(IngestJob.id).where(IngestJob.source_id == source_id)
        session.execute(delete(IngestFailure).where(IngestFailure.job_id.in_(job_ids)))
        session.execute(delete(IngestJob).where(IngestJob.source_id == source_id))
        session.execute(delete(Source).where(Source.id == source_id))
    elif kind == "subject":
        subject_id = session.scalars(select(Subject.id).where(Subject.external_id == value)).one_or_none()
        if subject_id is None:
            raise NotFound(f"no subject with external id {value!r}")
        session.execute(delete(Subject).where(Subject.id == subject_id))
