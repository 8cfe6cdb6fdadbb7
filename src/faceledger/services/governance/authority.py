"""The council's authorisation and the kill switch: grant, halt, resume, status."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

from sqlalchemy.orm import Session

from faceledger.errors import FaceledgerError, InvalidInput, NotFound
from faceledger.policy.governance import Action, ActorView, AuthorityState, Context, blocked_terms
from faceledger.policy.operating_threshold import OperatingThreshold
from faceledger.services.governance.guard import (
    append,
    authority_state,
    authority_view,
    current_authorisation,
    governed,
    no_context,
    record_refusal,
)
from faceledger.services.governance.operating_threshold import current_threshold
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.governance_models import Authorisation

MAX_CANDIDATES_CEILING = 50


@dataclass(frozen=True)
class AuthorityStatus:
    state: AuthorityState
    reference: str = ""
    purposes: tuple[str, ...] = ()
    offence_types: tuple[str, ...] = ()
    starts_on: date | None = None
    ends_on: date | None = None
    max_candidates: int = 0
    halt_reason: str = ""
    days_left: int | None = None  # of an active grant, counted from the deployment's today
    # What a search would promise now (status only): the threshold for the gallery's size, or why none.
    operating: OperatingThreshold | None = None
    operating_problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reference": self.reference,
            "purposes": list(self.purposes),
            "offence_types": list(self.offence_types),
            "max_candidates": self.max_candidates,
            "starts_on": self.starts_on.isoformat() if self.starts_on else None,
            "ends_on": self.ends_on.isoformat() if self.ends_on else None,
            "days_left": self.days_left,
            "halt_reason": self.halt_reason,
            **self._operating_dict(),
        }

    def _operating_dict(self) -> dict[str, Any]:
        if self.operating is not None:
            return {"operating_threshold": self.operating.to_dict()}
        if self.operating_problem:
            return {"operating_threshold": {"problem": self.operating_problem}}
        return {}


def _status(grant: Authorisation | None, on: date) -> AuthorityStatus:
    """The grant as it stands on day `on`."""
    if grant is None:
        return AuthorityStatus(AuthorityState.NONE)
    state = authority_state(grant, on)
    return AuthorityStatus(
        state,
        grant.reference,
        tuple(grant.purposes),
        tuple(grant.offence_types),
        grant.starts_on,
        grant.ends_on,
        grant.max_candidates,
        grant.halt_reason,
        (grant.ends_on - on).days if state is AuthorityState.ACTIVE else None,
    )


def slug(text: str) -> str:
    """Purposes and offence types are short names compared exactly: lower case, hyphens for spaces."""
    return "-".join(text.strip().lower().replace("_", " ").split())


def status(deployment: Deployment, actor: ActorView) -> AuthorityStatus:
    def work(session: Session, context: Context) -> AuthorityStatus:
        return _status(current_authorisation(session), context.today)

    found = governed(deployment, actor, Action.VIEW_AUTHORITY, no_context(deployment), work)
    try:
        return replace(found, operating=current_threshold(deployment))
    except FaceledgerError as exc:  # e.g. no calibration table for this pipeline: say so, status still shows
        return replace(found, operating_problem=str(exc))


def grant(
    deployment: Deployment,
    actor: ActorView,
    *,
    reference: str,
    purposes: list[str],
    offence_types: list[str],
    starts_on: date,
    ends_on: date,
    max_candidates: int,
    allows_bulk_video: bool = False,
) -> AuthorityStatus:
    """Record the council's grant; it replaces the one before it."""
    allowed = sorted({slug(p) for p in purposes if p.strip()})
    offences = sorted({slug(o) for o in offence_types if o.strip()})
    problems = _grant_problems(reference, allowed, starts_on, ends_on, max_candidates)
    problems += [("ends_on", problem) for problem in _date_problems(deployment, starts_on, ends_on)]
    if problems:
        fields = {field for field, _ in problems}
        raise InvalidInput("; ".join(text for _, text in problems), field=fields.pop() if len(fields) == 1 else None)
    blocked = [f"{p}: {hit}" for p in allowed for hit in blocked_terms(p)]
    details = {
        "reference": reference,
        "purposes": allowed,
        "offence_types": offences,
        "starts_on": starts_on.isoformat(),
        "ends_on": ends_on.isoformat(),
        "max_candidates": max_candidates,
        "allows_bulk_video": allows_bulk_video,
    }
    if blocked:
        raise record_refusal(
            deployment,
            actor,
            Action.GRANT_AUTHORITY,
            [f"no grant can allow a blocked purpose ({b})" for b in blocked],
            details=details,
        )

    def work(session: Session, context: Context) -> AuthorityStatus:
        row = Authorisation(
            reference=reference.strip(),
            purposes=allowed,
            offence_types=offences,
            starts_on=starts_on,
            ends_on=ends_on,
            max_candidates=max_candidates,
            allows_bulk_video=allows_bulk_video,
            granted_by=actor.id,
        )
        session.add(row)
        session.flush()
        append(
            session,
            actor,
            events.GrantAuthority(
                authorisation=row.id,
                reference=reference,
                purposes=tuple(allowed),
                offence_types=tuple(offences),
                starts_on=starts_on.isoformat(),
                ends_on=ends_on.isoformat(),
                max_candidates=max_candidates,
                allows_bulk_video=allows_bulk_video,
            ),
        )
        return _status(row, context.today)

    def context(session: Session) -> Context:  # a halted grant is not lifted by a new one: only by resume
        day = deployment.clock.today()
        return Context(day, authority_view(session, day, lock=True))

    return governed(deployment, actor, Action.GRANT_AUTHORITY, context, work, details=details)


EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)


def _date_problems(deployment: Deployment, starts_on: date, ends_on: date) -> list[str]:
    """Sane bounds: no grant for centuries, none starting long ago (back-dating a grant rewrites history)."""
    settings, problems = deployment.settings, []
    for name, day in (("start", starts_on), ("end", ends_on)):
        if not EARLIEST <= day <= LATEST:
            problems.append(f"the grant's {name} date {day} is outside {EARLIEST.year}-{LATEST.year}")
    if (ends_on - starts_on).days + 1 > settings.authority_max_days:
        problems.append(
            f"a grant lasts at most {settings.authority_max_days} days (the pilot's was 6 months); "
            f"{starts_on} to {ends_on} is {(ends_on - starts_on).days + 1}"
        )
    if starts_on < deployment.clock.today() - timedelta(days=settings.authority_max_backdate_days):
        problems.append(
            f"a grant may start at most {settings.authority_max_backdate_days} days in the past; {starts_on} is earlier"
        )
    return problems


def _grant_problems(
    reference: str, purposes: list[str], starts_on: date, ends_on: date, cap: int
) -> list[tuple[str, str]]:
    """What is wrong with a grant, each with the field it is about."""
    problems = []
    if not reference.strip():
        problems.append(("reference", "the grant needs the council's reference, e.g. a resolution number"))
    if not purposes:
        problems.append(("purposes", "the grant needs at least one allowed purpose"))
    if ends_on < starts_on:  # the end date is the last day in force, so a one-day grant has end == start
        problems.append(("ends_on", f"the grant ends ({ends_on}) before it starts ({starts_on})"))
    if not 1 <= cap <= MAX_CANDIDATES_CEILING:
        problems.append(("max_candidates", f"max candidates must be 1-{MAX_CANDIDATES_CEILING}; got {cap}"))
    return problems


def _in_force(session: Session) -> Authorisation:
    row = current_authorisation(session, lock=True)
    if row is None:  # pragma: no cover - policy refuses halting or resuming nothing
        raise NotFound("no authorisation has been granted")
    return row


def halt(deployment: Deployment, actor: ActorView, reason: str) -> AuthorityStatus:
    """The kill switch: from this commit on, every search, review, sign-off and export is refused."""

    def context(session: Session) -> Context:
        day = deployment.clock.today()
        return Context(day, authority_view(session, day, lock=True), reason=reason)

    def work(session: Session, context: Context) -> AuthorityStatus:
        row = _in_force(session)
        row.halted, row.halt_reason = True, reason.strip()
        append(session, actor, events.HaltAuthority(authorisation=row.id, reason=reason))
        return _status(row, context.today)

    return governed(deployment, actor, Action.HALT_AUTHORITY, context, work, details={"reason": reason})


def resume(deployment: Deployment, actor: ActorView, reason: str = "") -> AuthorityStatus:
    def context(session: Session) -> Context:
        day = deployment.clock.today()
        return Context(day, authority_view(session, day, lock=True))

    def work(session: Session, context: Context) -> AuthorityStatus:
        row = _in_force(session)
        row.halted, row.halt_reason = False, ""
        append(session, actor, events.ResumeAuthority(authorisation=row.id, reason=reason))
        return _status(row, context.today)

    return governed(deployment, actor, Action.RESUME_AUTHORITY, context, work)
