"""Every governed action goes through here: build the policy context inside the action's own transaction,
ask policy, do the work and ledger it in that same transaction; or record the refusal and raise.

A refusal is written in a transaction of its own after the action's has ended, so that it stays on the
ledger although the action left nothing behind."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import NotAuthenticated, NotFound, PolicyDenied
from faceledger.policy.governance import (
    ROLES_FOR,
    Action,
    ActorView,
    AuthorityState,
    AuthorityView,
    CaseView,
    Context,
    Role,
    decide,
)
from faceledger.services.governance import refusal_counter
from faceledger.services.governance.ledger_key import checkpoint_if_due
from faceledger.services.governance.scope import sees_everything
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.events import Event, EventName, Refusal
from faceledger.store.governance_models import Authorisation, Case, Department, User
from faceledger.types import CaseStatus

# What entry points may refuse in a ledgered way: a policy action, or one of the ledger's own refusals
# (these two come from the HTTP layer: no credentials, and a forged cross-site request).
Refusable = Action | EventName
AUTHENTICATE = EventName.AUTHENTICATE
FORGERY = EventName.CSRF

T = TypeVar("T")


def actor_view(user: User) -> ActorView:
    roles = frozenset(Role(role) for role in user.roles)
    return ActorView(user.id, user.username, roles, user.department_id, user.certified_until, user.disabled)


def as_ledger_actor(actor: ActorView | None) -> ledger.Actor:
    return ledger.Actor(actor.id, actor.name) if actor else ledger.Actor(None, "unauthenticated")


def current_authorisation(session: Session, *, lock: bool = False) -> Authorisation | None:
    query = select(Authorisation).order_by(Authorisation.id.desc()).limit(1)
    return session.scalars(query.with_for_update() if lock else query).first()


def authority_state(grant: Authorisation | None, on: date) -> AuthorityState:
    if grant is None:
        return AuthorityState.NONE
    if grant.halted:
        return AuthorityState.HALTED
    if on < grant.starts_on:
        return AuthorityState.NOT_STARTED
    if on > grant.ends_on:
        return AuthorityState.EXPIRED
    return AuthorityState.ACTIVE


def authority_view(session: Session, on: date, *, lock: bool = False) -> AuthorityView:
    """The authorisation as it stands on day `on` (the deployment's today); locked on PostgreSQL so a halt
    cannot slip between check and action."""
    grant = current_authorisation(session, lock=lock)
    if grant is None:
        return AuthorityView(AuthorityState.NONE)
    state = authority_state(grant, on)
    return AuthorityView(state, frozenset(grant.purposes), frozenset(grant.offence_types), grant.allows_bulk_video)


def case_view(case: Case) -> CaseView:
    assigned = frozenset(a.user_id for a in case.assignments)
    return CaseView(
        case.id, case.department_id, case.status == CaseStatus.OPEN, case.purpose, case.offence_type, assigned
    )


def find_case(session: Session, reference: str, actor: ActorView) -> Case:
    """A case by number within the actor's department, or by '#id' (another department's reads as missing
    wherever the caller passes `not_found` to governed, or uses case_id_or_refuse)."""
    if reference.startswith("#") and reference[1:].isdigit():
        case = session.get(Case, int(reference[1:]))
    else:
        case = session.scalars(
            select(Case).where(Case.number == reference, Case.department_id == actor.department_id)
        ).first()
    if case is None:
        raise NotFound(f"no case {reference!r} in your department")
    return case


def case_id_or_refuse(
    deployment: Deployment,
    actor: ActorView,
    action: Action,
    reference: str,
    details: Mapping[str, Any],
    **context_fields: Any,
) -> int:
    """The case's id; an unknown case is a refusal like any other, ledgered with everything else wrong."""
    day = deployment.clock.today()
    with deployment.sessions() as session:
        case = _case_or_none(session, reference, actor)
        if case is not None:
            return case.id
        authority = authority_view(session, day)
    missing = f"no case {reference!r} in {actor.name}'s department"
    context = Context(day, authority, **context_fields)
    reasons = [r for r in decide(actor, action, context).reasons if r != "a case is needed"]
    raise record_refusal(deployment, actor, action, [*reasons, missing], details={"case": reference, **details})


def _case_or_none(session: Session, reference: str, actor: ActorView) -> Case | None:
    """The case, or None where it does not exist or is another department's (refused alike)."""
    try:
        case = find_case(session, reference, actor)
    except NotFound:
        return None
    return None if hidden_from(actor, case.department_id) else case


