"""Users, roles, departments, API tokens and passwords.

Tokens are 256 random bits, shown once and stored as SHA-256 (a token is not guessable, so a slow hash
adds nothing); passwords, which people choose, are stored with argon2. A failed or refused sign-in is
on the ledger like any other refusal."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from faceledger.errors import Conflict, InvalidInput
from faceledger.policy.governance import Action, ActorView, Role
from faceledger.services.deployment import Deployment
from faceledger.services.guard import (
    actor_view,
    append,
    find_department,
    find_user,
    governed,
    no_context,
    record_refusal,
)
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.governance_models import ApiToken, User

TOKEN_PREFIX = "flt_"  # noqa: S105 - a marker that makes leaked tokens easy to scan for, not a secret
MIN_PASSWORD_CHARS = 12
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
        return {**self.__dict__, "roles": list(self.roles),
                "certified_until": self.certified_until.isoformat() if self.certified_until else None}  # fmt: skip


def public(user: User) -> UserPublic:
    return UserPublic(user.username, user.display_name, user.department.name, tuple(user.roles),
                      user.certified_until, user.disabled)  # fmt: skip


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _parse_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise InvalidInput("a user needs at least one role (--role)")
    try:
        return sorted({Role(role.strip().lower()).value for role in roles})
    except ValueError as exc:
        raise InvalidInput(f"unknown role in {roles}; roles are {', '.join(r.value for r in Role)}") from exc


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 100 or not all(ch.isalnum() or ch in "._-" for ch in name):
        raise InvalidInput(f"user name {username!r} must be 1-100 letters, digits, '.', '_' or '-'")
    return name


def _new_token(session: Any, user: User, label: str) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_sha256=token_digest(token), label=label))
    return token


def bootstrap_admin(deployment: Deployment, username: str, department: str) -> IssuedToken:
    """The first user, an admin, created with the deployment; refused once any user exists."""
    name = _check_username(username)
    with transaction(deployment.sessions) as session:
        if session.scalar(select(func.count()).select_from(User)):
            raise Conflict("this deployment already has users; an admin adds the next ones (faceledger user add)")
        dept = find_department(session, department.strip() or "Administration", create=True)
        user = User(username=name, display_name=name, department_id=dept.id, roles=[Role.ADMIN.value])
        session.add(user)
        session.flush()
        token = _new_token(session, user, "created with the deployment")
        ledger.append(session, ledger.SYSTEM, "user_add", subjects={"user": name},
                      details={"roles": user.roles, "department": dept.name, "first_admin": True})  # fmt: skip
    return IssuedToken(name, token)


def add_user(
    deployment: Deployment,
    actor: ActorView,
    username: str,
    *,
    roles: list[str],
    department: str,
    display_name: str = "",
    certified_until: date | None = None,
) -> IssuedToken:
    name, role_names = _check_username(username), _parse_roles(roles)

    def work(session: Any, _: Any) -> IssuedToken:
        if session.scalars(select(User).where(User.username == name)).first() is not None:
            raise Conflict(f"a user named {name!r} exists")
        dept = find_department(session, department.strip(), create=True)
        user = User(username=name, display_name=display_name or name, department_id=dept.id, roles=role_names,
                    certified_until=certified_until)  # fmt: skip
        session.add(user)
        session.flush()
        token = _new_token(session, user, "created with the user")
        append(session, actor, "user_add", subjects={"user": name},
               details={"roles": role_names, "department": dept.name,
                        "certified_until": certified_until.isoformat() if certified_until else None})  # fmt: skip
        return IssuedToken(name, token)

    return governed(deployment, actor, Action.MANAGE_USERS, no_context, work, subjects={"user": name})


def _update_user(deployment: Deployment, actor: ActorView, username: str, verb: str, change: Any,
                 details: dict[str, Any]) -> UserPublic:  # fmt: skip
    def work(session: Any, _: Any) -> UserPublic:
        user = find_user(session, username)
        change(user)
        append(session, actor, verb, subjects={"user": username}, details=details)
        return public(user)

    return governed(deployment, actor, Action.MANAGE_USERS, no_context, work, subjects={"user": username})


def certify(deployment: Deployment, actor: ActorView, username: str, until: date) -> UserPublic:
    def change(user: User) -> None:
        user.certified_until = until

    return _update_user(deployment, actor, username, "user_certify", change, {"certified_until": until.isoformat()})


def disable(deployment: Deployment, actor: ActorView, username: str, reason: str) -> UserPublic:
    if username == actor.name:
        raise InvalidInput("you cannot disable yourself; ask another admin")

    def change(user: User) -> None:
        user.disabled = True

    return _update_user(deployment, actor, username, "user_disable", change, {"reason": reason})


def set_roles(deployment: Deployment, actor: ActorView, username: str, roles: list[str]) -> UserPublic:
    role_names = _parse_roles(roles)

    def change(user: User) -> None:
        user.roles = role_names

    return _update_user(deployment, actor, username, "user_roles", change, {"roles": role_names})


def set_password(deployment: Deployment, actor: ActorView, username: str, password: str) -> None:
    """An admin sets anyone's password; a user sets their own."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise InvalidInput(f"a password needs {MIN_PASSWORD_CHARS} characters at least")
    digest = _hasher.hash(password)

    def change(user: User) -> None:
        user.password_hash = digest

    if username == actor.name:
        with transaction(deployment.sessions) as session:
            change(find_user(session, username))
            append(session, actor, "user_password", subjects={"user": username})
        return
    _update_user(deployment, actor, username, "user_password", change, {})


