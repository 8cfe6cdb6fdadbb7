"""Alembic environment: run by faceledger.store.migrate with a live connection, or by the alembic CLI."""

from __future__ import annotations

from alembic import context

# their tables join the metadata
from faceledger.store import governance_models, ledger, oversight_models, tree_heads  # noqa: F401
from faceledger.store.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the alembic CLI, for writing new migrations
    from faceledger.store.db import make_engine

    with make_engine(config.get_main_option("sqlalchemy.url") or "").connect() as live:
        context.configure(connection=live, target_metadata=Base.metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
