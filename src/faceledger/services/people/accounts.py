"""Users, roles, departments, API tokens and passwords.

Tokens are 256 random bits, shown once and stored as SHA-256 (a token is not guessable, so a slow hash
adds nothing); passwords, which people choose, are stored with argon2. A failed or refused sign-in is
on the ledger like any other refusal (throttled and aggregated: services/people/_sign_in_throttle.py).

Changes that give someone power (a new user, roles, re-enabling, credentials) are two-person requests
(services/people/account_requests.py); changes that only take power away (disable, revoke) are immediate."""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from faceledger.errors import Conflict, InvalidInput
from faceledger.policy.governance import Action, ActorView, Role
from faceledger.services.governance.guard import (
    actor_view,
    append,
    find_department,
    find_user,
    governed,
    no_context,
    record_refusal,
)
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.store.governance_models import ApiToken, User, WebSession

AUTHENTICATE = events.EventName.AUTHENTICATE

TOKEN_PREFIX = "flt_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for, not a secret
MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 1024  # argon2 reads every byte; a megabyte password must not cost a megabyte of work
_hasher = PasswordHasher()


@dataclass(frozen=True)
class IssuedToken:
    username: str
    token: str


@dataclass(frozen=True)
class UserPublic:
    username: str
    display_name: str
    department: str
    roles: tuple[str, ...]
    certified_until: date | None
    disabled: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "roles": list(self.roles),
            "certified_until": self.certified_until.isoformat() if self.certified_until else None,
        }


def public(user: User) -> UserPublic:
    return UserPublic(
        user.username, user.display_name, user.department.name, tuple(user.roles), user.certified_until, user.disabled
    )


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise InvalidInput("a user needs at least one role", field="roles")
    try:
        return sorted({Role(role.strip().lower()).value for role in roles})
    except ValueError as exc:
        raise InvalidInput(f"unknown role in {roles}; roles are {', '.join(r.value for r in Role)}") from exc


def check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 100 or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise InvalidInput(f"user name {username!r} must be 1-100 letters, digits, '.', '_' or '-'")
    return name


def new_token(session: Any, user: User, label: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=token_digest(token), label=label))
    return token


def bootstrap_admin(deployment: Deployment, username: str, department: str) -> IssuedToken:
    """The first user, an admin, created with the deployment; refused once any user exists."""
    name = check_username(username)
    with transaction(deployment.sessions) as session:
        if session.scalar(select(func.count()).select_from(User)):
            raise Conflict("this deployment already has users; an admin adds the next ones (faceledger user add)")
        dept = find_department(session, department.strip() or "Administration", create=True)
        user = User(username=name, display_name=name, department_id=dept.id, roles=[Role.ADMIN.value])
        session.add(user)
        session.flush()
        token = new_token(session, user, "created with the deployment")
        ledger.append(
            session,
            ledger.SYSTEM,
            events.UserAdd(user=name, roles=tuple(user.roles), department=dept.name, first_admin=True),
        )
    return IssuedToken(name, token)


def _update_user(
    deployment: Deployment, actor: ActorView, username: str, change: Any, event: events.Event
) -> UserPublic:
    def work(session: Any, _: Any) -> UserPublic:
        user = find_user(session, username)
        change(session, user)
        append(session, actor, event)
        return public(user)

    return governed(deployment, actor, Action.MANAGE_USERS, no_context(deployment), work, subjects={"user": username})


def certify(deployment: Deployment, actor: ActorView, username: str, until: date) -> UserPublic:
    def change(_: Any, user: User) -> None:
        user.certified_until = until

    return _update_user(
        deployment, actor, username, change, events.UserCertify(user=username, certified_until=until.isoformat())
    )


def end_sessions(session: Any, user_id: int, now: datetime) -> int:
    """End every open web session of a user, as at `now` (after a password change, a reset or disabling)."""
    rows = session.scalars(select(WebSession).where(WebSession.user_id == user_id, WebSession.ended_at.is_(None)))
    ended = list(rows)
    for row in ended:
        row.ended_at = now
    return len(ended)


def revoke_all_tokens(session: Any, user_id: int, now: datetime) -> int:
    tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))).all()
    for token in tokens:
        token.revoked_at = now
    return len(tokens)


def disable(deployment: Deployment, actor: ActorView, username: str, reason: str) -> UserPublic:
    """Disabling only restricts, so one admin may do it at once (re-enabling needs two)."""
    if username == actor.name:
        raise InvalidInput("you cannot disable yourself; ask another admin")

    def change(session: Any, user: User) -> None:
        user.disabled = True
        end_sessions(session, user.id, deployment.clock.now())

    return _update_user(deployment, actor, username, change, events.UserDisable(user=username, reason=reason))


