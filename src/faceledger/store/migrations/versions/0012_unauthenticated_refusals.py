"""unauthenticated refusals counted per minute and source instead of one ledger entry each

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unauthenticated_refusals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("minute", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_path", sa.String(length=200), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("closed_seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unauthenticated_refusals")),
        sa.UniqueConstraint("minute", "source", name="uq_unauthenticated_refusals_minute"),
    )
    with op.batch_alter_table("unauthenticated_refusals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unauthenticated_refusals_closed_seq"), ["closed_seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unauthenticated_refusals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unauthenticated_refusals_closed_seq"))
    op.drop_table("unauthenticated_refusals")
