"""Signed checkpoints: numbered 1, 2, 3 ... without gaps, each signing its number, the entry it covers,
that entry's hash, its time and the previous checkpoint's MAC, so deleting, editing or reordering any
checkpoint breaks the chain of checkpoints where it happened. The signature scheme sits behind
`CheckpointSigner` (HMAC-SHA256 with the ledger key today) so that a public-key scheme can replace it.

`verify` walks the whole ledger. `add_checkpoint` signs the head only after re-checking, from the previous
checkpoint on, what the new signature would vouch for; `check_since_anchor` checks each write's new
entries against the anchor. Both are incremental: they read only the entries since the last checkpoint
or the last anchored head.

Checkpoints made before migration 0006 ("legacy": no number, a MAC over `seq:hash` only) are checked
the old way; the numbered chain starts after the newest of them and chains to its MAC."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from faceledger.errors import LedgerTampered
from faceledger.store.ledger import (
    GENESIS_HASH,
    LEGACY_SCHEME,
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    Verification,
    VerifyStatus,
    canonical,
    check_entry,
    head_problem,
    walk,
)
from faceledger.store.ledger_anchor import Anchor

GENESIS_MAC = "0" * 64
_DOMAIN = "faceledger-checkpoint-v1\n"


class CheckpointSigner(Protocol):
    """Signs and checks checkpoint messages; `scheme` is stored with every checkpoint it signs."""

    @property
    def scheme(self) -> str: ...

    def sign(self, message: bytes) -> str: ...

    def check(self, message: bytes, signature: str) -> bool: ...

    def check_legacy(self, seq: int, digest: str, signature: str) -> bool: ...


@dataclass(frozen=True)
class HmacSigner:
    key: bytes

    @property
    def scheme(self) -> str:
        return "hmac-sha256"

    def sign(self, message: bytes) -> str:
        return hmac.new(self.key, message, hashlib.sha256).hexdigest()

    def check(self, message: bytes, signature: str) -> bool:
        return hmac.compare_digest(self.sign(message), signature)

    def check_legacy(self, seq: int, digest: str, signature: str) -> bool:
        return hmac.compare_digest(legacy_mac(self.key, seq, digest), signature)


def legacy_mac(key: bytes, seq: int, digest: str) -> str:
    """How checkpoints were signed before they were numbered."""
    return hmac.new(key, f"{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def message(scheme: str, number: int, seq: int, digest: str, at: str, prev_mac: str) -> bytes:
    fields = {"scheme": scheme, "number": number, "seq": seq, "entry_hash": digest, "at": at, "prev_mac": prev_mac}
    return (_DOMAIN + canonical(fields)).encode()


def message_of(checkpoint: LedgerCheckpoint) -> bytes:
    return message(
        checkpoint.scheme,
        checkpoint.number or 0,
        checkpoint.seq,
        checkpoint.entry_hash,
        checkpoint.at,
        checkpoint.prev_mac or "",
    )


def signature_ok(signer: CheckpointSigner, checkpoint: LedgerCheckpoint) -> bool:
    if checkpoint.number is None:
        return signer.check_legacy(checkpoint.seq, checkpoint.entry_hash, checkpoint.mac)
    return checkpoint.scheme == signer.scheme and signer.check(message_of(checkpoint), checkpoint.mac)


def _tampered(seq: int | None, problem: str) -> LedgerTampered:
    return LedgerTampered(f"the ledger does not verify at entry {seq}: {problem}; nothing was signed")


def _last(session: Session) -> tuple[LedgerCheckpoint | None, LedgerCheckpoint | None]:
    """The newest numbered checkpoint, or else the newest legacy one (numbered ones always come later)."""
    numbered = session.scalars(
        select(LedgerCheckpoint)
        .where(LedgerCheckpoint.number.is_not(None))
        .order_by(LedgerCheckpoint.number.desc())
        .limit(1)
    ).first()
    if numbered is not None:
        return numbered, None
    legacy = session.scalars(
        select(LedgerCheckpoint).where(LedgerCheckpoint.number.is_(None)).order_by(LedgerCheckpoint.seq.desc()).limit(1)
    ).first()
    return numbered, legacy


def _entry_hash_at(session: Session, seq: int) -> str | None:
    return session.scalar(select(LedgerEntry.hash).where(LedgerEntry.seq == seq))


def _anchor_problem(
    session: Session, anchor: Anchor, newest: LedgerCheckpoint | None, head_seq: int
) -> tuple[int, str] | None:
    """Where the database falls short of, or disagrees with, the anchor (a few point reads)."""
    if anchor.checkpoint_number:
        have = newest.number if newest is not None and newest.number else 0
        if have < anchor.checkpoint_number:
            after = min(newest.seq if newest is not None else 0, head_seq)
            what = "entries and checkpoints" if head_seq < anchor.checkpoint_seq else "checkpoints"
            return after + 1, (
                f"the anchor in the keys folder records signed checkpoint {anchor.checkpoint_number} "
                f"(entry {anchor.checkpoint_seq}) but the database's checkpoints end at {have}: "
                f"{what} after entry {after} were deleted"
            )
        number = LedgerCheckpoint.number == anchor.checkpoint_number
        row = session.scalars(select(LedgerCheckpoint).where(number)).first()
        recorded = (anchor.checkpoint_seq, anchor.checkpoint_hash, anchor.checkpoint_mac)
        if row is None or (row.seq, row.entry_hash, row.mac) != recorded:
            return anchor.checkpoint_seq, (
                f"signed checkpoint {anchor.checkpoint_number} disagrees with the anchor "
                "in the keys folder: replaced or rewritten"
            )
    if head_seq < anchor.head_seq:
        return head_seq + 1, (
            f"the ledger ends at entry {head_seq} but the anchor in the keys folder records "
            f"entry {anchor.head_seq}: entries after {head_seq} were deleted"
        )
    if anchor.head_seq and _entry_hash_at(session, anchor.head_seq) != anchor.head_hash:
        return anchor.head_seq, (
            f"entry {anchor.head_seq} does not match the anchor in the keys folder: the chain was rewritten"
        )
    return None


def check_since_anchor(session: Session, anchor: Anchor | None) -> tuple[LedgerHead | None, int]:
    """Per write: the head still reaches the anchored head, and the entries after it chain from it. Raises
    LedgerTampered; returns the head and the entry the newest signed checkpoint covers. The head is locked
    first (as appends lock it), so another request's entry cannot commit between reading the head and
    walking the entries and look like a deleted tail (PostgreSQL reads each statement's own snapshot)."""
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    numbered, legacy = _last(session)
    newest = numbered or legacy
    signed = newest.seq if newest is not None else 0
    if anchor is None:
        if numbered is not None:
            raise _tampered(
                numbered.seq,
                f"the ledger anchor in the keys folder is missing although {numbered.number} "
                "signed checkpoints exist; restore the keys folder from its backup",
            )
        return head, signed
    head_seq = head.seq if head else 0
    found = _anchor_problem(session, anchor, numbered, head_seq)
    if found:
        raise _tampered(*found)
    if anchor.head_seq:
        state = walk(session, anchor.head_seq, anchor.head_hash)
        if state.problem or head_problem(head, state):
            raise _tampered(state.bad_seq or state.seq + 1, state.problem or head_problem(head, state))
    return head, signed


def add_checkpoint(session: Session, signer: CheckpointSigner, anchor: Anchor | None) -> LedgerCheckpoint | None:
    """Sign the head as the next checkpoint, having verified it from the previous one: that checkpoint's
    signature and entry, every entry since, the head, the numbering and the anchor. None when there is
    nothing new to sign; LedgerTampered (and nothing signed) when anything does not check out."""
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    if head is None or head.seq == 0:
        return None
    numbered, legacy = _last(session)
    previous = numbered or legacy
    count, top = session.execute(select(func.count(LedgerCheckpoint.number), func.max(LedgerCheckpoint.number))).one()
    if (count or 0) != (top or 0):
        raise _tampered(None, f"the signed checkpoints are numbered up to {top} but only {count} exist: deleted")
    if numbered is None and anchor is not None and anchor.checkpoint_number:
        raise _tampered(1, "the anchor records signed checkpoints but the database has none: deleted")
    if numbered is not None and anchor is None:
        raise _tampered(numbered.seq, "the ledger anchor in the keys folder is missing; restore the keys folder")
    if anchor is not None:
        found = _anchor_problem(session, anchor, numbered, head.seq)
        if found:
            raise _tampered(*found)
    start_seq, start_hash = 0, GENESIS_HASH
    if previous is not None:
        if not signature_ok(signer, previous):
            raise _tampered(previous.seq, f"the newest signed checkpoint (entry {previous.seq}) has a bad signature")
        entry = session.get(LedgerEntry, previous.seq)
        if entry is None or entry.hash != previous.entry_hash or check_entry(entry, previous.seq, entry.prev_hash):
            raise _tampered(
                previous.seq, f"the newest signed checkpoint (entry {previous.seq}) does not match the chain"
            )
        start_seq, start_hash = previous.seq, previous.entry_hash
        if head.seq == previous.seq:
            return None
    state = walk(session, start_seq, start_hash)
    problem = state.problem or head_problem(head, state)
    if problem:
        raise _tampered(state.bad_seq or state.seq + 1, problem)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    number = (numbered.number or 0) + 1 if numbered else 1
    prev_mac = numbered.mac if numbered else (legacy.mac if legacy else GENESIS_MAC)
    mac = signer.sign(message(signer.scheme, number, head.seq, head.hash, at, prev_mac))
    checkpoint = LedgerCheckpoint(
        seq=head.seq, entry_hash=head.hash, at=at, mac=mac, number=number, prev_mac=prev_mac, scheme=signer.scheme
    )
    session.add(checkpoint)
    session.flush()
    return checkpoint


def anchor_of(checkpoint: LedgerCheckpoint | None, head: LedgerHead | None) -> Anchor:
    if checkpoint is None or checkpoint.number is None:
        return Anchor(head_seq=head.seq if head else 0, head_hash=head.hash if head else "")
    return Anchor(
        checkpoint.number,
        checkpoint.seq,
        checkpoint.entry_hash,
        checkpoint.mac,
        head.seq if head else 0,
        head.hash if head else "",
    )


# --- the whole ledger -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checks:
    """What verification can rely on: the signer (None: no usable key), the anchor (None: none found),
    and why something could not be checked (a missing or unreadable key or anchor)."""

    signer: CheckpointSigner | None
    anchor: Anchor | None
    every: int
    cannot_check: Sequence[str] = ()


def verify(session: Session, checks: Checks) -> Verification:
    """Recompute the chain from the first entry, then the checkpoint chain, the anchor, the signatures and
    the unsigned tail. TAMPERED names what was found first; UNVERIFIABLE says what could not be checked.
    The head is locked first, so an append committed meanwhile cannot look like a deleted tail."""
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    rows = list(session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.seq, LedgerCheckpoint.id)))
    legacy = [row for row in rows if row.number is None]
    numbered = sorted((row for row in rows if row.number is not None), key=lambda row: row.number or 0)
    hashes: dict[int, str] = {}
    state = walk(session, 0, GENESIS_HASH, keep={row.seq for row in rows}, kept=hashes)

    def result(status: VerifyStatus, seq: int | None, problem: str) -> Verification:
        return Verification(status, state.count, len(rows), seq, problem)

    if state.problem:
        return result(VerifyStatus.TAMPERED, state.bad_seq, state.problem)
    if problem := head_problem(head, state):
        return result(VerifyStatus.TAMPERED, state.seq + 1, problem)
    found = _chain_problem(legacy, numbered, hashes, checks.signer)
    if found is None and checks.anchor is not None:
        found = _anchor_problem(session, checks.anchor, numbered[-1] if numbered else None, state.seq)
    if found is not None:
        return result(VerifyStatus.TAMPERED, *found)
    unverifiable = list(checks.cannot_check)
    if checks.signer is None and not unverifiable and state.count:
        unverifiable.append("no ledger key: checkpoint signatures were not checked")
    if checks.anchor is None and numbered:
        unverifiable.append(
            "there is no ledger anchor in the keys folder, so deleting the newest entries "
            "together with their checkpoints cannot be ruled out"
        )
    signed = max((row.seq for row in rows), default=0)
    if state.seq - signed > checks.every:
        unverifiable.append(
            f"entries {signed + 1}-{state.seq} are not covered by a signed checkpoint (at most "
            f"{checks.every} may be): they could have been rewritten; sign the ledger"
        )
        return result(VerifyStatus.UNVERIFIABLE, signed + 1, "; ".join(unverifiable))
    if unverifiable:
        return result(VerifyStatus.UNVERIFIABLE, None, "; ".join(unverifiable))
    return result(VerifyStatus.VERIFIED, None, "")


