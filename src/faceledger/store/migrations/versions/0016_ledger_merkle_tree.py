"""the ledger's Merkle tree: complete subtrees in ledger_tree_nodes, the right edge in the head row, and the
Ed25519-signed checkpoints (signed tree heads) with the witnesses' cosignatures

The tree is built from entry 1 on; no entry, hash or HMAC checkpoint changes.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa
from alembic import op

from faceledger.store.merkle import encode_frontier, rebuild

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_entries = sa.table("ledger_entries", sa.column("seq", sa.Integer()), sa.column("hash", sa.String(64)))
_head = sa.table(
    "ledger_head", sa.column("id", sa.Integer()), sa.column("seq", sa.Integer()), sa.column("tree", sa.Text())
)
_nodes = sa.table(
    "ledger_tree_nodes",
    sa.column("level", sa.Integer()),
    sa.column("index", sa.BigInteger()),
    sa.column("hash", sa.String(64)),
)


def upgrade() -> None:
    op.create_table(
        "ledger_tree_nodes",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("level", "index", name=op.f("pk_ledger_tree_nodes")),
    )
    op.create_table(
        "ledger_signed_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sa.String(length=64), nullable=False),
        sa.Column("signed_at", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("edge", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_signed_checkpoints")),
    )
    op.create_index(op.f("ix_ledger_signed_checkpoints_size"), "ledger_signed_checkpoints", ["size"])
    with op.batch_alter_table("ledger_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tree", sa.Text(), nullable=True))

    bind = op.get_bind()

    def hashes() -> Iterator[str]:
        last = 0
        while True:
            rows = bind.execute(
                sa.select(_entries.c.seq, _entries.c.hash)
                .where(_entries.c.seq > last)
                .order_by(_entries.c.seq)
                .limit(10_000)
            ).all()
            if not rows:
                return
            for seq, digest in rows:
                if seq != last + 1:  # a gap is for `ledger verify` to name; the tree stops before it
                    return
                yield digest
                last = seq

    def store(nodes: list[tuple[int, int, bytes]]) -> None:
        bind.execute(_nodes.insert(), [{"level": lv, "index": ix, "hash": h.hex()} for lv, ix, h in nodes])

    frontier, size = rebuild(hashes(), store)
    head = bind.execute(sa.select(_head.c.seq).where(_head.c.id == 1)).scalar_one_or_none()
    if head is not None and head == size:
        bind.execute(_head.update().where(_head.c.id == 1).values(tree=encode_frontier(frontier)))


def downgrade() -> None:
    with op.batch_alter_table("ledger_head", schema=None) as batch_op:
        batch_op.drop_column("tree")
    op.drop_index(op.f("ix_ledger_signed_checkpoints_size"), table_name="ledger_signed_checkpoints")
    op.drop_table("ledger_signed_checkpoints")
    op.drop_table("ledger_tree_nodes")
