"""The key that signs ledger checkpoints. It lives in the data directory, not in the database, so
someone who can rewrite the database cannot re-sign a rewritten chain."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy import func, select

from faceledger.services.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction

KEY_FILE = "ledger.key"


def create_key(data_dir: Path) -> None:
    path = data_dir / KEY_FILE
    if path.exists():
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")


def read_key(deployment: Deployment) -> bytes | None:
    path = deployment.data_dir / KEY_FILE
    return bytes.fromhex(path.read_text().strip()) if path.is_file() else None


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
