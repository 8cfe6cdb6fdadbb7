"""Opt-out: a person asks, with a photo, to be removed and kept out.

Their faces are found in the gallery and deleted completely (rows, index entries, thumbnails, and the
provenance that earlier results held of them); their face goes on the blocklist so that ingestion
skips it and search never returns it. The photo itself is not kept: only its hash and the embedding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.engine.distance import euclidean
from faceledger.engine.image_input import file_sha256
from faceledger.errors import InvalidInput, NoFaceFound, NotFound
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services import bounded_work
from faceledger.services.deployment import Deployment, refresh_index
from faceledger.services.gallery_admin import remove_faces
from faceledger.services.guard import append, governed, no_context
from faceledger.store.db import transaction
from faceledger.store.governance_models import OptOutEmbedding, OptOutRequest
from faceledger.store.models import Face

_SEARCH_DEPTH = 500  # index hits examined: far more faces than one person has in a gallery


@dataclass(frozen=True)
class OptOutStatus:
    request_id: int
    status: str
    contact: str
    submitted_at: datetime
    completed_at: datetime | None
    faces_removed: int
    images_removed: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "submitted_at": self.submitted_at.isoformat(),
                "completed_at": self.completed_at.isoformat() if self.completed_at else None}  # fmt: skip


def _status(row: OptOutRequest) -> OptOutStatus:
    return OptOutStatus(row.id, row.status, row.contact, row.submitted_at, row.completed_at, row.faces_removed,
                        row.images_removed)  # fmt: skip


def submit(deployment: Deployment, actor: ActorView, photo: Path, contact: str) -> OptOutStatus:
    if not contact.strip():
        raise InvalidInput("an opt-out needs a contact (--contact) to tell the person it is done")
    governed(deployment, actor, Action.OPT_OUT, no_context, lambda _s, _c: None)
    try:
        digest = file_sha256(photo)
    except OSError as exc:
        raise InvalidInput(f"{photo}: cannot be read ({exc.strerror or exc})") from exc
    found = bounded_work.probe_faces(deployment.settings, photo).faces
    faces = [face for face in found.faces if face.embedding is not None]
    if not faces:
        raise NoFaceFound(f"{photo.name}: no face found that can be matched; send a clearer photo")
    person = max(faces, key=lambda face: face.box.area)
    assert person.embedding is not None
    vector = person.embedding.vector
    with transaction(deployment.sessions) as session:
        request = OptOutRequest(contact=contact.strip(), photo_sha256=digest, status="received", submitted_by=actor.id)
        session.add(request)
        session.flush()
        session.add(OptOutEmbedding(request_id=request.id, model_key=person.embedding.model.key,
                                    embedding=np.asarray(vector, dtype=np.float32).tobytes()))  # fmt: skip
        append(session, actor, "optout_submit", subjects={"optout": request.id}, details={"photo_sha256": digest})
        request_id = request.id
    refresh_index(deployment)
    matches = _matching_faces(deployment, vector, person.embedding.model.key)
    removal = remove_faces(deployment, matches, scrub_candidates=True)
    with transaction(deployment.sessions) as session:
        row = session.get(OptOutRequest, request_id)
        if row is None:  # pragma: no cover - just created
            raise NotFound(f"opt-out request {request_id} disappeared")
        row.status, row.completed_at = "completed", datetime.now(UTC)
        row.faces_removed, row.images_removed = removal.faces, removal.images
        append(session, actor, "optout_complete", subjects={"optout": request_id},
               details={"faces_removed": removal.faces, "images_removed": removal.images,
                        "face_ids": matches})  # fmt: skip
        return _status(row)


def _matching_faces(deployment: Deployment, vector: np.ndarray, model_key: str) -> list[int]:
    """Gallery faces within the opt-out distance, checked exactly against the stored embeddings."""
    hits = deployment.index.search(np.asarray(vector, dtype=np.float32)[None, :], _SEARCH_DEPTH)
    ids = [int(i) for i in hits.ids[0] if i >= 0]
    if not ids:
        return []
    with deployment.sessions() as session:
        rows = session.execute(select(Face.id, Face.embedding).where(Face.id.in_(ids),
                                                                      Face.model_key == model_key)).all()  # fmt: skip
    limit = deployment.settings.optout_threshold
    return sorted(row[0] for row in rows if euclidean(vector, np.frombuffer(row[1], dtype=np.float32)) <= limit)


def status(deployment: Deployment, actor: ActorView, request_id: int) -> OptOutStatus:
    def work(session: Session, _: Context) -> OptOutStatus:
        row = session.get(OptOutRequest, request_id)
        if row is None:
            raise NotFound(f"no opt-out request {request_id}")
        return _status(row)

    return governed(deployment, actor, Action.OPT_OUT, no_context, work)
