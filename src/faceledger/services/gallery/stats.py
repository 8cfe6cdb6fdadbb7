"""What the gallery holds, in counts: images, faces, subjects, sources and the index beside them. No image,
face or name leaves here, so reports may show it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from faceledger.services.runtime.deployment import Deployment, index_drift
from faceledger.store.models import GalleryFace, GalleryImage, IngestFailure, Source, Subject


def gallery_stats(deployment: Deployment) -> dict[str, Any]:
    with deployment.sessions() as session:

        def count(model: type[Any]) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        sources = session.execute(
            select(Source.name, Source.legal_basis, func.count(GalleryImage.id))
            .outerjoin(GalleryImage, GalleryImage.source_id == Source.id)
            .group_by(Source.id)
            .order_by(Source.name)
        ).all()
        stats: dict[str, Any] = {
            "images": count(GalleryImage),
            "faces": count(GalleryFace),
            "subjects": count(Subject),
            "ingest_failures": count(IngestFailure),
            "gallery_version": deployment.gallery_version(session),
            "sources": [{"name": n, "legal_basis": b, "images": c} for n, b, c in sources],
        }
    drift, _, _ = index_drift(deployment)
    stats["index"] = {"backend": deployment.index.backend.value, "faces": deployment.index.count(), **drift.to_dict()}
    stats["index"]["models"] = {key: deployment.model_index(key).count() for key in deployment.index.model_keys()}
    return stats
