"""Tables. Provenance first: every face belongs to an image, every image to a source with a legal basis."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from faceledger.types import IngestJobStatus

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Times stored in UTC and read back aware: SQLite keeps no offset and would hand back naive times."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012 - SQLAlchemy reads it


class Source(Base):
    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    legal_basis: Mapped[str] = mapped_column(Text)
    collection_method: Mapped[str] = mapped_column(Text, default="")
    contact: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Subject(Base):
    """A known-person record (e.g. a roster entry), linked to gallery images by an external id."""

    __tablename__ = "subjects"
    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IngestJob(Base):
    __tablename__ = "ingest_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    input_path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default=IngestJobStatus.RUNNING.value)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    files_seen: Mapped[int] = mapped_column(Integer, default=0)
    images_added: Mapped[int] = mapped_column(Integer, default=0)
    images_known: Mapped[int] = mapped_column(Integer, default=0)
    faces_added: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # progress of a running job, updated with each committed batch, readable from any process
    images_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    images_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class IngestFailure(Base):
    __tablename__ = "ingest_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class GalleryImage(Base):
    __tablename__ = "gallery_images"
    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="RESTRICT"), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="SET NULL"), index=True)
    ingest_job_id: Mapped[int | None] = mapped_column(ForeignKey("ingest_jobs.id", ondelete="SET NULL"))
    source_url: Mapped[str] = mapped_column(Text, default="")
    page_url: Mapped[str] = mapped_column(Text, default="")
    collected_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    original_filename: Mapped[str] = mapped_column(Text, default="")
    image_format: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    ingested_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    source: Mapped[Source] = relationship(lazy="joined")
    subject: Mapped[Subject | None] = relationship(lazy="joined")
    faces: Mapped[list[GalleryFace]] = relationship(
        back_populates="image", cascade="all, delete-orphan", passive_deletes=True
    )


class GalleryFace(Base):
    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("image_id", "face_index"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("gallery_images.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="SET NULL"), index=True)
    face_index: Mapped[int] = mapped_column(Integer)
    box_left: Mapped[int] = mapped_column(Integer)
    box_top: Mapped[int] = mapped_column(Integer)
    box_right: Mapped[int] = mapped_column(Integer)
    box_bottom: Mapped[int] = mapped_column(Integer)
    landmarks: Mapped[list[Any]] = mapped_column(JSON)
    detector: Mapped[str] = mapped_column(String(20))
    detector_score: Mapped[float]
    quality_score: Mapped[float]
    quality: Mapped[dict[str, Any]] = mapped_column(JSON)
    thumbnail: Mapped[str] = mapped_column(Text)

    image: Mapped[GalleryImage] = relationship(back_populates="faces")
    subject: Mapped[Subject | None] = relationship()
    # one per model (migration 0013 moved the single embedding/model_key columns here)
    embeddings: Mapped[list[FaceEmbedding]] = relationship(
        back_populates="face", cascade="all, delete-orphan", passive_deletes=True
    )


class GalleryState(Base):
    """One row: the gallery version, bumped by every add and every delete; the index records the version
    it reflects, so a lagging index is noticed."""

    __tablename__ = "gallery_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class FaceEmbedding(Base):
    """One model's embedding of one gallery face, sealed as GalleryFace.embedding was (bound to the face's
    thumbnail path). Embeddings are only compared within one model_key."""

    __tablename__ = "face_embeddings"
    __table_args__ = (UniqueConstraint("face_id", "model_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    model_key: Mapped[str] = mapped_column(String(120), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    face: Mapped[GalleryFace] = relationship(back_populates="embeddings")


class GalleryModel(Base):
    """A recognition model the gallery holds embeddings of; only enabled models are searched."""

    __tablename__ = "gallery_models"
    id: Mapped[int] = mapped_column(primary_key=True)
    model_key: Mapped[str] = mapped_column(String(120), unique=True)  # ModelIdentity.key
    name: Mapped[str] = mapped_column(String(120))  # ModelIdentity.name, what `models enable NAME` takes
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    enabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class OperatorModel(Base):
    """A recognizer an operator added (faceledger models add): its licence, its file, its evaluation."""

    __tablename__ = "operator_models"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    model_key: Mapped[str] = mapped_column(String(120))  # ModelIdentity.key: name@operator#sha12
    licence: Mapped[str] = mapped_column(Text)
    commercial_use: Mapped[bool] = mapped_column(Boolean)
    input_colour: Mapped[str] = mapped_column(String(10))  # types.ColourOrder
    pixel_scale: Mapped[str] = mapped_column(String(20))  # types.PixelScale
    embedding_dim: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    added_by: Mapped[str] = mapped_column(String(120))
    added_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    # the stored LFW evaluation: for which file (sha256), when, its summary, the View 1 table beside the file
    evaluated_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    evaluated_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    eval_summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    calibration_file: Mapped[str | None] = mapped_column(String(200), nullable=True)
