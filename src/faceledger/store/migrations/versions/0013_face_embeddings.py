"""one embedding per model for every gallery face, and the gallery's model registry

The single faces.embedding / faces.model_key columns move into face_embeddings, row for row (the sealed
bytes are copied as they are: they stay bound to the face's thumbnail path, so no key is needed here);
every model key found becomes a registered, enabled model (it was the one searched until now).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_faces = sa.table(
    "faces",
    sa.column("id", sa.Integer()),
    sa.column("embedding", sa.LargeBinary()),
    sa.column("model_key", sa.String(120)),
)
_embeddings = sa.table(
    "face_embeddings",
    sa.column("id", sa.Integer()),
    sa.column("face_id", sa.Integer()),
    sa.column("model_key", sa.String(120)),
    sa.column("embedding", sa.LargeBinary()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_models = sa.table(
    "gallery_models",
    sa.column("model_key", sa.String(120)),
    sa.column("name", sa.String(120)),
    sa.column("enabled", sa.Boolean()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("enabled_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    op.create_table(
        "gallery_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gallery_models")),
        sa.UniqueConstraint("model_key", name=op.f("uq_gallery_models_model_key")),
    )
    op.create_table(
        "face_embeddings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("model_key", sa.String(length=120), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["face_id"], ["faces.id"], name=op.f("fk_face_embeddings_face_id_faces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_face_embeddings")),
        sa.UniqueConstraint("face_id", "model_key", name=op.f("uq_face_embeddings_face_id")),
    )
    with op.batch_alter_table("face_embeddings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_face_embeddings_face_id"), ["face_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_face_embeddings_model_key"), ["model_key"], unique=False)

    now = sa.func.current_timestamp()
    op.execute(
        _embeddings.insert().from_select(
            ["face_id", "model_key", "embedding", "created_at"],
            sa.select(_faces.c.id, _faces.c.model_key, _faces.c.embedding, now).order_by(_faces.c.id),
        )
    )
    keys = [row[0] for row in op.get_bind().execute(sa.select(_faces.c.model_key).distinct())]
    for key in sorted(keys):
        op.execute(
            _models.insert().values(
                model_key=key, name=key.split("@", 1)[0], enabled=True, created_at=now, enabled_at=now
            )
        )

    # Plain ALTER TABLE, not a batch copy: SQLite (>= 3.35) drops columns in place, and a batch would
    # drop and recreate faces, which with foreign keys on cascades into face_embeddings.
    op.drop_index("ix_faces_model_key", table_name="faces")
    op.execute("ALTER TABLE faces DROP COLUMN embedding")
    op.execute("ALTER TABLE faces DROP COLUMN model_key")


def downgrade() -> None:
    """Each face gets back its first model's embedding (the one stored first); the others are dropped."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    # SQLite adds a NOT NULL column only with a default; PostgreSQL is made NOT NULL after the copy.
    blob_default = " NOT NULL DEFAULT x''" if sqlite else ""
    key_default = " NOT NULL DEFAULT ''" if sqlite else ""
    blob_type = "BLOB" if sqlite else "BYTEA"
    op.execute(f"ALTER TABLE faces ADD COLUMN embedding {blob_type}{blob_default}")
    op.execute(f"ALTER TABLE faces ADD COLUMN model_key VARCHAR(120){key_default}")
    op.execute(
        "UPDATE faces SET embedding = (SELECT e.embedding FROM face_embeddings e "
        "WHERE e.face_id = faces.id ORDER BY e.id LIMIT 1)"
    )
    op.execute(
        "UPDATE faces SET model_key = (SELECT e.model_key FROM face_embeddings e "
        "WHERE e.face_id = faces.id ORDER BY e.id LIMIT 1)"
    )
    if not sqlite:
        op.alter_column("faces", "embedding", nullable=False)
        op.alter_column("faces", "model_key", nullable=False)
    op.create_index("ix_faces_model_key", "faces", ["model_key"], unique=False)
    with op.batch_alter_table("face_embeddings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_face_embeddings_model_key"))
        batch_op.drop_index(batch_op.f("ix_face_embeddings_face_id"))
    op.drop_table("face_embeddings")
    op.drop_table("gallery_models")
