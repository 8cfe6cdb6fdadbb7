"""Opt-out: a person asks, with a photo, to be removed and kept out.

Two steps, because a wrong match deletes a stranger. `submit` finds the gallery faces within a strict
distance (one whose false-match rate, measured in the calibration table, is at most
`optout_max_false_match_rate`: 1 in 100,000 by default, 0.42 for dlib's model on LFW) and records them as a
pending request; a curator looks at them (thumbnails, distances) and `confirm`s the ones that are the
person. Only confirmed faces are deleted completely (rows, index entries, thumbnails, and the provenance
earlier results held of them); faces not confirmed, and their provenance, are left as they were. The
person's face goes on the blocklist at submission, so ingestion skips it and search never returns it.
The photo itself is not kept: only its hash and the embedding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.engine.calibration import CalibrationTable
from faceledger.engine.distance import euclidean
from faceledger.engine.image_input import file_sha256
from faceledger.engine.scales import first_model_scale
from faceledger.errors import Conflict, InvalidInput, NoFaceFound, NotFound
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.gallery._removal import remove_faces
from faceledger.services.governance.guard import append, governed, no_context
from faceledger.services.runtime.deployment import Deployment, refresh_index
from faceledger.store import events
from faceledger.store.db import transaction
from faceledger.store.governance_models import OptOutEmbedding, OptOutMatch, OptOutRequest
from faceledger.store.models import FaceEmbedding, GalleryFace
from faceledger.store.sealed import Role, optout_embedding_name
from faceledger.types import Pipeline

_SEARCH_DEPTH = 500  # index hits examined: far more faces than one person has in a gallery
PENDING, CONFIRMED, COMPLETED = "pending", "confirmed", "completed"


@dataclass(frozen=True)
class MatchedFace:
    face_id: int
    distance: float
    false_match_rate: float
    confirmed: bool
    in_gallery: bool  # False once deleted (confirmed) or removed otherwise

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "distance": round(self.distance, 4)}


@dataclass(frozen=True)
class OptOutStatus:
    request_id: int
    status: str
    contact: str
    submitted_at: datetime
    completed_at: datetime | None
    faces_removed: int
    images_removed: int
    matches: tuple[MatchedFace, ...] = ()
    strict_distance: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "submitted_at": self.submitted_at.isoformat(),
            "completed_at": self.completed_at.isoformat() if self.completed_at else None,
            "matches": [match.to_dict() for match in self.matches],
        }


def strict_distance(deployment: Deployment) -> float:
    """The largest distance whose measured false-match rate is within the configured target, on the scale of
    the embedding an opt-out is matched with (the first model's: fused matches SFace's, read with SFace's table)."""
    return first_model_table(deployment).distance_for_false_match_rate(deployment.settings.optout_max_false_match_rate)


def first_model_table(deployment: Deployment) -> CalibrationTable:
    """The table of the first model's own distances: the deployment's, but SFace's for the fused pipeline,
    whose table is of fused scores an opt-out (matched by one model) never has."""
    fused = deployment.settings.pipeline is Pipeline.FUSED
    return first_model_scale(Pipeline.FUSED).table if fused else deployment.calibration


def _status(session: Session, deployment: Deployment, row: OptOutRequest) -> OptOutStatus:
    matches = session.scalars(
        select(OptOutMatch).where(OptOutMatch.request_id == row.id).order_by(OptOutMatch.distance, OptOutMatch.face_id)
    ).all()
    present = set(session.scalars(select(GalleryFace.id).where(GalleryFace.id.in_([m.face_id for m in matches]))))
    shown = tuple(
        MatchedFace(m.face_id, m.distance, m.false_match_rate, m.confirmed, m.face_id in present) for m in matches
    )
    return OptOutStatus(
        row.id,
        row.status,
        row.contact,
        row.submitted_at,
        row.completed_at,
        row.faces_removed,
        row.images_removed,
        shown,
        strict_distance(deployment),
    )


def submit(deployment: Deployment, actor: ActorView, photo: Path, contact: str) -> OptOutStatus:
    """Record the request and the faces it matches within the strict distance; delete nothing yet."""
    if not contact.strip():
        raise InvalidInput("an opt-out needs a contact to tell the person it is done", field="contact")
    governed(deployment, actor, Action.OPT_OUT, no_context(deployment), lambda _s, _c: None)
    try:
        digest = file_sha256(photo)
    except OSError as exc:
        raise InvalidInput(f"{photo}: cannot be read ({exc.strerror or exc})") from exc
    found = deployment.analyser.probe_faces(deployment.settings, photo).faces
    faces = [face for face in found.faces if face.embedding is not None]
    if not faces:
        raise NoFaceFound(f"{photo.name}: no face found that can be matched; send a clearer photo")
    embedding = max(faces, key=lambda face: face.box.area).embedding
    if embedding is None:  # pragma: no cover - filtered above
        raise NoFaceFound(f"{photo.name}: no face found that can be matched")
    refresh_index(deployment)
    limit = strict_distance(deployment)
    matches = _matching_faces(deployment, embedding.vector, embedding.model.key, limit)
    with transaction(deployment.sessions) as session:
        request = OptOutRequest(
            contact=contact.strip(),
            photo_sha256=digest,
            status=PENDING if matches else COMPLETED,
            submitted_by=actor.id,
        )
        if not matches:
            request.completed_at = deployment.clock.now()
        session.add(request)
        session.flush()
        key = embedding.model.key
        sealed = deployment.sealer.seal(
            Role.OPTOUT_EMBEDDING,
            optout_embedding_name(request.id, key),
            np.asarray(embedding.vector, dtype=np.float32).tobytes(),
        )
        session.add(OptOutEmbedding(request_id=request.id, model_key=key, embedding=sealed))
        table = first_model_table(deployment)
        session.add_all(
            OptOutMatch(
                request_id=request.id,
                face_id=face,
                distance=distance,
                false_match_rate=table.false_match(distance).rate,
            )
            for face, distance in matches
        )
        append(
            session,
            actor,
            events.OptoutSubmit(
                optout=request.id, photo_sha256=digest, matched_faces=tuple(sorted(face for face, _ in matches))
            ),
        )
        session.flush()
        return _status(session, deployment, request)


def confirm(deployment: Deployment, actor: ActorView, request_id: int, face_ids: list[int]) -> OptOutStatus:
    """Delete the matched faces a curator confirmed are the person; the others stay, untouched."""
    chosen = sorted(set(face_ids))

    def work(session: Session, _: Context) -> list[int]:
        row = session.get(OptOutRequest, request_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no opt-out request {request_id}")
        listed = {m.face_id: m for m in session.scalars(select(OptOutMatch).where(OptOutMatch.request_id == row.id))}
        if row.status == CONFIRMED:  # a confirmation a kill interrupted: finish what was confirmed then
            return sorted(face for face, match in listed.items() if match.confirmed)
        if row.status != PENDING:
            raise Conflict(f"opt-out request {request_id} is {row.status}; only a pending request can be confirmed")
        unknown = [face for face in chosen if face not in listed]
        if unknown:
            raise InvalidInput(f"faces {unknown} are not among opt-out request {request_id}'s matches {sorted(listed)}")
        for face in chosen:
            listed[face].confirmed = True
        row.status = CONFIRMED
        append(
            session,
            actor,
            events.OptoutConfirm(
                optout=request_id, confirmed=tuple(chosen), declined=tuple(sorted(set(listed) - set(chosen)))
            ),
        )
        return chosen

    confirmed = governed(
        deployment, actor, Action.OPT_OUT, no_context(deployment), work, subjects={"optout": request_id}
    )
    removal = remove_faces(deployment, confirmed, scrub_candidates=True)  # only these lose their provenance
    with transaction(deployment.sessions) as session:
        row = session.get(OptOutRequest, request_id)
        if row is None:  # pragma: no cover - locked above
            raise NotFound(f"opt-out request {request_id} disappeared")
        row.status, row.completed_at = COMPLETED, deployment.clock.now()
        row.faces_removed, row.images_removed = removal.faces, removal.images
        append(
            session,
            actor,
            events.OptoutComplete(
                optout=request_id, faces_removed=removal.faces, images_removed=removal.images, face_ids=tuple(confirmed)
            ),
        )
        session.flush()
        return _status(session, deployment, row)


def _matching_faces(
    deployment: Deployment, vector: np.ndarray, model_key: str, limit: float
) -> list[tuple[int, float]]:
    """Gallery faces within `limit`, checked exactly against the stored embeddings, nearest first."""
    if model_key not in deployment.index.model_keys():
        return []  # the gallery holds no embedding by this model: nothing it could match
    index = deployment.model_index(model_key)  # the opt-out photo's model's own index: never across models
    hits = index.search(np.asarray(vector, dtype=np.float32)[None, :], _SEARCH_DEPTH)
    ids = [int(i) for i in hits.ids[0] if i >= 0]
    if not ids:
        return []
    with deployment.sessions() as session:
        rows = session.execute(
            select(GalleryFace.id, FaceEmbedding.embedding, GalleryFace.thumbnail)
            .join(FaceEmbedding)
            .where(GalleryFace.id.in_(ids), FaceEmbedding.model_key == model_key)
        ).all()
    scored = [(int(row[0]), euclidean(vector, deployment.embedding_vector(row[2], row[1]))) for row in rows]
    return sorted(((face, distance) for face, distance in scored if distance <= limit), key=lambda p: (p[1], p[0]))


def status(deployment: Deployment, actor: ActorView, request_id: int) -> OptOutStatus:
    def work(session: Session, _: Context) -> OptOutStatus:
        row = session.get(OptOutRequest, request_id)
        if row is None:
            raise NotFound(f"no opt-out request {request_id}")
        return _status(session, deployment, row)

    return governed(deployment, actor, Action.OPT_OUT, no_context(deployment), work)


def match_image(deployment: Deployment, actor: ActorView, request_id: int, face_id: int) -> bytes:
    """The thumbnail JPEG (decrypted) of a face a request matched, for the curator who confirms; no other
    face's."""

    def work(session: Session, _: Context) -> str | None:
        listed = session.scalars(
            select(OptOutMatch.id).where(OptOutMatch.request_id == request_id, OptOutMatch.face_id == face_id)
        ).first()
        if listed is None:
            raise NotFound(f"face {face_id} is not among opt-out request {request_id}'s matches")
        return session.scalars(select(GalleryFace.thumbnail).where(GalleryFace.id == face_id)).first()

    relative = governed(deployment, actor, Action.OPT_OUT, no_context(deployment), work)
    path = deployment.data_dir / (relative or "-")
    if not relative or not path.is_file():
        raise NotFound(f"face {face_id} is no longer in the gallery")
    try:
        return deployment.sealer.read_file(path, Role.THUMBNAIL, relative)
    except FileNotFoundError as exc:  # removed between the check and the read
        raise NotFound(f"face {face_id} is no longer in the gallery") from exc
