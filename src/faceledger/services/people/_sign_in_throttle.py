"""Password sign-in with a throttle: failures are counted per account and per source address in the
database (so every server process sees them), and too many within a window lock that account or address
out for a while, the right password included.

Failures are ledgered without the typed text: a known user by name, anything else as "unknown user" with
a keyed hash (the same typed name gives the same hash, so an auditor can see one name being tried, but
the ledger never holds what was typed). One entry per source and minute, with the count since the entry
before, so that a flood of wrong passwords cannot fill the ledger; every lockout has an entry of its own."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from faceledger.errors import NotAuthenticated, TooManyAttempts
from faceledger.policy.governance import ActorView
from faceledger.services.governance.guard import as_ledger_actor, record_refusal
from faceledger.services.people.accounts import verify_password
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName, Refusal, SignInLockout
from faceledger.store.governance_models import SignInThrottle, User

UNKNOWN_SOURCE = "unknown"


@dataclass(frozen=True)
class Attempt:
    """One sign-in (or enrolment) attempt: the keys it is counted under and how the ledger names it."""

    account_key: str
    source_key: str
    source: str
    user_label: str  # the user's name when it exists, else "unknown user"
    user_ref: str  # a keyed hash of the typed name


def _keyed(deployment: Deployment, kind: str, text: str) -> str:
    return hmac.new(deployment.keys.data_key(), f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()[:40]


def attempt_for(deployment: Deployment, username: str, source: str) -> Attempt:
    name, where = username.strip()[:100], (source or UNKNOWN_SOURCE)[:64]
    with deployment.sessions() as session:
        known = session.scalars(select(User.id).where(User.username == name)).first() is not None
    ref = _keyed(deployment, "user", name.lower())
    return Attempt(
        f"user:{ref}",
        f"source:{_keyed(deployment, 'source', where)}",
        where,
        name if known else "unknown user",
        ref[:16],
    )


def _row(session: Session, key: str) -> SignInThrottle | None:
    return session.scalars(select(SignInThrottle).where(SignInThrottle.key == key).with_for_update()).first()


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


def check_not_locked(deployment: Deployment, attempt: Attempt) -> None:
    """Refuse at once, before any password is checked, while the account or the address is locked out."""
    now = deployment.clock.now()
    with deployment.sessions() as session:
        rows = session.scalars(
            select(SignInThrottle).where(SignInThrottle.key.in_([attempt.account_key, attempt.source_key]))
        ).all()
        until = max((r.locked_until for r in rows if r.locked_until and r.locked_until > now), default=None)
    if until is not None:
        record_failure(deployment, attempt, "locked out")
        raise TooManyAttempts(
            f"too many failed sign-ins; try again in {_minutes((until - now).total_seconds())} minutes"
        )


def record_failure(deployment: Deployment, attempt: Attempt, reason: str) -> None:
    """Count a failure under both keys; lock a key out when it reaches its limit; ledger it aggregated."""
    for tries in range(3):  # two processes may insert the same new key at once; the loser retries
        try:
            _record_failure(deployment, attempt, reason)
            return
        except IntegrityError:
            if tries == 2:
                raise


def _record_failure(deployment: Deployment, attempt: Attempt, reason: str) -> None:
    settings, now = deployment.settings, deployment.clock.now()
    window, lockout = timedelta(seconds=settings.sign_in_window_s), timedelta(seconds=settings.sign_in_lockout_s)
    limits = {
        attempt.account_key: settings.sign_in_max_failures,
        attempt.source_key: settings.sign_in_max_failures_per_source,
    }
    minute = now.strftime("%Y-%m-%dT%H:%M")
    with transaction(deployment.sessions) as session:
        locked_now, source_row = [], None
        for key, limit in limits.items():
            row = _row(session, key)
            if row is None:
                row = SignInThrottle(key=key, failures=0, window_started_at=now, ledgered_minute="", unledgered=0)
                session.add(row)
            if now - row.window_started_at > window:
                row.failures, row.window_started_at = 0, now
            row.failures += 1
            if row.failures >= limit and not (row.locked_until and row.locked_until > now):
                row.locked_until = now + lockout
                locked_now.append("account" if key == attempt.account_key else "source address")
            if key == attempt.source_key:
                source_row = row
        session.flush()
        details = {"user": attempt.user_label, "user_ref": attempt.user_ref, "source": attempt.source}
        if source_row is not None and source_row.ledgered_minute != minute:
            failures = source_row.unledgered + 1
            source_row.ledgered_minute, source_row.unledgered = minute, 0
            refusal = Refusal(action=EventName.AUTHENTICATE, asked={**details, "failures_since_last_entry": failures})
            ledger.append(session, as_ledger_actor(None), refusal, reasons=[f"sign-in failed: {reason}"])
        elif source_row is not None:
            source_row.unledgered += 1
        for what in locked_now:
            locked_out = SignInLockout(**details, locked=what, lockout_s=settings.sign_in_lockout_s)
            ledger.append(
                session, as_ledger_actor(None), locked_out, reasons=[f"too many failed sign-ins for this {what}"]
            )


def clear_account(deployment: Deployment, attempt: Attempt) -> None:
    """A successful sign-in resets the account's count (not the address's: one right password among many
    wrong ones from an address must not wipe the evidence of guessing)."""
    with transaction(deployment.sessions) as session:
        row = _row(session, attempt.account_key)
        if row is not None and not (row.locked_until and row.locked_until > deployment.clock.now()):
            row.failures = 0


def authenticate_password(deployment: Deployment, username: str, password: str, source: str = "") -> ActorView:
    """The user whose password this is; refused (and counted) otherwise, and refused while locked out."""
    attempt = attempt_for(deployment, username, source)
    check_not_locked(deployment, attempt)
    actor = verify_password(deployment, username, password)
    if actor is None:
        record_failure(deployment, attempt, "wrong user name or password")
        raise NotAuthenticated("sign-in refused: wrong user name or password")
    if actor.disabled:
        raise record_refusal(deployment, actor, EventName.AUTHENTICATE, [f"user {actor.name} is disabled"])
    clear_account(deployment, attempt)
    return actor
