"""The gallery's model registry: which recognition models it holds embeddings of, which are searched."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.store.models import GalleryModel, utcnow


def registered(session: Session) -> list[GalleryModel]:
    return list(session.scalars(select(GalleryModel).order_by(GalleryModel.id)))


def registered_keys(session: Session) -> list[str]:
    return list(session.scalars(select(GalleryModel.model_key).order_by(GalleryModel.id)))


def enabled_keys(session: Session) -> set[str]:
    return set(session.scalars(select(GalleryModel.model_key).where(GalleryModel.enabled)))


def register(session: Session, model_key: str, *, enabled: bool) -> tuple[GalleryModel, bool]:
    """The model's row, and whether it is new. An existing row's enabled flag is left as it is."""
    row = session.scalars(select(GalleryModel).where(GalleryModel.model_key == model_key)).one_or_none()
    if row is not None:
        return row, False
    row = GalleryModel(
        model_key=model_key, name=model_key.split("@", 1)[0], enabled=enabled, enabled_at=utcnow() if enabled else None
    )
    session.add(row)
    session.flush()
    return row, True
