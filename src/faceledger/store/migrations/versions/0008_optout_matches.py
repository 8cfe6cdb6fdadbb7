"""opt-out matches a curator confirms before anything is deleted

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "optout_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("distance", sa.Float(), nullable=False),
        sa.Column("false_match_rate", sa.Float(), nullable=False),
        sa.Column("confirmed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["optout_requests.id"],
            name=op.f("fk_optout_matches_request_id_optout_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_optout_matches")),
    )
    with op.batch_alter_table("optout_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_optout_matches_request_id"), ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("optout_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_optout_matches_request_id"))

    op.drop_table("optout_matches")