def find_user(session: Session, username: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"no user named {username!r}")
    return user


def find_department(session: Session, name: str, *, create: bool = False) -> Department:
    department = session.scalars(select(Department).where(Department.name == name)).first()
    if department is None:
        if not create:
            raise NotFound(f"no department named {name!r}")
        department = Department(name=name)
        session.add(department)
        session.flush()
    return department


def refreshed(session: Session, actor: ActorView) -> ActorView:
    """The actor as stored now: a user disabled or decertified since authenticating is seen at once."""
    user = session.get(User, actor.id)
    return actor_view(user) if user is not None else actor


def record_refusal(
    deployment: Deployment,
    actor: ActorView | None,
    action: Refusable,
    reasons: list[str] | tuple[str, ...],
    *,
    case_id: int | None = None,
    subjects: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
) -> PolicyDenied:
    """Ledger a refusal in its own transaction and return the error to raise. A request that names no
    known user is counted per minute and source instead (`refusal_counter`), so strangers cannot flood
    the ledger."""
    name = EventName(action.value)
    anonymous = refusal_counter.current_request() if actor is None and name is EventName.AUTHENTICATE else None
    if anonymous is not None:
        return refusal_counter.refuse_unauthenticated(
            deployment, anonymous.source, anonymous.method, anonymous.path, "; ".join(reasons)[:200]
        )
    with transaction(deployment.sessions) as session:
        refusal = Refusal(action=name, subjects=dict(subjects or {}), asked=dict(details or {}))
        entry = ledger.append(session, as_ledger_actor(actor), refusal, case_id=case_id, reasons=reasons)
    checkpoint_if_due(deployment)
    verb = name.replace("_", " ")
    kind = NotAuthenticated if name is EventName.AUTHENTICATE else PolicyDenied
    return kind(f"{verb} refused: {'; '.join(reasons)} (ledger entry {entry.seq})")


def governed(
    deployment: Deployment,
    actor: ActorView,
    action: Action,
    context_of: Callable[[Session], Context],
    work: Callable[[Session, Context], T],
    *,
    case_id: int | None = None,
    subjects: Mapping[str, Any] | None = None,
    details: Mapping[str, Any] | None = None,
    not_found: str | None = None,
) -> T:
    """Decide and act in one transaction; a refusal is ledgered and raised as PolicyDenied. With `not_found`
    (what the caller says of an id that does not exist), a refusal on a case the actor may not even see is
    ledgered and raised as that NotFound: no existence oracle for another department's ids."""
    with transaction(deployment.sessions) as session:
        current = refreshed(session, actor)
        context = context_of(session)
        decision = decide(current, action, context)
        if decision.allowed:
            result = work(session, context)
    if decision.allowed:
        if session.info.get(ledger.APPENDED):  # a check that wrote nothing leaves the chain as it was
            checkpoint_if_due(deployment)
        return result
    refusal = record_refusal(
        deployment, actor, action, decision.reasons, case_id=case_id, subjects=subjects, details=details
    )
    if not_found is not None and context.case is not None and hidden_from(current, context.case.department_id):
        raise NotFound(not_found) from refusal
    raise refusal


def hidden_from(actor: ActorView, department_id: int) -> bool:
    """Another department's case, for someone who does not oversee every department."""
    return department_id != actor.department_id and not sees_everything(actor)


def require_role(deployment: Deployment, actor: ActorView, action: Action) -> None:
    """Only the role part of a rule, for reads that need no case or authorisation (lists, queues)."""
    reasons = role_reasons(actor, action)
    if reasons:
        raise record_refusal(deployment, actor, action, reasons)


def role_reasons(actor: ActorView, action: Action) -> list[str]:
    allowed = ROLES_FOR[action]
    if actor.roles & allowed:
        return []
    verb = action.value.replace("_", " ")
    return [f"{verb} needs the role {' or '.join(sorted(allowed))}; {actor.name} has {', '.join(sorted(actor.roles))}"]


def no_context(deployment: Deployment) -> Callable[[Session], Context]:
    """For `governed`: a context of nothing but the deployment's today (certification is checked against it)."""
    return lambda _: Context(deployment.clock.today())


def append(session: Session, actor: ActorView, event: Event, *, case_id: int | None = None) -> ledger.LedgerEntry:
    """Ledger what `actor` did, through its typed record, in the action's own transaction."""
    return ledger.append(session, as_ledger_actor(actor), event, case_id=case_id)
