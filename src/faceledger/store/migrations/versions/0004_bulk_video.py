"""authorisations may allow searching every face of a video

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 01:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allows_bulk_video", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("authorisations", schema=None) as batch_op:
        batch_op.drop_column("allows_bulk_video")
