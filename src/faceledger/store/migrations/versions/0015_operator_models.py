"""operator-added recognition models: licence, file hash, input spec, who added them, their evaluation

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "operator_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("model_key", sa.String(length=120), nullable=False),
        sa.Column("licence", sa.Text(), nullable=False),
        sa.Column("commercial_use", sa.Boolean(), nullable=False),
        sa.Column("input_colour", sa.String(length=10), nullable=False),
        sa.Column("pixel_scale", sa.String(length=20), nullable=False),
        sa.Column("embedding_dim", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(length=120), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evaluated_sha256", sa.String(length=64), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("eval_summary", sa.JSON(), nullable=True),
        sa.Column("calibration_file", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_models")),
        sa.UniqueConstraint("name", name=op.f("uq_operator_models_name")),
    )


def downgrade() -> None:
    op.drop_table("operator_models")
