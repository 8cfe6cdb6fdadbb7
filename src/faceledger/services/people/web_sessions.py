"""Browser sign-in: a password checked with argon2 opens a session; the cookie carries a random value
stored as SHA-256, with a per-session CSRF token that every form must echo."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from faceledger.policy.governance import ActorView
from faceledger.services.governance.guard import actor_view, append, record_refusal
from faceledger.services.people._sign_in_throttle import authenticate_password
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.db import transaction
from faceledger.store.governance_models import User, WebSession

SESSION_HOURS = 8


@dataclass(frozen=True)
class OpenSession:
    token: str
    csrf_token: str
    actor: ActorView


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(deployment: Deployment, username: str, password: str, source: str = "") -> OpenSession:
    """`source` is the client's address, for the per-address throttle."""
    actor = authenticate_password(deployment, username, password, source)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with transaction(deployment.sessions) as session:
        session.add(
            WebSession(
                token_sha256=_digest(token),
                user_id=actor.id,
                csrf_token=csrf,
                expires_at=deployment.clock.now() + timedelta(hours=SESSION_HOURS),
            )
        )
        append(session, actor, events.SignIn())
    return OpenSession(token, csrf, actor)


def session_actor(deployment: Deployment, token: str) -> OpenSession:
    """The user a session cookie belongs to; expired, ended or disabled is refused and ledgered."""
    with deployment.sessions() as session:
        row = session.execute(
            select(WebSession, User)
            .join(User, WebSession.user_id == User.id)
            .where(WebSession.token_sha256 == _digest(token))
        ).first()
        found = (row[0].ended_at, row[0].expires_at, row[0].csrf_token, actor_view(row[1])) if row else None
    if found is None:
        raise record_refusal(deployment, None, events.EventName.AUTHENTICATE, ["not signed in: the session is unknown"])
    ended_at, expires_at, csrf, actor = found
    if ended_at is not None or expires_at < deployment.clock.now():
        raise record_refusal(deployment, actor, events.EventName.AUTHENTICATE, ["the session has ended; sign in again"])
    if actor.disabled:
        raise record_refusal(deployment, actor, events.EventName.AUTHENTICATE, [f"user {actor.name} is disabled"])
    return OpenSession(token, csrf, actor)


def sign_out(deployment: Deployment, token: str) -> None:
    with transaction(deployment.sessions) as session:
        row = session.scalars(select(WebSession).where(WebSession.token_sha256 == _digest(token))).first()
        if row is not None and row.ended_at is None:
            row.ended_at = deployment.clock.now()
            user = session.get(User, row.user_id)
            if user is not None:
                append(session, actor_view(user), events.SignOut())
