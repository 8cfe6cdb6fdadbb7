"""An anomaly rule about accounts: several accounts made by the same admins (one asked, the other
approved) doing casework in the same case soon after they were made. Two colluding admins can still
make a searcher, two reviewers and a supervisor and produce a "confirmed" lead; the two-person rule
makes that take two people, and this rule makes it visible.

Pure: creation records and casework entries in, findings out; the reader turns ledger rows into them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.policy.governance import Action
from faceledger.store import ledger
from faceledger.store.governance_models import AccountRequest, User

CASEWORK = (Action.SEARCH, Action.REVIEW, Action.SIGN_OFF, Action.CORROBORATE, Action.EXPORT)


@dataclass(frozen=True)
class Made:
    """Who made an account, and when: the admin who asked and the admin who approved."""

    user_id: int
    username: str
    at: datetime
    requested_by: str
    approved_by: str


@dataclass(frozen=True)
class CaseworkEntry:
    seq: int
    at: datetime
    actor_id: int | None
    actor: str
    case_id: int | None
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "case_id": self.case_id,
            "action": self.action,
        }


def new_accounts_in_one_case(
    entries: Iterable[CaseworkEntry], made: Mapping[int, Made], days: int
) -> list[tuple[str, str, list[CaseworkEntry]]]:
    """(actors, summary, cited entries) for each case where two or more accounts made by the same pair of
    admins acted within `days` of being made."""
    if days <= 0:
        return []
    groups: dict[tuple[str, str, int | None], list[CaseworkEntry]] = defaultdict(list)
    for entry in entries:
        who = made.get(entry.actor_id) if entry.actor_id is not None else None
        if who is None or entry.at - who.at > timedelta(days=days):
            continue
        groups[(who.requested_by, who.approved_by, entry.case_id)].append(entry)
    found = []
    for (asked, approved, case_id), group in groups.items():
        actors = sorted({e.actor for e in group})
        if len(actors) < 2:
            continue
        acts = ", ".join(f"{a} ({', '.join(sorted({e.action for e in group if e.actor == a}))})" for a in actors)
        summary = (
            f"{len(actors)} accounts requested by {asked} and approved by {approved} did casework in case "
            f"#{case_id} within {days} days of being made: {acts}"
        )
        found.append((", ".join(actors)[:100], summary, sorted(group, key=lambda e: e.seq)))
    return found


def read_made(session: Session) -> dict[int, Made]:
    """Accounts made through an approved request (bootstrap admins included), by user id."""
    names = {user_id: name for user_id, name in session.execute(select(User.id, User.username))}
    made = {}
    query = (
        select(AccountRequest, User)
        .join(User, User.username == AccountRequest.username)
        .where(AccountRequest.kind == "create_user", AccountRequest.status == "approved")
    )
    for request, user in session.execute(query):
        made[user.id] = Made(
            user.id,
            user.username,
            user.created_at,
            names.get(request.requested_by, "?"),
            names.get(request.decided_by or -1, "?"),
        )
    return made


def read_casework(session: Session, since: str | None, until: str | None) -> list[CaseworkEntry]:
    E = ledger.LedgerEntry
    query = select(E).where(E.action.in_([a.value for a in CASEWORK]), E.outcome == ledger.DONE)
    if since:
        query = query.where(E.at >= since)
    if until:
        query = query.where(E.at < until)
    return [
        CaseworkEntry(e.seq, datetime.fromisoformat(e.at), e.actor_id, e.actor, e.case_id, e.action)
        for e in session.scalars(query.order_by(E.seq))
    ]
