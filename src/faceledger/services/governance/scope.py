"""What of the oversight record an actor may read. Auditors (and the council, and admins, who run the whole
deployment) oversee every department; anyone else who may read the ledger (a supervisor) sees only their
own department's part of it: entries about its cases or made by its people, its usage, its findings.

Verification of the chain stays global (it proves the whole record); only what is listed is scoped."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from faceledger.policy.governance import ActorView, Role
from faceledger.store.governance_models import Case, User
from faceledger.store.ledger import LedgerEntry
from faceledger.store.oversight_models import Violation

# By name, so the council role counts as soon as policy defines it; adding another is one word here.
_OVERSEER_NAMES = frozenset({"auditor", "council", "admin"})
OVERSEE_ALL: frozenset[Role] = frozenset(role for role in Role if role.value in _OVERSEER_NAMES)


def sees_everything(actor: ActorView) -> bool:
    return bool(actor.roles & OVERSEE_ALL)


def department_of(actor: ActorView) -> int | None:
    """The department an actor's reading is limited to; None for those who oversee everything."""
    return None if sees_everything(actor) else actor.department_id


def ledger_clause(actor: ActorView) -> ColumnElement[bool] | None:
    """The ledger entries the actor may read, as a SQL condition (None: all of them)."""
    department = department_of(actor)
    if department is None:
        return None
    cases = select(Case.id).where(Case.department_id == department)
    people = select(User.id).where(User.department_id == department)
    return or_(LedgerEntry.case_id.in_(cases), LedgerEntry.actor_id.in_(people))


def visible_seqs(session: Session, actor: ActorView, seqs: Iterable[int]) -> set[int]:
    """Those of the given ledger entries that the actor may read."""
    wanted = sorted(set(seqs))
    if not wanted:
        return set()
    query = select(LedgerEntry.seq).where(LedgerEntry.seq.in_(wanted))
    clause = ledger_clause(actor)
    return set(session.scalars(query if clause is None else query.where(clause)))


def visible_violations(session: Session, actor: ActorView) -> list[Violation]:
    """Recorded violations, oldest first; a scoped reader sees one only if they may read every entry it cites
    (a finding across departments is the auditors' to read)."""
    rows = list(session.scalars(select(Violation).order_by(Violation.id)))
    if sees_everything(actor):
        return rows
    readable = visible_seqs(session, actor, (int(seq) for v in rows for seq in v.ledger_seqs))
    return [v for v in rows if v.ledger_seqs and {int(seq) for seq in v.ledger_seqs} <= readable]
