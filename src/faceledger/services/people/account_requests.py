"""The two-person rule for accounts, and enrolment.

A change that gives someone power (a new user, new roles, re-enabling, a credential reset, a token for
someone else) is a request by one admin that a different admin approves; only then is it carried out.
A new or reset account's credential never passes through an admin: approval writes a one-time
enrolment code to the outbox (a folder outside the data directory, one 0600 file per user) for the
operator to hand to the person, who enrols with it (`faceledger enrol`, /ui/enrol), choosing their
password and receiving their own API token, shown once.

Bootstrap: while a deployment has a single admin, that admin may add the second admin alone (ledgered
as such); everything after that takes two. One person never holds both searching and reviewing or
signing-off roles (policy.governance.CONFLICTING_ROLES)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from faceledger.policy.governance import Action, ActorView, Context, Role
from faceledger.services.governance.guard import (
    append,
    find_department,
    find_user,
    governed,
    no_context,
    record_refusal,
)
from faceledger.services.people import _sign_in_throttle as sign_in_throttle
from faceledger.services.people.accounts import (
    IssuedToken,
    check_username,
    end_sessions,
    hash_password,
    new_token,
    parse_roles,
    revoke_all_tokens,
    token_digest,
)
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.store.governance_models import AccountRequest, EnrolmentCode, User

CODE_PREFIX = "fle_"  # an enrolment code, easy to scan for like tokens


class RequestKind(StrEnum):
    CREATE_USER = "create_user"
    SET_ROLES = "set_roles"
    ENABLE = "enable"
    RESET = "reset_credentials"  # password cleared, every token and session ended, a new enrolment code
    TOKEN = "issue_token"  # noqa: S105 - a request kind: an enrolment code the user redeems for a token


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True)
class RequestPublic:
    id: int
    kind: str
    username: str
    payload: dict[str, Any]
    status: str
    requested_by: str
    decided_by: str | None
    delivered_to: str | None  # the outbox file holding the user's enrolment code, once approved

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def outbox_dir(deployment: Deployment) -> Path:
    folder = deployment.settings.outbox_dir or deployment.data_dir.parent / f"{deployment.data_dir.name}.outbox"
    folder, data = folder.absolute(), deployment.data_dir.absolute()
    if folder.resolve() == data.resolve() or folder.resolve().is_relative_to(data.resolve()):
        raise InvalidInput(f"the outbox {folder} is inside the data directory; choose another (FACELEDGER_OUTBOX_DIR)")
    return folder


def _public(session: Session, row: AccountRequest, delivered: Path | None = None) -> RequestPublic:
    def name(user_id: int | None) -> str | None:
        user = session.get(User, user_id) if user_id is not None else None
        return user.username if user is not None else None

    return RequestPublic(
        row.id,
        row.kind,
        row.username,
        dict(row.payload),
        row.status,
        name(row.requested_by) or "?",
        name(row.decided_by),
        str(delivered) if delivered else None,
    )


def _roles_context(deployment: Deployment, roles: list[str]) -> Any:
    def build(_: Session) -> Context:
        return Context(deployment.clock.today(), roles_requested=frozenset(Role(r) for r in roles))

    return build


def _admins(session: Session) -> list[User]:
    return [u for u in session.scalars(select(User).where(User.disabled.is_(False))) if Role.ADMIN.value in u.roles]


def _pending(session: Session, username: str, kind: RequestKind) -> None:
    query = select(AccountRequest.id).where(
        AccountRequest.username == username,
        AccountRequest.kind == kind.value,
        AccountRequest.status == RequestStatus.PENDING.value,
    )
    earlier = session.scalars(query).first()
    if earlier is not None:
        raise Conflict(f"request {earlier} for {username} ({kind.value}) is already pending")


def _request(
    deployment: Deployment,
    actor: ActorView,
    kind: RequestKind,
    username: str,
    payload: dict[str, Any],
    roles: list[str] | None = None,
    check: Any = None,
) -> RequestPublic:
    def work(session: Session, _: Context) -> RequestPublic:
        if check is not None:
            check(session)
        _pending(session, username, kind)
        row = AccountRequest(
            kind=kind.value,
            username=username,
            payload=payload,
            requested_by=actor.id,
            status=RequestStatus.PENDING.value,
            note="",
        )
        session.add(row)
        session.flush()
        append(session, actor, events.AccountRequest(request=row.id, user=username, kind=kind.value, **payload))
        if kind is RequestKind.CREATE_USER and roles == [Role.ADMIN.value] and _sole_admin(session, actor):
            # Bootstrap: the only admin may add the second one alone; ledgered as such.
            return _carry_out(deployment, session, row, actor, bootstrap=True)
        return _public(session, row)

    context = _roles_context(deployment, roles or [])
    return governed(
        deployment,
        actor,
        Action.MANAGE_USERS,
        context,
        work,
        subjects={"user": username},
        details={"kind": kind.value, **payload},
    )


def _sole_admin(session: Session, actor: ActorView) -> bool:
    admins = _admins(session)
    return len(admins) == 1 and admins[0].id == actor.id


def request_user(
    deployment: Deployment,
    actor: ActorView,
    username: str,
    *,
    roles: list[str],
    department: str,
    display_name: str = "",
    certified_until: date | None = None,
) -> RequestPublic:
    """Ask for a new user; carried out when a second admin approves (the user then enrols)."""
    name, role_names = check_username(username), parse_roles(roles)
    if not department.strip():
        raise InvalidInput("a user needs a department", field="department")

    def check(session: Session) -> None:
        if session.scalars(select(User.id).where(User.username == name)).first() is not None:
            raise Conflict(f"a user named {name!r} exists")

    payload = {
        "roles": role_names,
        "department": department.strip(),
        "display_name": display_name or name,
        "certified_until": certified_until.isoformat() if certified_until else None,
    }
    return _request(deployment, actor, RequestKind.CREATE_USER, name, payload, role_names, check)


def request_roles(deployment: Deployment, actor: ActorView, username: str, roles: list[str]) -> RequestPublic:
    role_names = parse_roles(roles)
    return _request(
        deployment,
        actor,
        RequestKind.SET_ROLES,
        username,
        {"roles": role_names},
        role_names,
        lambda session: find_user(session, username),
    )


def request_enable(deployment: Deployment, actor: ActorView, username: str) -> RequestPublic:
    return _request(deployment, actor, RequestKind.ENABLE, username, {}, None, lambda s: find_user(s, username))


def request_reset(deployment: Deployment, actor: ActorView, username: str) -> RequestPublic:
    """Ask for a credential reset: password cleared, every token revoked, every session ended, and a new
    enrolment code delivered to the user."""
    return _request(deployment, actor, RequestKind.RESET, username, {}, None, lambda s: find_user(s, username))


def request_token(deployment: Deployment, actor: ActorView, username: str, label: str = "") -> RequestPublic:
    return _request(
        deployment, actor, RequestKind.TOKEN, username, {"label": label}, None, lambda s: find_user(s, username)
    )


def _load_pending(session: Session, request_id: int) -> AccountRequest:
    row = session.get(AccountRequest, request_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no account request {request_id}")
    if row.status != RequestStatus.PENDING.value:
        raise Conflict(f"account request {request_id} is already {row.status}")
    return row


def _context_for(deployment: Deployment, request_id: int) -> tuple[int, frozenset[Role], str]:
    with deployment.sessions() as session:
        row = session.get(AccountRequest, request_id)
        if row is None:
            raise NotFound(f"no account request {request_id}")
        roles = frozenset(Role(r) for r in row.payload.get("roles", ()))
        return row.requested_by, roles, row.username


def approve(deployment: Deployment, actor: ActorView, request_id: int, note: str = "") -> RequestPublic:
    """A second admin approves: the change is made; a new credential goes to the user's outbox file."""
    requested_by, roles, username = _context_for(deployment, request_id)
    if username == actor.name:
        raise record_refusal(
            deployment,
            actor,
            Action.APPROVE_ACCOUNT_CHANGE,
            ["nobody approves a change to their own account"],
            subjects={"request": request_id, "user": username},
        )

    def context(_: Session) -> Context:
        return Context(deployment.clock.today(), roles_requested=roles, requested_by=requested_by)

    def work(session: Session, _: Context) -> RequestPublic:
        row = _load_pending(session, request_id)
        row.note = note.strip()
        return _carry_out(deployment, session, row, actor, bootstrap=False)

    return governed(
        deployment,
        actor,
        Action.APPROVE_ACCOUNT_CHANGE,
        context,
        work,
        subjects={"request": request_id, "user": username},
    )


