"""Refusals of requests without valid credentials, counted instead of ledgered one by one.

Anyone can send such requests, as fast as they like and with paths of any length; one ledger entry each
would let a stranger fill the append-only, never-deletable ledger. So they are counted per (minute, client
address) in a table, with the first path truncated, and the ledger gets a bounded summary per bucket: one
entry when a bucket is first seen (so an attack is on the ledger at once) and one with the final count
once its minute is over. Closed buckets are summarised by the next refusal, by start-up and by shutdown,
so a count is never lost, even after a crash. Refusals of known users keep one entry each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import NotAuthenticated
from faceledger.services.governance.ledger_key import checkpoint_if_due
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.store.oversight_models import UnauthenticatedRefusals

ACTION = events.EventName.UNAUTHENTICATED_REQUESTS
PATH_CHARS = 200
SOURCE_CHARS = 64
ANONYMOUS = ledger.Actor(None, "unauthenticated")


def minute_of(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


def _summary(row: UnauthenticatedRefusals, *, final: bool) -> events.UnauthenticatedRequests:
    return events.UnauthenticatedRequests(
        minute=row.minute,
        source=row.source,
        count=row.count,
        first_path=row.first_path,
        reasons=dict(row.reasons),
        final=final,
    )


def refuse_unauthenticated(
    deployment: Deployment, source: str, method: str, path: str, reason: str, *, now: datetime | None = None
) -> NotAuthenticated:
    """Count one refusal in its (minute, source) bucket and return the error to raise. `reason` is one of
    a few fixed texts, never the path or anything else the client chose."""
    when = now or deployment.clock.now()
    minute, source = minute_of(when), (source or "unknown")[:SOURCE_CHARS]
    with transaction(deployment.sessions) as session:
        row = _bucket(session, minute, source)
        if row is None:
            row = _first_of_bucket(session, minute, source, f"{method} {path}"[:PATH_CHARS], reason)
        else:
            row.count += 1
            row.reasons = {**row.reasons, reason: row.reasons.get(reason, 0) + 1}
            row.closed_seq = None  # closed early (at shutdown): the next close ledgers the new total
    flush_closed(deployment, now=when)
    return NotAuthenticated(f"authenticate refused: {reason}")


def _bucket(session: Session, minute: str, source: str) -> UnauthenticatedRefusals | None:
    query = select(UnauthenticatedRefusals).where(
        UnauthenticatedRefusals.minute == minute, UnauthenticatedRefusals.source == source
    )
    return session.scalars(query.with_for_update()).first()


def _first_of_bucket(session: Session, minute: str, source: str, path: str, reason: str) -> UnauthenticatedRefusals:
    """A new bucket with its first-seen ledger entry (the transaction is BEGIN IMMEDIATE on SQLite and the
    ledger head is locked on PostgreSQL, so two requests do not both create it)."""
    first = events.UnauthenticatedRequests(
        minute=minute, source=source, count=1, first_path=path, reasons={reason: 1}, final=False
    )
    ledger.append(session, ANONYMOUS, first, reasons=[reason])
    found = _bucket(session, minute, source)  # created while this one waited for the ledger head
    if found is not None:
        found.count += 1
        found.reasons = {**found.reasons, reason: found.reasons.get(reason, 0) + 1}
        return found
    row = UnauthenticatedRefusals(minute=minute, source=source, count=1, first_path=path, reasons={reason: 1})
    session.add(row)
    session.flush()
    return row


def flush_closed(deployment: Deployment, *, now: datetime | None = None, everything: bool = False) -> int:
    """Ledger the final count of every bucket whose minute is over (every bucket, with `everything`)."""
    minute = minute_of(now or deployment.clock.now())
    query = select(UnauthenticatedRefusals).where(UnauthenticatedRefusals.closed_seq.is_(None))
    if not everything:
        query = query.where(UnauthenticatedRefusals.minute < minute)
    closed = 0
    with transaction(deployment.sessions) as session:
        for row in session.scalars(query.order_by(UnauthenticatedRefusals.id).with_for_update()).all():
            entry = ledger.append(session, ANONYMOUS, _summary(row, final=True), reasons=sorted(row.reasons))
            row.closed_seq = entry.seq
            closed += 1
    if closed:
        checkpoint_if_due(deployment)
    return closed


def counted(deployment: Deployment) -> list[dict[str, Any]]:
    """Every bucket, oldest first, for audits and tests."""
    with deployment.sessions() as session:
        rows = session.scalars(select(UnauthenticatedRefusals).order_by(UnauthenticatedRefusals.id)).all()
        return [
            _summary(row, final=row.closed_seq is not None).model_dump() | {"closed_seq": row.closed_seq}
            for row in rows
        ]


@dataclass(frozen=True)
class AnonymousRequest:
    source: str
    method: str
    path: str


_request: ContextVar[AnonymousRequest | None] = ContextVar("faceledger_anonymous_request", default=None)


@contextmanager
def counting(source: str, method: str, path: str) -> Iterator[None]:
    """While authenticating one request from `source`: refusals of no one in particular are counted."""
    reset = _request.set(AnonymousRequest(source, method, path))
    try:
        yield
    finally:
        _request.reset(reset)


def current_request() -> AnonymousRequest | None:
    return _request.get()
