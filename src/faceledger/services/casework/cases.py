"""Cases: opened by a supervisor for an allowed purpose, with the users assigned to work on them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import Conflict, InvalidInput
from faceledger.policy.governance import Action, ActorView, CaseView, Context, Role
from faceledger.services.governance.authority import slug
from faceledger.services.governance.guard import (
    append,
    authority_view,
    case_view,
    find_case,
    find_user,
    governed,
)
from faceledger.services.governance.scope import sees_everything
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.governance_models import Case, CaseAssignment, Search, User
from faceledger.types import CaseStatus

# Case numbers appear in file names (disclosures, exports), CSV cells, URLs and pages: a safe set only.
CASE_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")


@dataclass(frozen=True)
class CasePublic:
    id: int
    number: str
    department: str
    purpose: str
    offence_type: str
    description: str
    status: str
    opened_at: datetime
    closed_at: datetime | None
    assigned: tuple[str, ...]
    searches: int

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "assigned": list(self.assigned),
            "opened_at": self.opened_at.isoformat(),
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }


def public(session: Session, case: Case) -> CasePublic:
    names = session.scalars(
        select(User.username)
        .join(CaseAssignment, CaseAssignment.user_id == User.id)
        .where(CaseAssignment.case_id == case.id)
        .order_by(User.username)
    ).all()
    searches = len(session.scalars(select(Search.id).where(Search.case_id == case.id)).all())
    return CasePublic(
        case.id,
        case.number,
        case.department.name,
        case.purpose,
        case.offence_type,
        case.description,
        case.status,
        case.opened_at,
        case.closed_at,
        tuple(names),
        searches,
    )


def open_case(
    deployment: Deployment, actor: ActorView, number: str, *, purpose: str, offence_type: str, description: str = ""
) -> CasePublic:
    number = number.strip()
    if not CASE_NUMBER.fullmatch(number):
        raise InvalidInput(
            f"a case number is 1-40 letters, digits, '.', '_' or '-', starting with a letter or digit "
            f"(e.g. C-1 or 2026-0042); got {number[:60]!r}"
        )
    wanted = CaseView(0, actor.department_id, True, slug(purpose), slug(offence_type))
    details = {"number": number, "purpose": wanted.purpose, "offence_type": wanted.offence_type}

    def context(session: Session) -> Context:
        day = deployment.clock.today()
        return Context(day, authority_view(session, day, lock=True), case=wanted)

    def work(session: Session, _: Context) -> CasePublic:
        taken = select(Case.id).where(Case.number == number, Case.department_id == actor.department_id)
        if session.scalars(taken).first() is not None:
            raise Conflict(f"case {number!r} already exists in your department")
        case = Case(
            department_id=actor.department_id,
            number=number,
            purpose=wanted.purpose,
            offence_type=wanted.offence_type,
            description=description,
            opened_by=actor.id,
        )
        session.add(case)
        session.flush()
        opened = events.OpenCase(case=case.id, number=number, purpose=wanted.purpose, offence_type=wanted.offence_type)
        append(session, actor, opened, case_id=case.id)
        return public(session, case)

    return governed(deployment, actor, Action.OPEN_CASE, context, work, details=details)


def _case_action(
    deployment: Deployment, actor: ActorView, reference: str, action: Action, work: Any, **context_fields: Any
) -> Any:
    with deployment.sessions() as session:
        case_id = find_case(session, reference, actor).id

    def context(session: Session) -> Context:
        case = session.get(Case, case_id, populate_existing=True)
        view = case_view(case) if case is not None else None
        day = deployment.clock.today()
        return Context(day, authority_view(session, day, lock=True), case=view, **context_fields)

    def act(session: Session, _: Context) -> Any:
        case = session.get(Case, case_id)
        return work(session, case)

    return governed(
        deployment,
        actor,
        action,
        context,
        act,
        case_id=case_id,
        subjects={"case": case_id},
        not_found=f"no case {reference!r} in your department",
    )


def assign(deployment: Deployment, actor: ActorView, reference: str, usernames: list[str]) -> CasePublic:
    def work(session: Session, case: Case) -> CasePublic:
        added = []
        for username in usernames:
            user = find_user(session, username)
            if user.disabled:
                raise InvalidInput(f"user {username} is disabled")
            if user.department_id != case.department_id:
                raise InvalidInput(f"user {username} is not in the case's department")
            if not {Role.ANALYST.value, Role.REVIEWER.value} & set(user.roles):
                raise InvalidInput(f"user {username} is neither an analyst nor a reviewer")
            if session.get(CaseAssignment, (case.id, user.id)) is None:
                session.add(CaseAssignment(case_id=case.id, user_id=user.id, assigned_by=actor.id))
                added.append(username)
        session.flush()
        session.expire(case)
        append(session, actor, events.AssignCase(case=case.id, assigned=tuple(added)), case_id=case.id)
        return public(session, case)

    result: CasePublic = _case_action(deployment, actor, reference, Action.ASSIGN_CASE, work)
    return result


def close(deployment: Deployment, actor: ActorView, reference: str, reason: str = "") -> CasePublic:
    def work(session: Session, case: Case) -> CasePublic:
        case.status, case.closed_at = CaseStatus.CLOSED.value, deployment.clock.now()
        append(session, actor, events.CloseCase(case=case.id, reason=reason), case_id=case.id)
        return public(session, case)

    result: CasePublic = _case_action(deployment, actor, reference, Action.CLOSE_CASE, work)
    return result


def show(deployment: Deployment, actor: ActorView, reference: str) -> CasePublic:
    def work(session: Session, case: Case) -> CasePublic:
        return public(session, case)

    result: CasePublic = _case_action(deployment, actor, reference, Action.VIEW_CASE, work)
    return result


def list_cases(deployment: Deployment, actor: ActorView) -> list[CasePublic]:
    """Cases the actor may see: overseers all, supervisors their department's, others their assigned ones."""
    with deployment.sessions() as session:
        query = select(Case).order_by(Case.id)
        if not sees_everything(actor):
            query = query.where(Case.department_id == actor.department_id)
            if Role.SUPERVISOR not in actor.roles:
                query = query.join(CaseAssignment).where(CaseAssignment.user_id == actor.id)
        return [public(session, case) for case in session.scalars(query).unique()]