def reject(deployment: Deployment, actor: ActorView, request_id: int, note: str = "") -> RequestPublic:
    """Any admin (the requester too, to withdraw it) may turn a request down."""

    def work(session: Session, _: Context) -> RequestPublic:
        row = _load_pending(session, request_id)
        row.status, row.decided_by, row.decided_at, row.note = (
            RequestStatus.REJECTED.value,
            actor.id,
            deployment.clock.now(),
            note.strip(),
        )
        append(session, actor, events.AccountReject(request=row.id, user=row.username, kind=row.kind, note=note))
        return _public(session, row)

    return governed(
        deployment, actor, Action.MANAGE_USERS, no_context(deployment), work, subjects={"request": request_id}
    )


def list_requests(deployment: Deployment, actor: ActorView, *, pending_only: bool = True) -> list[RequestPublic]:
    def work(session: Session, _: Context) -> list[RequestPublic]:
        query = select(AccountRequest).order_by(AccountRequest.id)
        if pending_only:
            query = query.where(AccountRequest.status == RequestStatus.PENDING.value)
        return [_public(session, row) for row in session.scalars(query)]

    return governed(deployment, actor, Action.MANAGE_USERS, no_context(deployment), work)


def _carry_out(
    deployment: Deployment, session: Session, row: AccountRequest, actor: ActorView, *, bootstrap: bool
) -> RequestPublic:
    kind, payload = RequestKind(row.kind), row.payload
    if kind is RequestKind.CREATE_USER:
        if session.scalars(select(User.id).where(User.username == row.username)).first() is not None:
            raise Conflict(f"a user named {row.username!r} exists")
        dept = find_department(session, payload["department"], create=True)
        until = payload.get("certified_until")
        user = User(
            username=row.username,
            display_name=payload.get("display_name") or row.username,
            department_id=dept.id,
            roles=list(payload["roles"]),
            certified_until=date.fromisoformat(until) if until else None,
        )
        session.add(user)
        session.flush()
    else:
        user = find_user(session, row.username)
    if kind is RequestKind.SET_ROLES:
        user.roles = list(payload["roles"])
    elif kind is RequestKind.ENABLE:
        user.disabled = False
    elif kind is RequestKind.RESET:
        user.password_hash = None
        payload = {
            **payload,
            "tokens_revoked": revoke_all_tokens(session, user.id, deployment.clock.now()),
            "sessions_ended": end_sessions(session, user.id, deployment.clock.now()),
        }
    delivered = None
    if kind in (RequestKind.CREATE_USER, RequestKind.RESET, RequestKind.TOKEN):
        delivered = _deliver_code(deployment, session, user, row.id)
    row.status, row.decided_by, row.decided_at = RequestStatus.APPROVED.value, actor.id, deployment.clock.now()
    append(
        session,
        actor,
        events.AccountApprove(
            request=row.id,
            user=row.username,
            kind=kind.value,
            **payload,
            requested_by=row.requested_by,
            bootstrap_second_admin=bootstrap,
            delivered=delivered.name if delivered else None,
        ),
    )
    return _public(session, row, delivered)


