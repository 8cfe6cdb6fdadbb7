"""numbered, chained ledger checkpoints

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00

Checkpoints made before this revision keep no number and their old MAC (over `seq:hash`): no key is at
hand here to re-sign them, so they are marked "legacy" and verified the old way; the numbered chain
starts with the next checkpoint the server signs, which chains to the newest legacy checkpoint's MAC.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_mac", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("scheme", sa.String(length=20), server_default="legacy", nullable=False))
        batch_op.create_unique_constraint(batch_op.f("uq_ledger_checkpoints_number"), ["number"])


def downgrade() -> None:
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_ledger_checkpoints_number"), type_="unique")
        batch_op.drop_column("scheme")
        batch_op.drop_column("prev_mac")
        batch_op.drop_column("number")
