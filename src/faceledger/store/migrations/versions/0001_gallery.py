"""gallery: sources, subjects, images, faces, ingest jobs

Revision ID: 0001
Revises:
Create Date: 2026-11-24 10:12:42.273257
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    state = op.create_table(
        "gallery_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gallery_state")),
    )
    op.bulk_insert(state, [{"id": 1, "version": 0}])
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("collection_method", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_sources_name")),
    )
    op.create_table(
        "subjects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subjects")),
        sa.UniqueConstraint("external_id", name=op.f("uq_subjects_external_id")),
    )
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("input_path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("files_seen", sa.Integer(), nullable=False),
        sa.Column("images_added", sa.Integer(), nullable=False),
        sa.Column("images_known", sa.Integer(), nullable=False),
        sa.Column("faces_added", sa.Integer(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_ingest_jobs_source_id_sources"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_jobs")),
    )
    op.create_table(
        "gallery_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("ingest_job_id", sa.Integer(), nullable=True),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("original_filename", sa.Text(), nullable=False),
        sa.Column("image_format", sa.String(length=10), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ingest_job_id"],
            ["ingest_jobs.id"],
            name=op.f("fk_gallery_images_ingest_job_id_ingest_jobs"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_id"], ["sources.id"], name=op.f("fk_gallery_images_source_id_sources"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_gallery_images_subject_id_subjects"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gallery_images")),
        sa.UniqueConstraint("sha256", name=op.f("uq_gallery_images_sha256")),
    )
    with op.batch_alter_table("gallery_images", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gallery_images_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_gallery_images_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "ingest_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["ingest_jobs.id"], name=op.f("fk_ingest_failures_job_id_ingest_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_failures")),
    )
    with op.batch_alter_table("ingest_failures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_failures_job_id"), ["job_id"], unique=False)

    op.create_table(
        "faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("face_index", sa.Integer(), nullable=False),
        sa.Column("box_left", sa.Integer(), nullable=False),
        sa.Column("box_top", sa.Integer(), nullable=False),
        sa.Column("box_right", sa.Integer(), nullable=False),
        sa.Column("box_bottom", sa.Integer(), nullable=False),
        sa.Column("landmarks", sa.JSON(), nullable=False),
        sa.Column("detector", sa.String(length=20), nullable=False),
        sa.Column("detector_score", sa.Double(), nullable=False),
        sa.Column("quality_score", sa.Double(), nullable=False),
        sa.Column("quality", sa.JSON(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("model_key", sa.String(length=120), nullable=False),
        sa.Column("thumbnail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["gallery_images.id"], name=op.f("fk_faces_image_id_gallery_images"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_faces_subject_id_subjects"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_faces")),
        sa.UniqueConstraint("image_id", "face_index", name=op.f("uq_faces_image_id")),
    )
    with op.batch_alter_table("faces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_faces_image_id"), ["image_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_faces_model_key"), ["model_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_faces_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("faces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_faces_subject_id"))
        batch_op.drop_index(batch_op.f("ix_faces_model_key"))
        batch_op.drop_index(batch_op.f("ix_faces_image_id"))

    op.drop_table("faces")
    with op.batch_alter_table("ingest_failures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_failures_job_id"))

    op.drop_table("ingest_failures")
    with op.batch_alter_table("gallery_images", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gallery_images_subject_id"))
        batch_op.drop_index(batch_op.f("ix_gallery_images_source_id"))

    op.drop_table("gallery_images")
    op.drop_table("ingest_jobs")
    op.drop_table("subjects")
    op.drop_table("sources")
    op.drop_table("gallery_state")
