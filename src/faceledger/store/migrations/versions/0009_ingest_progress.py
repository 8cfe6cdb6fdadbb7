"""ingest progress in the database, so that every server process can show a running job's progress

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("images_done", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("images_total", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_column("images_total")
        batch_op.drop_column("images_done")