def issue_token(deployment: Deployment, actor: ActorView, username: str, label: str = "") -> IssuedToken:
    def work(session: Any, _: Any) -> IssuedToken:
        user = find_user(session, username)
        token = _new_token(session, user, label)
        append(session, actor, "token_issue", subjects={"user": username}, details={"label": label})
        return IssuedToken(username, token)

    return governed(deployment, actor, Action.MANAGE_USERS, no_context, work, subjects={"user": username})


def list_users(deployment: Deployment, actor: ActorView) -> list[UserPublic]:
    def work(session: Any, _: Any) -> list[UserPublic]:
        return [public(user) for user in session.scalars(select(User).order_by(User.username))]

    return governed(deployment, actor, Action.MANAGE_USERS, no_context, work)


def authenticate_token(deployment: Deployment, token: str | None) -> ActorView:
    """The user a bearer token belongs to; unknown, revoked or disabled is refused and ledgered."""
    if not token or not token.strip():
        raise record_refusal(deployment, None, "authenticate", ["no API token: set FACELEDGER_TOKEN or pass --token"])
    digest = token_digest(token.strip())
    with deployment.sessions() as session:
        row = session.execute(select(ApiToken, User).join(User, ApiToken.user_id == User.id)
                              .where(ApiToken.token_sha256 == digest)).first()  # fmt: skip
        found = (row[0].revoked_at, actor_view(row[1])) if row else None
    if found is None:
        raise record_refusal(deployment, None, "authenticate", ["the API token is not known"],
                             details={"token_sha256_prefix": digest[:12]})  # fmt: skip
    revoked_at, actor = found
    if revoked_at is not None or actor.disabled:
        reason = "the API token was revoked" if revoked_at is not None else f"user {actor.name} is disabled"
        raise record_refusal(deployment, actor, "authenticate", [reason], details={"token_sha256_prefix": digest[:12]})
    return actor


def authenticate_password(deployment: Deployment, username: str, password: str) -> ActorView:
    with deployment.sessions() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        stored = (user.password_hash, actor_view(user)) if user else (None, None)
    digest, actor = stored
    try:
        ok = digest is not None and _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or actor is None:
        raise record_refusal(deployment, None, "authenticate", ["wrong user name or password"],
                             details={"username": username[:100]})  # fmt: skip
    if actor.disabled:
        raise record_refusal(deployment, actor, "authenticate", [f"user {actor.name} is disabled"])
    return actor


def revoke_tokens(deployment: Deployment, actor: ActorView, username: str) -> int:
    def work(session: Any, _: Any) -> int:
        user = find_user(session, username)
        tokens = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id,
                                                        ApiToken.revoked_at.is_(None))).all()  # fmt: skip
        for token in tokens:
            token.revoked_at = datetime.now(UTC)
        append(session, actor, "token_revoke", subjects={"user": username}, details={"tokens": len(tokens)})
        return len(tokens)

    return governed(deployment, actor, Action.MANAGE_USERS, no_context, work, subjects={"user": username})
