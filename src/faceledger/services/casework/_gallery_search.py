"""1:N search of a probe image against the gallery (engine level; governed search wraps it later).

Index hits are checked against the database before anything is returned, so a face deleted or opted
out never appears even if the index lags, and distances are recomputed from the stored embedding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from faceledger.engine.calibration import FalseMatchEstimate
from faceledger.engine.scales import scale_for_table
from faceledger.errors import NoFaceFound
from faceledger.policy.comparison import LEAD_DISCLAIMER, assess_distance
from faceledger.services.casework._model_search import scored_faces
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.models import GalleryFace, GalleryImage
from faceledger.types import DetectedFace, Detector, ImageInfo, Likelihood


@dataclass(frozen=True)
class RankedCandidate:
    rank: int
    face_id: int
    distance: float
    likelihood: Likelihood
    false_match: FalseMatchEstimate
    thumbnail: Path
    image_sha256: str
    source: str
    legal_basis: str
    source_url: str
    page_url: str
    collected_at: datetime | None
    original_filename: str
    subject_external_id: str | None
    subject_name: str | None
    thumbnail_ref: str = ""  # relative to the data directory: what leaves the server, never an absolute path
    # Each model's own distance (by ModelIdentity.key); `distance` is the pipeline's (fused) one.
    model_scores: dict[str, float] = field(default_factory=dict)
    # Ranked by subject: how many more of the subject's photos scored near, behind the one shown.
    subject_other_photos: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "face_id": self.face_id,
            "distance": round(self.distance, 4),
            "likelihood": self.likelihood.value,
            "false_match": self.false_match.to_dict(),
            "thumbnail": self.thumbnail_ref,
            "image_sha256": self.image_sha256,
            "provenance": {
                "source": self.source,
                "legal_basis": self.legal_basis,
                "source_url": self.source_url,
                "page_url": self.page_url,
                "original_filename": self.original_filename,
                "collected_at": self.collected_at.isoformat() if self.collected_at else None,
            },
            "subject": {
                "external_id": self.subject_external_id,
                "name": self.subject_name,
                "matched_photo": {
                    "face_id": self.face_id,
                    "image_sha256": self.image_sha256,
                    "original_filename": self.original_filename,
                },
                "other_photos_near": self.subject_other_photos,
            }
            if self.subject_external_id
            else None,
            "model_scores": {key: round(value, 4) for key, value in self.model_scores.items()},
        }


@dataclass(frozen=True)
class ProbeResult:
    face: DetectedFace
    candidates: tuple[RankedCandidate, ...]


@dataclass(frozen=True)
class GallerySearch:
    probe: ImageInfo
    results: tuple[ProbeResult, ...]
    gallery_faces: int
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": {"name": self.probe.name, "sha256": self.probe.sha256},
            "gallery_faces": self.gallery_faces,
            "threshold": self.threshold,
            "note": "Candidates are investigative leads, never identifications. " + LEAD_DISCLAIMER,
            "faces": [
                {
                    "face": r.face.index,
                    "box": r.face.box.to_dict(),
                    "quality": r.face.quality.to_dict(),
                    "candidates": [
                        {**c.to_dict(), "strangers": c.false_match.gallery_dict(self.gallery_faces)}
                        for c in r.candidates
                    ],
                }
                for r in self.results
            ],
        }


def search_gallery(
    deployment: Deployment, probe: Path, *, top_k: int | None = None, detector: Detector | None = None
) -> GallerySearch:
    faces = deployment.analyser.probe_faces(deployment.settings, probe, detector=detector).faces
    embedded = [face for face in faces.faces if face.embedding is not None]
    if not embedded:
        raise NoFaceFound(f"{faces.image.name}: no face found that can be searched")
    k = top_k or deployment.settings.search_top_k
    operating = current_threshold(deployment)
    results = tuple(
        ProbeResult(face, rank_candidates(deployment, face, k, threshold=operating.threshold)) for face in embedded
    )
    return GallerySearch(faces.image, results, operating.gallery_faces, operating.threshold)


def rank_candidates(
    deployment: Deployment,
    probe: DetectedFace,
    k: int,
    *,
    exclude: Callable[[np.ndarray], bool] | None = None,
    threshold: float | None = None,
    exclude_model_key: str | None = None,
) -> tuple[RankedCandidate, ...]:
    """The k gallery faces (or, linked to subjects, the k subjects by their best face) nearest the probe,
    nearest first, scored by every model of the pipeline and combined by its rule (services/casework/_model_search.py).
    `exclude` drops faces by their embedding of `exclude_model_key` (the opt-out blocklist's model;
    default the deployment's `model_key`)."""
    if probe.embedding is None:
        return ()
    scored = scored_faces(deployment, probe, k, exclude=exclude, exclude_model_key=exclude_model_key)
    if not scored:
        return ()
    with deployment.sessions() as session:
        rows = {
            row.id: row
            for row in session.scalars(
                select(GalleryFace)
                .where(GalleryFace.id.in_([s.face_id for s in scored]))
                .options(joinedload(GalleryFace.image).joinedload(GalleryImage.source), joinedload(GalleryFace.subject))
            )
            .unique()
            .all()
        }
    settings, table = deployment.settings, deployment.calibration
    threshold = current_threshold(deployment).threshold if threshold is None else threshold  # the operating one
    kept = [s for s in scored if s.face_id in rows]  # deleted since it was scored: never shown
    margin = scale_for_table(table).margin(settings.inconclusive_margin, settings.match_threshold)  # a dlib band
    return tuple(
        RankedCandidate(
            rank=rank,
            face_id=row.id,
            distance=hit.distance,
            likelihood=assess_distance(hit.distance, threshold, margin),
            false_match=table.false_match(hit.distance),
            thumbnail=deployment.data_dir / row.thumbnail,
            image_sha256=row.image.sha256,
            source=row.image.source.name,
            legal_basis=row.image.source.legal_basis,
            source_url=row.image.source_url,
            page_url=row.image.page_url,
            collected_at=row.image.collected_at,
            original_filename=row.image.original_filename,
            subject_external_id=row.subject.external_id if row.subject else None,
            subject_name=row.subject.display_name if row.subject else None,
            thumbnail_ref=row.thumbnail,
            model_scores=dict(hit.model_scores),
            subject_other_photos=hit.other_photos,
        )
        for rank, (hit, row) in enumerate(((hit, rows[hit.face_id]) for hit in kept), start=1)
    )