def _deliver_code(deployment: Deployment, session: Session, user: User, request_id: int) -> Path:
    """A new one-time code (earlier unused ones die), written 0600 to the user's outbox file."""
    now = deployment.clock.now()
    for old in session.scalars(
        select(EnrolmentCode).where(EnrolmentCode.user_id == user.id, EnrolmentCode.used_at.is_(None))
    ):
        old.used_at = now
    code = CODE_PREFIX + secrets.token_urlsafe(32)
    expires = now + timedelta(hours=deployment.settings.enrolment_code_hours)
    session.add(
        EnrolmentCode(user_id=user.id, code_sha256=token_digest(code), request_id=request_id, expires_at=expires)
    )
    folder = outbox_dir(deployment)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{user.username}.txt"
    path.unlink(missing_ok=True)  # never write through a planted link or an older file's mode
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(
            f"faceledger enrolment for {user.username}\ncode: {code}\n"
            f"valid until: {expires.isoformat(timespec='minutes')}\n"
            f"enrol with: faceledger enrol {user.username} (paste the code when asked), "
            "or on the web page /ui/enrol\n"
        )
    return path


def enrol(
    deployment: Deployment, username: str, code: str, password: str | None = None, source: str = ""
) -> IssuedToken:
    """Redeem a one-time enrolment code: set one's password for the web pages (when given; someone who
    only uses the API needs none) and receive one's own API token, shown once. Failures count towards
    the sign-in throttle."""
    attempt = sign_in_throttle.attempt_for(deployment, username, source)
    sign_in_throttle.check_not_locked(deployment, attempt)
    digest = hash_password(password) if password else None
    now = deployment.clock.now()
    with transaction(deployment.sessions) as session:
        user = session.scalars(select(User).where(User.username == username.strip()[:100])).first()
        row = session.scalars(
            select(EnrolmentCode).where(EnrolmentCode.code_sha256 == token_digest(code.strip())).with_for_update()
        ).first()
        valid = (
            user is not None
            and row is not None
            and row.user_id == user.id
            and row.used_at is None
            and row.expires_at > now
            and not user.disabled
        )
        if valid and user is not None and row is not None:
            row.used_at = now
            if digest is not None:
                user.password_hash = digest
                end_sessions(session, user.id, now)
            token = new_token(session, user, "enrolment")
            ledger.append(
                session,
                ledger.Actor(user.id, user.username),
                events.Enrol(user=user.username, password_set=digest is not None, request=row.request_id),
            )
    if not valid:
        sign_in_throttle.record_failure(deployment, attempt, "unknown, used or expired enrolment code")
        raise NotAuthenticated("enrolment refused: the code is unknown, used or expired for this user")
    return IssuedToken(username.strip(), token)