def _name(row: LedgerCheckpoint) -> str:
    return f"signed checkpoint {row.number or '(legacy)'} at entry {row.seq}"


def _chain_problem(
    legacy: list[LedgerCheckpoint],
    numbered: list[LedgerCheckpoint],
    hashes: dict[int, str],
    signer: CheckpointSigner | None,
) -> tuple[int, str] | None:
    """Every checkpoint matches the chain and (with a key) its signature; the numbers run 1, 2, 3 ... and
    each checkpoint follows the one before it (its entry, and the MAC it chains to). Only the signatures
    need the key."""
    for row in [*legacy, *numbered]:
        if hashes.get(row.seq) != row.entry_hash:
            return row.seq, f"{_name(row)} does not match the chain: the chain was rewritten"
        if row.number is None and row.scheme != LEGACY_SCHEME:
            return row.seq, f"{_name(row)} has lost its number: rewritten"
        if signer is not None and not signature_ok(signer, row):
            return row.seq, f"{_name(row)} has a bad signature: forged or rewritten"
    prev_seq, prev_mac = (legacy[-1].seq, legacy[-1].mac) if legacy else (0, GENESIS_MAC)
    for expected, row in enumerate(numbered, start=1):
        if row.number != expected:
            return prev_seq + 1, f"signed checkpoint {expected} is missing (the next is {row.number}): deleted"
        if row.prev_mac != prev_mac:
            return row.seq, (
                f"signed checkpoint {row.number} does not follow checkpoint {expected - 1}: "
                "reordered, replaced or rewritten"
            )
        if row.seq <= prev_seq:
            return row.seq, (
                f"signed checkpoint {row.number} (entry {row.seq}) does not come after the checkpoint "
                f"before it (entry {prev_seq}): reordered"
            )
        prev_seq, prev_mac = row.seq, row.mac
    return None


def last_numbered(session: Session) -> LedgerCheckpoint | None:
    return _last(session)[0]
