"""The ledger: an append-only, hash-chained record of every action and every refusal.

Each entry's hash is SHA-256 over a canonical encoding of its fields and the previous entry's hash, so
editing, deleting, inserting or reordering any entry breaks the chain at that entry. A head row holds
the newest sequence number and hash: appends lock it (serialising writers on PostgreSQL) and a deleted
tail is noticed. Checkpoints carry an HMAC made with a key kept outside the database (in the data
directory), so even a rewrite of the whole chain by someone with database access fails verification.
Entries hold ids, hashes, scores and words, never images or embeddings."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from faceledger.errors import InvalidInput
from faceledger.store.models import Base

GENESIS_HASH = "0" * 64
DONE = "done"
REFUSED = "refused"
_VERIFY_CHUNK = 5_000


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(60), index=True)
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    outcome: Mapped[str] = mapped_column(String(10))
    subjects: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    reasons: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq, "at": self.at, "actor_id": self.actor_id, "actor": self.actor, "action": self.action,
            "case_id": self.case_id, "outcome": self.outcome, "subjects": json.loads(self.subjects),
            "details": json.loads(self.details), "reasons": json.loads(self.reasons),
            "prev_hash": self.prev_hash, "hash": self.hash,
        }  # fmt: skip


class LedgerHead(Base):
    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class LedgerCheckpoint(Base):
    __tablename__ = "ledger_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    mac: Mapped[str] = mapped_column(String(64))


def canonical(value: Any) -> str:
    """One encoding for hashing: sorted keys, no spaces, UTF-8 kept; refuses what JSON cannot hold."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"a ledger field cannot be encoded: {exc}") from exc


def entry_hash(fields: Mapping[str, Any]) -> str:
    names = ("seq", "at", "actor_id", "actor", "action", "case_id", "outcome", "subjects", "details", "reasons",
             "prev_hash")  # fmt: skip
    return hashlib.sha256(canonical({name: fields[name] for name in names}).encode()).hexdigest()


def _fields(entry: LedgerEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in LedgerEntry.__table__.columns.keys()}  # noqa: SIM118


@dataclass(frozen=True)
class Actor:
    """Who acted, as the ledger names them: a user, or the system itself (id None)."""

    id: int | None
    name: str


SYSTEM = Actor(None, "system")


def append(
    session: Session,
    actor: Actor,
    action: str,
    *,
    outcome: str = DONE,
    case_id: int | None = None,
    subjects: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    reasons: list[str] | None = None,
) -> LedgerEntry:
    """Add one entry in the caller's transaction: it commits with the action it records, or not at all."""
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    if head is None:
        head = LedgerHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
    fields: dict[str, Any] = {
        "seq": head.seq + 1, "at": datetime.now(UTC).isoformat(timespec="microseconds"), "actor_id": actor.id,
        "actor": actor.name, "action": action, "case_id": case_id, "outcome": outcome,
        "subjects": canonical(dict(subjects or {})), "details": canonical(dict(details or {})),
        "reasons": canonical(list(reasons or [])), "prev_hash": head.hash,
    }  # fmt: skip
    entry = LedgerEntry(**fields, hash=entry_hash(fields))
    session.add(entry)
    head.seq, head.hash = entry.seq, entry.hash
    session.flush()
    return entry


def sign(key: bytes, seq: int, digest: str) -> str:
    return hmac.new(key, f"{seq}:{digest}".encode(), hashlib.sha256).hexdigest()


def add_checkpoint(session: Session, key: bytes) -> LedgerCheckpoint | None:
    """Sign the current head; None when the ledger is empty."""
    head = session.get(LedgerHead, 1, with_for_update=True)
    if head is None or head.seq == 0:
        return None
    checkpoint = LedgerCheckpoint(seq=head.seq, entry_hash=head.hash, at=datetime.now(UTC).isoformat(),
                                  mac=sign(key, head.seq, head.hash))  # fmt: skip
    session.add(checkpoint)
    session.flush()
    return checkpoint


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _entries(session: Session) -> Iterator[LedgerEntry]:
    last = 0
    while True:
        rows = session.scalars(select(LedgerEntry).where(LedgerEntry.seq > last).order_by(LedgerEntry.seq)
                               .limit(_VERIFY_CHUNK)).all()  # fmt: skip
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(session: Session, key: bytes | None) -> Verification:
    """Recompute the chain from the first entry; name the first entry that does not verify. The head is
    locked first, so an append committed meanwhile cannot look like a deleted tail."""
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    expected_seq, prev, count, hashes = 1, GENESIS_HASH, 0, {}
    for entry in _entries(session):
        count += 1
        problem = _check_entry(entry, expected_seq, prev)
        if problem:
            return Verification(False, count, 0, min(entry.seq, expected_seq), problem)
        hashes[entry.seq] = entry.hash
        expected_seq, prev = entry.seq + 1, entry.hash
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (expected_seq - 1, prev):
        return Verification(
            False,
            count,
            0,
            expected_seq,
            f"the ledger ends at entry {expected_seq - 1} but its "
            f"head records entry {head_seq}: entries after {expected_seq - 1} were deleted",
        )
    checkpoints = session.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.seq)).all()
    for checkpoint in checkpoints:
        problem = _check_checkpoint(checkpoint, hashes, key)
        if problem:
            return Verification(False, count, len(checkpoints), checkpoint.seq, problem)
    return Verification(True, count, len(checkpoints), None, "")


def _check_entry(entry: LedgerEntry, expected_seq: int, prev: str) -> str:
    if entry.seq != expected_seq:
        if entry.seq > expected_seq:
            return f"entry {expected_seq} is missing (the next entry is {entry.seq}): deleted"
        return f"entry {entry.seq} is out of sequence"  # pragma: no cover - the primary key forbids repeats
    if entry.prev_hash != prev:
        return f"entry {entry.seq} does not follow the entry before it (inserted, reordered or rewritten)"
    if entry_hash(_fields(entry)) != entry.hash:
        return f"entry {entry.seq} was altered: its contents do not match its hash"
    return ""


def _check_checkpoint(checkpoint: LedgerCheckpoint, hashes: dict[int, str], key: bytes | None) -> str:
    if hashes.get(checkpoint.seq) != checkpoint.entry_hash:
        return f"signed checkpoint at entry {checkpoint.seq} does not match the chain: the chain was rewritten"
    if key is not None and not hmac.compare_digest(sign(key, checkpoint.seq, checkpoint.entry_hash), checkpoint.mac):
        return f"signed checkpoint at entry {checkpoint.seq} has a bad signature: forged or rewritten"
    return ""


def entries(session: Session, *, since: int = 0, limit: int = 100, action: str | None = None,
            case_id: int | None = None, outcome: str | None = None,
            visible: ColumnElement[bool] | None = None) -> list[LedgerEntry]:  # fmt: skip
    query = select(LedgerEntry).where(LedgerEntry.seq > since)
    if visible is not None:  # the part of the ledger the reader may see (services/scope.py)
        query = query.where(visible)
    if action:
        query = query.where(LedgerEntry.action == action)
    if case_id is not None:
        query = query.where(LedgerEntry.case_id == case_id)
    if outcome:
        query = query.where(LedgerEntry.outcome == outcome)
    return list(session.scalars(query.order_by(LedgerEntry.seq).limit(limit)))
