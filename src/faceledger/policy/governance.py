"""Who may do what, when: pure decisions, no I/O. `decide(actor, action, context)` returns every reason
an action is refused (not just the first), so a refusal tells the person all they must fix.

Rules and where they come from: no search without an active authorisation, an open case the analyst is
assigned to, an allowed purpose and a written attestation (RCW 43.386, Detroit 307.5); blocked purposes
are refused whatever the grant says (Minneapolis 2021); two independent reviewers and a supervisor
before a lead is confirmed, the searcher reviewing nothing of their own (EU AI Act Art. 14(5)); expired
training stops searching and reviewing (RCW 43.386.080)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    CURATOR = "curator"
    ANALYST = "analyst"
    REVIEWER = "reviewer"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    COUNCIL = "council"  # grants, halts and resumes the authorisation; nothing else


class Action(StrEnum):
    MANAGE_USERS = "manage_users"
    GRANT_AUTHORITY = "grant_authority"
    HALT_AUTHORITY = "halt_authority"
    RESUME_AUTHORITY = "resume_authority"
    VIEW_AUTHORITY = "view_authority"
    OPEN_CASE = "open_case"
    ASSIGN_CASE = "assign_case"
    CLOSE_CASE = "close_case"
    VIEW_CASE = "view_case"
    SEARCH = "search"
    OVERRIDE_QUALITY = "override_quality"
    REVIEW = "review"
    SIGN_OFF = "sign_off"
    CORROBORATE = "corroborate"
    EXPORT = "export"
    CURATE_GALLERY = "curate_gallery"
    VIEW_GALLERY = "view_gallery"
    OPT_OUT = "opt_out"
    RUN_RETENTION = "run_retention"
    VIEW_LEDGER = "view_ledger"
    SIGN_LEDGER = "sign_ledger"
    APPROVE_ACCOUNT_CHANGE = "approve_account_change"  # the second admin of the two-person rule


class AuthorityState(StrEnum):
    NONE = "none"
    NOT_STARTED = "not_started"
    ACTIVE = "active"
    HALTED = "halted"
    EXPIRED = "expired"


class ReviewDecision(StrEnum):
    POSSIBLE = "possible"
    NOT = "not"
    INCONCLUSIVE = "inconclusive"


ROLES_FOR: dict[Action, frozenset[Role]] = {
    Action.MANAGE_USERS: frozenset({Role.ADMIN}),
    # Admins make accounts, so they must not also authorise searching: the council does (H5). A halt only
    # restricts, so a supervisor may pull it too; lifting it is the council's alone.
    Action.GRANT_AUTHORITY: frozenset({Role.COUNCIL}),
    Action.HALT_AUTHORITY: frozenset({Role.COUNCIL, Role.SUPERVISOR}),
    Action.RESUME_AUTHORITY: frozenset({Role.COUNCIL}),
    Action.VIEW_AUTHORITY: frozenset(Role),
    Action.OPEN_CASE: frozenset({Role.SUPERVISOR}),
    Action.ASSIGN_CASE: frozenset({Role.SUPERVISOR}),
    Action.CLOSE_CASE: frozenset({Role.SUPERVISOR}),
    Action.VIEW_CASE: frozenset({Role.ANALYST, Role.REVIEWER, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN}),
    Action.SEARCH: frozenset({Role.ANALYST}),
    Action.OVERRIDE_QUALITY: frozenset({Role.SUPERVISOR}),
    Action.REVIEW: frozenset({Role.REVIEWER}),
    Action.SIGN_OFF: frozenset({Role.SUPERVISOR}),
    Action.CORROBORATE: frozenset({Role.SUPERVISOR, Role.ANALYST}),
    Action.EXPORT: frozenset({Role.SUPERVISOR}),
    Action.CURATE_GALLERY: frozenset({Role.CURATOR, Role.ADMIN}),
    Action.VIEW_GALLERY: frozenset({Role.CURATOR, Role.ADMIN, Role.AUDITOR}),
    Action.OPT_OUT: frozenset({Role.CURATOR, Role.ADMIN}),
    Action.RUN_RETENTION: frozenset({Role.ADMIN}),
    Action.VIEW_LEDGER: frozenset({Role.AUDITOR, Role.ADMIN, Role.SUPERVISOR}),
    Action.SIGN_LEDGER: frozenset({Role.AUDITOR, Role.ADMIN}),
    Action.APPROVE_ACCOUNT_CHANGE: frozenset({Role.ADMIN}),
}
# The kill switch: while the authorisation is not active these are refused.
NEEDS_ACTIVE_AUTHORITY = frozenset(
    {
        Action.OPEN_CASE,
        Action.ASSIGN_CASE,
        Action.SEARCH,
        Action.OVERRIDE_QUALITY,
        Action.REVIEW,
        Action.SIGN_OFF,
        Action.CORROBORATE,
        Action.EXPORT,
    }
)
NEEDS_OPEN_CASE = frozenset(
    {
        Action.ASSIGN_CASE,
        Action.CLOSE_CASE,
        Action.SEARCH,
        Action.OVERRIDE_QUALITY,
        Action.REVIEW,
        Action.SIGN_OFF,
        Action.CORROBORATE,
        Action.EXPORT,
    }
)
NEEDS_CERTIFICATION = frozenset({Action.SEARCH, Action.REVIEW})
# Acting on a case needs the case's own department; the auditor and admin oversee every department.
NEEDS_DEPARTMENT = frozenset(
    {
        Action.ASSIGN_CASE,
        Action.CLOSE_CASE,
        Action.VIEW_CASE,
        Action.OVERRIDE_QUALITY,
        Action.REVIEW,
        Action.SIGN_OFF,
        Action.CORROBORATE,
        Action.EXPORT,
    }
)

# Purposes no grant can allow; matched in purpose names and in the searcher's attestation.
BLOCKED_PURPOSES: dict[str, tuple[str, ...]] = {
    "protected traits": (
        "race",
        "racial",
        "ethnicity",
        "ethnic",
        "religion",
        "religious",
        "sexual orientation",
        "gender identity",
        "disability",
        "political affiliation",
        "political opinion",
    ),
    "lawful protest": (
        "protest",
        "protests",
        "protester",
        "protesters",
        "protestor",
        "protestors",
        "demonstrator",
        "demonstrators",
        "rally",
        "picket",
    ),
    "immigration status": (
        "immigration",
        "immigrant",
        "immigrants",
        "undocumented",
        "deportation",
        "citizenship status",
        "visa status",
    ),
    "general surveillance": ("surveillance", "monitoring", "tracking", "watchlist"),
}
MIN_ATTESTATION_CHARS = 20
# Separation of duties: no one holds roles from two of these groups. The searcher must not verify or sign
# off their own lead; whoever makes accounts must not also authorise searching.
CONFLICTING_ROLES: tuple[tuple[frozenset[Role], frozenset[Role]], ...] = (
    (frozenset({Role.ANALYST}), frozenset({Role.REVIEWER, Role.SUPERVISOR})),
    (frozenset({Role.ADMIN}), frozenset({Role.COUNCIL})),
)


@dataclass(frozen=True)
class ActorView:
    id: int
    name: str
    roles: frozenset[Role]
    department_id: int
    certified_until: date | None = None
    disabled: bool = False


@dataclass(frozen=True)
class AuthorityView:
    state: AuthorityState
    purposes: frozenset[str] = frozenset()
    offence_types: frozenset[str] = frozenset()  # empty: any offence type
    allows_bulk_video: bool = False


@dataclass(frozen=True)
class CaseView:
    id: int
    department_id: int
    open: bool
    purpose: str
    offence_type: str
    assigned: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Context:
    today: date
    authority: AuthorityView = field(default_factory=lambda: AuthorityView(AuthorityState.NONE))
    case: CaseView | None = None
    attestation: str | None = None  # SEARCH
    reason: str | None = None  # HALT, OVERRIDE_QUALITY, CORROBORATE
    searcher_id: int | None = None  # REVIEW, SIGN_OFF
    reviews: tuple[tuple[int, ReviewDecision], ...] = ()  # REVIEW, SIGN_OFF: (reviewer id, decision)
    signed_off: bool = False  # SIGN_OFF, CORROBORATE, EXPORT
    corroborated: bool = False  # EXPORT
    bulk_video: bool = False  # SEARCH of every face in a video, not one a person chose
    warrant: str | None = None  # SEARCH with bulk_video: the warrant or exigency reference
    roles_requested: frozenset[Role] = frozenset()  # MANAGE_USERS, APPROVE_ACCOUNT_CHANGE: roles an account gets
    requested_by: int | None = None  # APPROVE_ACCOUNT_CHANGE: the admin who asked for the change


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[str, ...]


def blocked_terms(text: str) -> list[str]:
    """The blocked purposes a text names, as 'lawful protest ("protesters")'."""
    lowered = text.lower().replace("-", " ").replace("_", " ")
    found = []
    for purpose, terms in BLOCKED_PURPOSES.items():
        hits = [term for term in terms if re.search(rf"\b{re.escape(term)}\b", lowered)]
        if hits:
            found.append(f'{purpose} ("{hits[0]}")')
    return found


def decide(actor: ActorView, action: Action, context: Context) -> Decision:
    reasons = [
        *_actor_reasons(actor, action, context),
        *_authority_reasons(action, context),
        *_case_reasons(actor, action, context),
        *_action_reasons(actor, action, context),
    ]
    return Decision(not reasons, tuple(reasons))


def _actor_reasons(actor: ActorView, action: Action, context: Context) -> list[str]:
    if actor.disabled:
        return [f"user {actor.name} is disabled"]
    reasons = []
    allowed = ROLES_FOR[action]
    if not actor.roles & allowed:
        reasons.append(
            f"{action.value.replace('_', ' ')} needs the role {' or '.join(sorted(allowed))}; "
            f"{actor.name} has {', '.join(sorted(actor.roles)) or 'no role'}"
        )
    if action in NEEDS_CERTIFICATION and (actor.certified_until is None or actor.certified_until < context.today):
        when = f"expired on {actor.certified_until.isoformat()}" if actor.certified_until else "is not recorded"
        reasons.append(f"{actor.name}'s training certification {when}")
    return reasons


def _authority_reasons(action: Action, context: Context) -> list[str]:
    state = context.authority.state
    if action in NEEDS_ACTIVE_AUTHORITY and state is not AuthorityState.ACTIVE:
        return [
            {
                AuthorityState.NONE: "no authorisation has been granted",
                AuthorityState.NOT_STARTED: "the authorisation has not started yet",
                AuthorityState.HALTED: "the authorisation is halted",
                AuthorityState.EXPIRED: "the authorisation has expired",
            }[state]
        ]
    if action is Action.GRANT_AUTHORITY and state is AuthorityState.HALTED:
        return ["the authorisation is halted; a new grant cannot lift a halt: the council resumes it first"]
    if action is Action.HALT_AUTHORITY and state in (AuthorityState.NONE, AuthorityState.HALTED):
        return ["there is no authorisation in force to halt"]
    if action is Action.RESUME_AUTHORITY and state is not AuthorityState.HALTED:
        return [f"only a halted authorisation can be resumed; it is {state.value.replace('_', ' ')}"]
    return []


def _case_reasons(actor: ActorView, action: Action, context: Context) -> list[str]:
    case = context.case
    if case is None:
        return ["a case is needed"] if action in NEEDS_OPEN_CASE | NEEDS_DEPARTMENT else []
    reasons = []
    if action in NEEDS_OPEN_CASE and not case.open:
        reasons.append("the case is closed")
    oversees = bool(actor.roles & {Role.AUDITOR, Role.ADMIN}) and action is Action.VIEW_CASE
    if action in NEEDS_DEPARTMENT and case.department_id != actor.department_id and not oversees:
        reasons.append(f"{actor.name} is not in the case's department")
    if action in (Action.SEARCH, Action.REVIEW) and actor.id not in case.assigned:
        reasons.append(f"{actor.name} is not assigned to this case")
    only_analyst = actor.roles == {Role.ANALYST}
    if action is Action.VIEW_CASE and only_analyst and actor.id not in case.assigned:
        reasons.append(f"{actor.name} is not assigned to this case")
    if action in (Action.SEARCH, Action.OPEN_CASE):
        reasons.extend(purpose_reasons(case.purpose, case.offence_type, context.authority))
    return reasons


def purpose_reasons(purpose: str, offence_type: str, authority: AuthorityView) -> list[str]:
    reasons = [f"the purpose {purpose!r} is blocked: {hit}" for hit in blocked_terms(purpose)]
    if authority.state is not AuthorityState.NONE and purpose not in authority.purposes:
        reasons.append(
            f"the purpose {purpose!r} is not allowed by the authorisation "
            f"(allowed: {', '.join(sorted(authority.purposes))})"
        )
    if authority.offence_types and offence_type not in authority.offence_types:
        reasons.append(
            f"the offence type {offence_type!r} is not allowed by the authorisation "
            f"(allowed: {', '.join(sorted(authority.offence_types))})"
        )
    return reasons


def _action_reasons(actor: ActorView, action: Action, context: Context) -> list[str]:
    if action is Action.SEARCH:
        return attestation_reasons(context.attestation or "") + _bulk_video_reasons(context)
    if action in (Action.HALT_AUTHORITY, Action.OVERRIDE_QUALITY, Action.CORROBORATE):
        return [] if (context.reason or "").strip() else [f"{action.value.replace('_', ' ')} needs a written reason"]
    if action is Action.REVIEW:
        return _review_reasons(actor, context)
    if action in (Action.MANAGE_USERS, Action.APPROVE_ACCOUNT_CHANGE):
        return _account_reasons(actor, action, context)
    if action is Action.SIGN_OFF:
        return _signoff_reasons(actor, context)
    if action is Action.EXPORT:
        lead = [] if context.signed_off else ["the lead has not been signed off by a supervisor"]
        return lead + ([] if context.corroborated else ["no corroborating evidence has been recorded"])
    return []


def attestation_reasons(attestation: str) -> list[str]:
    text = attestation.strip()
    if len(text) < MIN_ATTESTATION_CHARS:
        return [
            f"the purpose attestation must say why this search is needed ({MIN_ATTESTATION_CHARS} characters "
            f"at least; got {len(text)})"
        ]
    return [f"the attestation names a blocked purpose: {hit}" for hit in blocked_terms(text)]


def _bulk_video_reasons(context: Context) -> list[str]:
    """Searching a whole video, or every track at once, is automated identification, not a still a person
    chose (RCW 43.386.080): only where the grant allows it and a warrant or exigency is on record."""
    if not context.bulk_video:
        return []
    reasons = []
    if not context.authority.allows_bulk_video:
        reasons.append("the authorisation does not allow searching every face of a video; choose one frame")
    if not (context.warrant or "").strip():
        reasons.append("searching every face of a video needs a warrant or exigency reference")
    return reasons


def _review_reasons(actor: ActorView, context: Context) -> list[str]:
    reasons = []
    if context.searcher_id == actor.id:
        reasons.append("the searcher cannot review their own search")
    if any(reviewer == actor.id for reviewer, _ in context.reviews):
        reasons.append(f"{actor.name} has already reviewed this candidate")
    if any(decision is ReviewDecision.NOT for _, decision in context.reviews):
        reasons.append("a reviewer found this candidate not a match; its review is over")
    if context.signed_off:
        reasons.append("the lead is already signed off")
    return reasons


def _signoff_reasons(actor: ActorView, context: Context) -> list[str]:
    reasons = []
    possible = {reviewer for reviewer, decision in context.reviews if decision is ReviewDecision.POSSIBLE}
    if any(decision is ReviewDecision.NOT for _, decision in context.reviews):
        reasons.append("a reviewer found this candidate not a match")
    elif len(possible) < 2:
        reasons.append(f"two independent reviewers must find a possible match first ({len(possible)} so far)")
    if actor.id == context.searcher_id or actor.id in {reviewer for reviewer, _ in context.reviews}:
        reasons.append("the supervisor signing off must not be the searcher or one of its reviewers")
    if context.signed_off:
        reasons.append("the lead is already signed off")
    return reasons


def role_conflicts(roles: frozenset[Role]) -> list[str]:
    """Why one person may not hold these roles together (separation of duties)."""
    return [
        f"one person may not hold both {' or '.join(sorted(a & roles))} and {' or '.join(sorted(b & roles))}"
        for a, b in CONFLICTING_ROLES
        if roles & a and roles & b
    ]


def _account_reasons(actor: ActorView, action: Action, context: Context) -> list[str]:
    reasons = role_conflicts(context.roles_requested)
    if action is Action.APPROVE_ACCOUNT_CHANGE and context.requested_by == actor.id:
        reasons.append("the admin who asked for an account change cannot approve it; a second admin must")
    return reasons