def set_password(deployment: Deployment, actor: ActorView, username: str, password: str) -> None:
    """A user changes their own password; every web session of theirs ends. Nobody sets another person's
    password: an admin asks for a credential reset (two-person), and the user enrols again."""
    if username != actor.name:
        raise record_refusal(
            deployment,
            actor,
            Action.MANAGE_USERS,
            [
                "nobody sets another person's password; ask for a credential reset "
                "(faceledger user reset), which a second admin approves"
            ],
            subjects={"user": username},
        )
    digest = hash_password(password)
    with transaction(deployment.sessions) as session:
        user = find_user(session, username)
        user.password_hash = digest
        ended = end_sessions(session, user.id, deployment.clock.now())
        append(session, actor, events.UserPassword(user=username, sessions_ended=ended))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs {MIN_PASSWORD_CHARS} characters at least")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InvalidInput(f"a password has {MAX_PASSWORD_CHARS} characters at most")
    return _hasher.hash(password)


def issue_token(deployment: Deployment, actor: ActorView, username: str, label: str = "") -> IssuedToken:
    """Another API token for oneself, shown once. A token for someone else is a two-person request whose
    code goes to that person (account_requests.request_token), never to the admin."""
    if username != actor.name:
        raise record_refusal(
            deployment,
            actor,
            Action.MANAGE_USERS,
            [
                "an admin cannot issue a token for someone else; ask for one (faceledger user "
                "request-token): a second admin approves and the user receives it"
            ],
            subjects={"user": username},
        )
    with transaction(deployment.sessions) as session:
        user = find_user(session, username)
        if user.disabled:  # disabled since the caller authenticated
            raise InvalidInput(f"user {username} is disabled")
        token = new_token(session, user, label)
        append(session, actor, events.TokenIssue(user=username, label=label))
    return IssuedToken(username, token)


def list_users(deployment: Deployment, actor: ActorView) -> list[UserPublic]:
    def work(session: Any, _: Any) -> list[UserPublic]:
        return [public(user) for user in session.scalars(select(User).order_by(User.username))]

    return governed(deployment, actor, Action.MANAGE_USERS, no_context(deployment), work)


def authenticate_token(deployment: Deployment, token: str | None) -> ActorView:
    """The user a bearer token belongs to; unknown, revoked or disabled is refused and ledgered."""
    if not token or not token.strip():
        raise record_refusal(deployment, None, AUTHENTICATE, ["no API token: set FACELEDGER_TOKEN or pass --token"])
    digest = token_digest(token.strip())
    with deployment.sessions() as session:
        row = session.execute(
            select(ApiToken, User).join(User, ApiToken.user_id == User.id).where(ApiToken.token_sha256 == digest)
        ).first()
        found = (row[0].revoked_at, actor_view(row[1])) if row else None
    if found is None:
        raise record_refusal(
            deployment, None, AUTHENTICATE, ["the API token is not known"], details={"token_sha256_prefix": digest[:12]}
        )
    revoked_at, actor = found
    if revoked_at is not None or actor.disabled:
        reason = "the API token was revoked" if revoked_at is not None else f"user {actor.name} is disabled"
        raise record_refusal(deployment, actor, AUTHENTICATE, [reason], details={"token_sha256_prefix": digest[:12]})
    return actor


def verify_password(deployment: Deployment, username: str, password: str) -> ActorView | None:
    """The user if the password is theirs, else None. An unknown user, or one without a password, is checked
    against a dummy hash, so that the time taken does not tell which user names exist."""
    with deployment.sessions() as session:
        user = session.scalars(select(User).where(User.username == username[:100])).first()
        digest, actor = (user.password_hash, actor_view(user)) if user else (None, None)
    ok: bool = False
    try:
        ok = _hasher.verify(digest or _dummy_hash(), password[:MAX_PASSWORD_CHARS])
    except (VerificationError, InvalidHashError):
        ok = False
    return actor if ok and digest is not None else None


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_hex(16))


def revoke_tokens(deployment: Deployment, actor: ActorView, username: str) -> int:
    """Revoke every token of a user. One's own: anyone. Someone else's: one admin, at once (revoking only
    restricts, so it needs no second admin; a replacement token does)."""

    def work(session: Any, _: Any) -> int:
        user = find_user(session, username)
        count = revoke_all_tokens(session, user.id, deployment.clock.now())
        append(session, actor, events.TokenRevoke(user=username, tokens=count))
        return count

    if username == actor.name:
        with transaction(deployment.sessions) as session:
            return work(session, None)
    return governed(deployment, actor, Action.MANAGE_USERS, no_context(deployment), work, subjects={"user": username})
