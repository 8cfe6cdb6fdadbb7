"""searches record the operating point they used; candidates how many strangers would score as close

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-01 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("threshold_mode", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("target_fpir", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("promise_met", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("expected_false_candidates", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("operating_point", sa.JSON(), nullable=True))
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expected_strangers", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("strangers_text", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("candidates", schema=None) as batch_op:
        batch_op.drop_column("strangers_text")
        batch_op.drop_column("expected_strangers")
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.drop_column("operating_point")
        batch_op.drop_column("expected_false_candidates")
        batch_op.drop_column("promise_met")
        batch_op.drop_column("target_fpir")
        batch_op.drop_column("threshold_mode")
