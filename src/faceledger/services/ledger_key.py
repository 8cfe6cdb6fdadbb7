"""The key that signs ledger checkpoints. It lives in the deployment's keys folder, outside the data
directory and the database, so someone who can rewrite the database cannot re-sign a rewritten chain."""

from __future__ import annotations

from sqlalchemy import func, select

from faceledger.services.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction


def read_key(deployment: Deployment) -> bytes | None:
    return deployment.keys.ledger_key()


def checkpoint_if_due(deployment: Deployment) -> None:
    """Sign the head every `ledger_checkpoint_every` entries; called after each governed write."""
    key = read_key(deployment)
    if key is None:
        return
    with transaction(deployment.sessions) as session:
        head = session.get(ledger.LedgerHead, 1)
        last = session.scalar(select(func.max(ledger.LedgerCheckpoint.seq))) or 0
        if head is not None and head.seq - last >= deployment.settings.ledger_checkpoint_every:
            ledger.add_checkpoint(session, key)
