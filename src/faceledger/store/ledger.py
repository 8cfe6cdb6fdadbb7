"""The ledger: an append-only, hash-chained record of every action and every refusal.

Each entry's hash is SHA-256 over a canonical encoding of its fields and the previous entry's hash, so
editing, deleting, inserting or reordering any entry breaks the chain at that entry. A head row holds
the newest sequence number and hash: appends lock it (serialising writers on PostgreSQL) and a deleted
tail is noticed. A chain rewritten whole is caught by the signed, numbered checkpoints and the anchor
kept outside the database (store/checkpoints.py, store/ledger_anchor.py), which also verify it.
Entries hold ids, hashes, scores and words, never images or embeddings."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from faceledger.errors import InvalidInput
from faceledger.store import events, merkle
from faceledger.store.events import Event, EventName, Recorded, Refusal, parse
from faceledger.store.models import Base
from faceledger.transparency.verify import HASHED_FIELDS as HASHED
from faceledger.transparency.verify import canonical as canonical_json
from faceledger.transparency.verify import entry_digest, leaf_hash

GENESIS_HASH = "0" * 64
DONE, REFUSED = events.DONE, events.REFUSED
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
            "seq": self.seq,
            "at": self.at,
            "actor_id": self.actor_id,
            "actor": self.actor,
            "action": self.action,
            "case_id": self.case_id,
            "outcome": self.outcome,
            "subjects": json.loads(self.subjects),
            "details": json.loads(self.details),
            "reasons": json.loads(self.reasons),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def record(self) -> Recorded:
        """This entry as the typed record it was written through (store/events.py)."""
        try:
            return parse(self.action, self.outcome, self.subjects, self.details)
        except InvalidInput as exc:
            raise InvalidInput(f"ledger entry {self.seq}: {exc}") from exc


class LedgerHead(Base):
    __tablename__ = "ledger_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    tree: Mapped[str | None] = mapped_column(Text, nullable=True)  # the Merkle tree's right edge (store/merkle.py)


LEGACY_SCHEME = "legacy"  # checkpoints made before they were numbered and chained (migration 0006)


class LedgerCheckpoint(Base):
    """A signed checkpoint (store/checkpoints.py): number `number` signs entry `seq` and chains to the
    checkpoint before it through `prev_mac`. Legacy rows have no number and sign only `seq:entry_hash`."""

    __tablename__ = "ledger_checkpoints"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[str] = mapped_column(String(40))
    mac: Mapped[str] = mapped_column(String(64))
    number: Mapped[int | None] = mapped_column(Integer, nullable=True, unique=True)
    prev_mac: Mapped[str | None] = mapped_column(String(64), nullable=True)
    scheme: Mapped[str] = mapped_column(String(20), server_default=LEGACY_SCHEME)


def canonical(value: Any) -> str:
    """One encoding for hashing (transparency/verify.py's, which outside verifiers run); refuses what JSON
    cannot hold."""
    try:
        return canonical_json(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"a ledger field cannot be encoded: {exc}") from exc


HASHED_FIELDS = HASHED  # defined once, in the verifier that travels with every disclosure package


def entry_hash(fields: Mapping[str, Any]) -> str:
    return entry_digest(fields, HASHED_FIELDS)


def _fields(entry: LedgerEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in LedgerEntry.__table__.columns.keys()}  # noqa: SIM118


@dataclass(frozen=True)
class Actor:
    """Who acted, as the ledger names them: a user, or the system itself (id None)."""

    id: int | None
    name: str


SYSTEM = Actor(None, "system")


APPENDED = "faceledger.ledger_appended"  # session.info key: this transaction wrote a ledger entry


def append(
    session: Session,
    actor: Actor,
    event: Event | Refusal,
    *,
    case_id: int | None = None,
    reasons: list[str] | tuple[str, ...] = (),
) -> LedgerEntry:
    """Add one entry, written through its typed record, in the caller's transaction: it commits with the
    action it records, or not at all."""
    if isinstance(event, Refusal):
        return write_entry(
            session,
            actor,
            event.action,
            outcome=REFUSED,
            case_id=case_id,
            subjects=event.subjects,
            details=event.asked,
            reasons=reasons,
        )
    subjects, details = event.parts()
    return write_entry(
        session,
        actor,
        event.NAME,
        outcome=event.OUTCOME,
        case_id=case_id,
        subjects=subjects,
        details=details,
        reasons=reasons,
    )


def write_entry(
    session: Session,
    actor: Actor,
    action: EventName,
    *,
    outcome: str = DONE,
    case_id: int | None = None,
    subjects: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    reasons: list[str] | tuple[str, ...] = (),
) -> LedgerEntry:
    """The chain itself: any fields, hashed and linked. Services write through `append`, which gives
    every action its typed record; tests of the chain write odd contents here."""
    if not isinstance(action, EventName):
        raise InvalidInput(f"the ledger has no action named {action!r}")
    head = session.get(LedgerHead, 1, with_for_update=True, populate_existing=True)
    if head is None:
        head = LedgerHead(id=1, seq=0, hash=GENESIS_HASH)
        session.add(head)
    fields: dict[str, Any] = {
        "seq": head.seq + 1,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor.id,
        "actor": actor.name,
        "action": action.value,
        "case_id": case_id,
        "outcome": outcome,
        "subjects": canonical(dict(subjects or {})),
        "details": canonical(dict(details or {})),
        "reasons": canonical(list(reasons)),
        "prev_hash": head.hash,
    }
    entry = LedgerEntry(**fields, hash=entry_hash(fields))
    session.add(entry)
    edge, completed = merkle.extend(merkle.decode_frontier(head.tree, head.seq), head.seq, leaf_hash(entry.hash))
    merkle.store_nodes(session, completed)
    head.seq, head.hash, head.tree = entry.seq, entry.hash, merkle.encode_frontier(edge)
    session.flush()
    session.info[APPENDED] = True  # the caller checks the chain after the commit (services/governance/guard.py)
    return entry


@dataclass(frozen=True)
class Verification:
    status: VerifyStatus
    entries: int
    checkpoints: int
    first_bad_seq: int | None
    problem: str

    @property
    def ok(self) -> bool:
        return self.status is VerifyStatus.VERIFIED

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "status": self.status.value, "ok": self.ok}


class VerifyStatus(enum.StrEnum):
    """VERIFIED: chain, checkpoints, signatures and anchor all check out. TAMPERED: something provably
    does not. UNVERIFIABLE: nothing wrong was found, but something could not be checked (no key, no
    anchor, entries that no signed checkpoint covers): never to be read as verified."""

    VERIFIED = "verified"
    TAMPERED = "tampered"
    UNVERIFIABLE = "unverifiable"


def entries_after(session: Session, last: int = 0) -> Iterator[LedgerEntry]:
    """Every entry after `last`, in order, read in chunks."""
    while True:
        rows = session.scalars(
            select(LedgerEntry).where(LedgerEntry.seq > last).order_by(LedgerEntry.seq).limit(_VERIFY_CHUNK)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


@dataclass
class Walk:
    """Where a walk along the chain got to: entries seen, the last good entry, the first problem."""

    seq: int
    hash: str
    count: int = 0
    bad_seq: int | None = None
    problem: str = ""


def walk(
    session: Session, seq: int, digest: str, *, keep: set[int] | None = None, kept: dict[int, str] | None = None
) -> Walk:
    """Recompute the chain after entry `seq` (whose hash is `digest`) to its end; stop at the first entry
    that does not verify. The hashes of the entries named in `keep` go into `kept`."""
    state = Walk(seq, digest)
    for entry in entries_after(session, seq):
        state.count += 1
        problem = check_entry(entry, state.seq + 1, state.hash)
        if problem:
            state.bad_seq, state.problem = min(entry.seq, state.seq + 1), problem
            return state
        if keep is not None and kept is not None and entry.seq in keep:
            kept[entry.seq] = entry.hash
        state.seq, state.hash = entry.seq, entry.hash
    return state


def head_problem(head: LedgerHead | None, state: Walk) -> str:
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) == (state.seq, state.hash):
        return ""
    return (
        f"the ledger ends at entry {state.seq} but its head records entry {head_seq}: "
        f"entries after {state.seq} were deleted"
    )


def check_entry(entry: LedgerEntry, expected_seq: int, prev: str) -> str:
    if entry.seq != expected_seq:
        if entry.seq > expected_seq:
            return f"entry {expected_seq} is missing (the next entry is {entry.seq}): deleted"
        return f"entry {entry.seq} is out of sequence"  # pragma: no cover - the primary key forbids repeats
    if entry.prev_hash != prev:
        return f"entry {entry.seq} does not follow the entry before it (inserted, reordered or rewritten)"
    if entry_hash(_fields(entry)) != entry.hash:
        return f"entry {entry.seq} was altered: its contents do not match its hash"
    return ""


def entries(
    session: Session,
    *,
    since: int = 0,
    limit: int = 100,
    action: str | None = None,
    case_id: int | None = None,
    outcome: str | None = None,
    visible: ColumnElement[bool] | None = None,
) -> list[LedgerEntry]:
    query = select(LedgerEntry).where(LedgerEntry.seq > since)
    if visible is not None:  # the part of the ledger the reader may see (services/governance/scope.py)
        query = query.where(visible)
    if action:
        query = query.where(LedgerEntry.action == action)
    if case_id is not None:
        query = query.where(LedgerEntry.case_id == case_id)
    if outcome:
        query = query.where(LedgerEntry.outcome == outcome)
    return list(session.scalars(query.order_by(LedgerEntry.seq).limit(limit)))
