"""The key that signs ledger checkpoints and the anchor beside it. Both live in the deployment's keys
folder, outside the data directory and the database, so someone who can rewrite the database can neither
re-sign a rewritten chain nor hide that its newest entries and checkpoints were deleted."""

from __future__ import annotations

import logging

from faceledger.errors import KeyProblem, LedgerTampered
from faceledger.services.oversight import transparency
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import checkpoints
from faceledger.store.db import transaction
from faceledger.store.ledger_anchor import Anchor, anchor_lock, anchor_path, read_anchor, write_anchor

log = logging.getLogger(__name__)


def read_key(deployment: Deployment) -> bytes | None:
    return deployment.keys.ledger_key()


def verification_checks(deployment: Deployment) -> checkpoints.Checks:
    """What `ledger verify` can rely on; a missing, unsafe or damaged key or anchor makes it unverifiable."""
    cannot: list[str] = []
    signer: checkpoints.CheckpointSigner | None = None
    try:
        key = read_key(deployment)
        if key is None:
            cannot.append(
                f"the ledger key {deployment.keys.directory / 'ledger.key'} is missing, so no checkpoint "
                "signature can be checked; restore it from the keys backup"
            )
        else:
            signer = checkpoints.HmacSigner(key)
    except KeyProblem as exc:
        cannot.append(f"the ledger key cannot be used: {exc}")
    anchor = None
    try:
        anchor = read_anchor(deployment.keys)
    except KeyProblem as exc:
        cannot.append(f"the ledger anchor cannot be used: {exc}")
    return checkpoints.Checks(signer, anchor, deployment.settings.ledger_checkpoint_every, cannot)


def checkpoint_if_due(deployment: Deployment) -> None:
    """After each governed write: check the new entries against the anchor and move the anchor on; sign
    the head every `ledger_checkpoint_every` entries. A tampered ledger raises LedgerTampered and gets no
    signature (the write that got here is committed already and stays)."""
    advance(deployment, force=False)


def sign_head(deployment: Deployment) -> int:
    """Sign the head now (`ledger sign`); the entry number the newest checkpoint covers."""
    if read_key(deployment) is None:
        raise KeyProblem(
            f"the ledger key {deployment.keys.directory / 'ledger.key'} is missing; nothing can be "
            "signed: restore it from the keys backup"
        )
    return advance(deployment, force=True)


def advance(deployment: Deployment, *, force: bool) -> int:
    keys = deployment.keys
    if not keys.directory.is_dir():  # no keys folder at all: nothing to sign with or anchor in
        return 0
    key = read_key(deployment)
    with anchor_lock(keys):
        anchor = read_anchor(keys)
        if anchor is None and not _has_numbered(deployment):
            anchor = Anchor()  # before the first checkpoint, so that a crash after it cannot leave none
            write_anchor(keys, anchor)
        try:
            with transaction(deployment.sessions) as session:
                head, signed = checkpoints.check_since_anchor(session, anchor)
                made = None
                due = head is not None and head.seq - signed >= deployment.settings.ledger_checkpoint_every
                if key is not None and (due or force):
                    made = checkpoints.add_checkpoint(session, checkpoints.HmacSigner(key), anchor)
                    # and the Ed25519 checkpoint witnesses fetch, at the same pace (none without its key)
                    signed_for_outsiders = transparency.sign_within(session, deployment)
                    if isinstance(signed_for_outsiders, str):
                        log.warning("%s", signed_for_outsiders)
                newest = checkpoints.anchor_of(made, head)
        except LedgerTampered:
            log.error("the ledger was tampered with; nothing signed (anchor %s)", anchor_path(keys))
            raise
        moved = (anchor or Anchor()).advanced(newest)
        if moved != anchor:
            write_anchor(keys, moved, durable=anchor is None or moved.checkpoint_number != anchor.checkpoint_number)
        return made.seq if made else max(signed, moved.checkpoint_seq)


def _has_numbered(deployment: Deployment) -> bool:
    with deployment.sessions() as session:
        return checkpoints.last_numbered(session) is not None
