"""A policy matrix for `faceledger.policy.governance.decide`, checked against a specification written here
as literal data (deliberately not imported from the module), then focused tests of each prerequisite.

The matrix sweeps every action × single role × authority state × assignment × open/closed case, with every
action-specific prerequisite satisfied, so that only those five factors decide the outcome."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest

from faceledger.policy.governance import (
    Action,
    ActorView,
    AuthorityState,
    AuthorityView,
    CaseView,
    Context,
    Decision,
    ReviewDecision,
    Role,
    blocked_terms,
    decide,
)

# ---------------------------------------------------------------------------------------------------------
# The specification, as data.

EVERY_ROLE = frozenset({"admin", "curator", "analyst", "reviewer", "supervisor", "auditor", "council"})

SPEC_ROLES: dict[str, frozenset[str]] = {
    "manage_users": frozenset({"admin"}),
    "grant_authority": frozenset({"council"}),
    "halt_authority": frozenset({"council", "supervisor"}),
    "resume_authority": frozenset({"council"}),
    "view_authority": EVERY_ROLE,
    "open_case": frozenset({"supervisor"}),
    "assign_case": frozenset({"supervisor"}),
    "close_case": frozenset({"supervisor"}),
    "view_case": frozenset({"analyst", "reviewer", "supervisor", "auditor", "admin"}),
    "search": frozenset({"analyst"}),
    "override_quality": frozenset({"supervisor"}),
    "review": frozenset({"reviewer"}),
    "sign_off": frozenset({"supervisor"}),
    "corroborate": frozenset({"supervisor", "analyst"}),
    "export": frozenset({"supervisor"}),
    "curate_gallery": frozenset({"curator", "admin"}),
    "view_gallery": frozenset({"curator", "admin", "auditor"}),
    "opt_out": frozenset({"curator", "admin"}),
    "run_retention": frozenset({"admin"}),
    "view_ledger": frozenset({"auditor", "admin", "supervisor"}),
    "sign_ledger": frozenset({"auditor", "admin"}),
    "approve_account_change": frozenset({"admin"}),
}
SPEC_NEEDS_ACTIVE = frozenset(
    {"open_case", "assign_case", "search", "override_quality", "review", "sign_off", "corroborate", "export"}
)
SPEC_NEEDS_OPEN_CASE = frozenset(
    {"assign_case", "close_case", "search", "override_quality", "review", "sign_off", "corroborate", "export"}
)
SPEC_HALT_REFUSED_IN = frozenset({"none", "halted"})
SPEC_RESUME_ALLOWED_IN = frozenset({"halted"})
SPEC_GRANT_REFUSED_IN = frozenset({"halted"})  # only resume lifts a halt
SPEC_NEEDS_ASSIGNMENT = frozenset({"search", "review"})
STATES = ("active", "halted", "expired", "not_started", "none")


def expected_allowed(action: str, role: str, state: str, assigned: bool, case_open: bool) -> bool:
    """What the specification says about one combination."""
    if role not in SPEC_ROLES[action]:
        return False
    if action in SPEC_NEEDS_ACTIVE and state != "active":
        return False
    if action == "halt_authority" and state in SPEC_HALT_REFUSED_IN:
        return False
    if action == "resume_authority" and state not in SPEC_RESUME_ALLOWED_IN:
        return False
    if action in SPEC_NEEDS_OPEN_CASE and not case_open:
        return False
    if action == "grant_authority" and state in SPEC_GRANT_REFUSED_IN:
        return False
    if action in SPEC_NEEDS_ASSIGNMENT and not assigned:
        return False
    return not (action == "view_case" and role == "analyst" and not assigned)


# ---------------------------------------------------------------------------------------------------------
# Building views with every prerequisite satisfied.

TODAY = date(2026, 3, 10)
ACTOR_ID = 10
OTHER_USER = 11
SEARCHER_ID = 20
REVIEWER_A = 21
REVIEWER_B = 22
REVIEWER_C = 23
DEPARTMENT = 1
OTHER_DEPARTMENT = 2
PURPOSE = "criminal-investigation"
OFFENCE = "assault"
ATTESTATION = "suspect in the assault complaint 2026-114 seen on bodycam"
REASON = "written reason for the record"


def actor(
    *roles: Role,
    actor_id: int = ACTOR_ID,
    department: int = DEPARTMENT,
    certified_until: date | None = TODAY + timedelta(days=365),
    disabled: bool = False,
) -> ActorView:
    return ActorView(
        id=actor_id,
        name=f"user{actor_id}",
        roles=frozenset(roles),
        department_id=department,
        certified_until=certified_until,
        disabled=disabled,
    )


def authority(
    state: AuthorityState = AuthorityState.ACTIVE,
    purposes: frozenset[str] = frozenset({PURPOSE, "missing-person"}),
    offence_types: frozenset[str] = frozenset({OFFENCE, "robbery"}),
) -> AuthorityView:
    return AuthorityView(state=state, purposes=purposes, offence_types=offence_types)


def case(
    *,
    open_: bool = True,
    assigned: bool = True,
    purpose: str = PURPOSE,
    offence_type: str = OFFENCE,
    department: int = DEPARTMENT,
) -> CaseView:
    return CaseView(
        id=100,
        department_id=department,
        open=open_,
        purpose=purpose,
        offence_type=offence_type,
        assigned=frozenset({ACTOR_ID, OTHER_USER} if assigned else {OTHER_USER}),
    )


def context_for(
    action: Action,
    *,
    state: AuthorityState = AuthorityState.ACTIVE,
    assigned: bool = True,
    case_open: bool = True,
) -> Context:
    """A context that satisfies every prerequisite of `action` except (perhaps) the four varied factors."""
    reviews: tuple[tuple[int, ReviewDecision], ...] = ()
    if action is Action.SIGN_OFF:
        reviews = ((REVIEWER_A, ReviewDecision.POSSIBLE), (REVIEWER_B, ReviewDecision.POSSIBLE))
    return Context(
        today=TODAY,
        authority=authority(state),
        case=case(open_=case_open, assigned=assigned),
        attestation=ATTESTATION,
        reason=REASON,
        searcher_id=SEARCHER_ID,
        reviews=reviews,
        signed_off=action in (Action.EXPORT, Action.CORROBORATE),
        corroborated=action is Action.EXPORT,
    )


def refused_with(decision: Decision, fragment: str) -> bool:
    return not decision.allowed and any(fragment in reason for reason in decision.reasons)


# ---------------------------------------------------------------------------------------------------------
# The matrix.


def test_spec_covers_every_action_and_role() -> None:
    assert set(SPEC_ROLES) == {action.value for action in Action}
    assert {role.value for role in Role} == EVERY_ROLE
    assert {state.value for state in AuthorityState} == set(STATES)


@pytest.mark.parametrize("action", list(Action), ids=lambda action: action.value)
def test_matrix(action: Action) -> None:
    mismatches = []
    checked = 0
    for role, state, assigned, case_open in itertools.product(Role, AuthorityState, (True, False), (True, False)):
        want = expected_allowed(action.value, role.value, state.value, assigned, case_open)
        got = decide(actor(role), action, context_for(action, state=state, assigned=assigned, case_open=case_open))
        checked += 1
        if got.allowed != want:
            mismatches.append(
                f"{action.value} role={role.value} state={state.value} assigned={assigned} case_open={case_open}: "
                f"spec says {'allowed' if want else 'refused'}, module says "
                f"{'allowed' if got.allowed else 'refused'} {list(got.reasons)}"
            )
    assert checked == len(Role) * len(AuthorityState) * 4
    assert not mismatches, f"{len(mismatches)} of {checked} combinations differ:\n" + "\n".join(mismatches)


# ---------------------------------------------------------------------------------------------------------
# The actor: disabled, certification.


def test_baselines_allowed() -> None:
    analyst = actor(Role.ANALYST)
    assert decide(analyst, Action.SEARCH, context_for(Action.SEARCH)).allowed
    assert decide(actor(Role.REVIEWER), Action.REVIEW, context_for(Action.REVIEW)).allowed
    assert decide(actor(Role.SUPERVISOR), Action.SIGN_OFF, context_for(Action.SIGN_OFF)).allowed
    assert decide(actor(Role.SUPERVISOR), Action.EXPORT, context_for(Action.EXPORT)).allowed
    assert decide(analyst, Action.CORROBORATE, context_for(Action.CORROBORATE)).allowed


def test_disabled_user_refused() -> None:
    assert decide(actor(Role.ANALYST), Action.SEARCH, context_for(Action.SEARCH)).allowed
    decision = decide(actor(Role.ANALYST, disabled=True), Action.SEARCH, context_for(Action.SEARCH))
    assert refused_with(decision, "is disabled"), decision


@pytest.mark.parametrize(("action", "role"), [(Action.SEARCH, Role.ANALYST), (Action.REVIEW, Role.REVIEWER)])
def test_expired_certification_refused(action: Action, role: Role) -> None:
    assert decide(actor(role), action, context_for(action)).allowed
    yesterday = TODAY - timedelta(days=1)
    decision = decide(actor(role, certified_until=yesterday), action, context_for(action))
    assert refused_with(decision, f"expired on {yesterday.isoformat()}"), decision


@pytest.mark.parametrize(("action", "role"), [(Action.SEARCH, Role.ANALYST), (Action.REVIEW, Role.REVIEWER)])
def test_missing_certification_refused(action: Action, role: Role) -> None:
    assert decide(actor(role), action, context_for(action)).allowed
    decision = decide(actor(role, certified_until=None), action, context_for(action))
    assert refused_with(decision, "certification is not recorded"), decision


def test_certification_valid_through_today() -> None:
    assert decide(actor(Role.ANALYST, certified_until=TODAY), Action.SEARCH, context_for(Action.SEARCH)).allowed


def test_expired_analyst_may_still_corroborate() -> None:
    expired = actor(Role.ANALYST, certified_until=TODAY - timedelta(days=1))
    assert decide(expired, Action.CORROBORATE, context_for(Action.CORROBORATE)).allowed
    assert decide(
        actor(Role.ANALYST, certified_until=None), Action.CORROBORATE, context_for(Action.CORROBORATE)
    ).allowed


# ---------------------------------------------------------------------------------------------------------
# The search attestation.


def search_with_attestation(attestation: str | None) -> Decision:
    ctx = context_for(Action.SEARCH)
    return decide(
        actor(Role.ANALYST),
        Action.SEARCH,
        Context(
            today=ctx.today,
            authority=ctx.authority,
            case=ctx.case,
            attestation=attestation,
            reason=ctx.reason,
            searcher_id=ctx.searcher_id,
        ),
    )


def test_legitimate_attestation_allowed() -> None:
    assert search_with_attestation("suspect in the assault complaint 2026-114 seen on bodycam").allowed


@pytest.mark.parametrize("attestation", [None, "", "   ", "robbery suspect", "x" * 19, "  " + "x" * 19 + "  "])
def test_empty_or_short_attestation_refused(attestation: str | None) -> None:
    assert search_with_attestation(ATTESTATION).allowed
    decision = search_with_attestation(attestation)
    assert refused_with(decision, "attestation must say why"), decision


def test_attestation_of_exactly_twenty_chars_allowed() -> None:
    assert search_with_attestation("a" * 20).allowed


@pytest.mark.parametrize(
    ("attestation", "purpose"),
    [
        ("identify the protesters at city hall on Monday", "lawful protest"),
        ("immigration status check for this person", "immigration status"),
        ("find out the religion of the man in the photo", "protected traits"),
        ("add this person to the watchlist for later", "general surveillance"),
    ],
)
def test_attestation_naming_blocked_purpose_refused(attestation: str, purpose: str) -> None:
    assert search_with_attestation(ATTESTATION).allowed
    decision = search_with_attestation(attestation)
    assert refused_with(decision, "names a blocked purpose"), decision
    assert refused_with(decision, purpose), decision


# ---------------------------------------------------------------------------------------------------------
# The case purpose and offence type against the authorisation.


def search_on(case_view: CaseView, authority_view: AuthorityView | None = None) -> Decision:
    return decide(
        actor(Role.ANALYST),
        Action.SEARCH,
        Context(today=TODAY, authority=authority_view or authority(), case=case_view, attestation=ATTESTATION),
    )


def test_case_purpose_not_granted_refused() -> None:
    assert search_on(case()).allowed
    decision = search_on(case(purpose="traffic-enforcement"))
    assert refused_with(decision, "is not allowed by the authorisation"), decision


def test_open_case_purpose_not_granted_refused() -> None:
    supervisor = actor(Role.SUPERVISOR)
    assert decide(supervisor, Action.OPEN_CASE, context_for(Action.OPEN_CASE)).allowed
    decision = decide(
        supervisor, Action.OPEN_CASE, Context(today=TODAY, authority=authority(), case=case(purpose="shoplifting-ops"))
    )
    assert refused_with(decision, "is not allowed by the authorisation"), decision


def test_blocked_case_purpose_refused_even_when_granted() -> None:
    blocked = "lawful-protest-monitoring"
    granted = authority(purposes=frozenset({PURPOSE, blocked}))
    assert search_on(case(), granted).allowed
    decision = search_on(case(purpose=blocked), granted)
    assert refused_with(decision, "is blocked"), decision
    assert refused_with(decision, "lawful protest"), decision
    assert refused_with(decision, "general surveillance"), decision


def test_offence_type_outside_grant_refused() -> None:
    assert search_on(case()).allowed
    decision = search_on(case(offence_type="jaywalking"))
    assert refused_with(decision, "offence type 'jaywalking' is not allowed"), decision


def test_empty_offence_types_allow_any() -> None:
    any_offence = authority(offence_types=frozenset())
    assert search_on(case(offence_type="jaywalking"), any_offence).allowed
    assert search_on(case(offence_type="burglary"), any_offence).allowed


# ---------------------------------------------------------------------------------------------------------
# Review.


def review(
    reviewer: ActorView,
    *,
    searcher_id: int = SEARCHER_ID,
    reviews: tuple[tuple[int, ReviewDecision], ...] = (),
) -> Decision:
    return decide(
        reviewer,
        Action.REVIEW,
        Context(today=TODAY, authority=authority(), case=case(), searcher_id=searcher_id, reviews=reviews),
    )


def test_review_baseline_with_earlier_possible_review_allowed() -> None:
    assert review(actor(Role.REVIEWER)).allowed
    assert review(actor(Role.REVIEWER), reviews=((REVIEWER_A, ReviewDecision.POSSIBLE),)).allowed
    assert review(actor(Role.REVIEWER), reviews=((REVIEWER_A, ReviewDecision.INCONCLUSIVE),)).allowed


def test_searcher_cannot_review_own_search() -> None:
    assert review(actor(Role.REVIEWER)).allowed
    decision = review(actor(Role.REVIEWER), searcher_id=ACTOR_ID)
    assert refused_with(decision, "searcher"), decision


def test_same_reviewer_twice_refused() -> None:
    assert review(actor(Role.REVIEWER)).allowed
    decision = review(actor(Role.REVIEWER), reviews=((ACTOR_ID, ReviewDecision.POSSIBLE),))
    assert refused_with(decision, "already reviewed"), decision


def test_no_review_after_a_not_match() -> None:
    assert review(actor(Role.REVIEWER), reviews=((REVIEWER_A, ReviewDecision.POSSIBLE),)).allowed
    decision = review(actor(Role.REVIEWER), reviews=((REVIEWER_A, ReviewDecision.NOT),))
    assert refused_with(decision, "not a match"), decision


def test_reviewer_from_another_department_refused() -> None:
    assert review(actor(Role.REVIEWER)).allowed
    decision = review(actor(Role.REVIEWER, department=OTHER_DEPARTMENT))
    assert refused_with(decision, "not in the case's department"), decision


# ---------------------------------------------------------------------------------------------------------
# Sign-off.

TWO_POSSIBLE = ((REVIEWER_A, ReviewDecision.POSSIBLE), (REVIEWER_B, ReviewDecision.POSSIBLE))


def sign_off(
    supervisor: ActorView,
    reviews: tuple[tuple[int, ReviewDecision], ...] = TWO_POSSIBLE,
    searcher_id: int = SEARCHER_ID,
) -> Decision:
    return decide(
        supervisor,
        Action.SIGN_OFF,
        Context(today=TODAY, authority=authority(), case=case(), searcher_id=searcher_id, reviews=reviews),
    )


def test_sign_off_with_one_possible_refused() -> None:
    assert sign_off(actor(Role.SUPERVISOR)).allowed
    decision = sign_off(actor(Role.SUPERVISOR), ((REVIEWER_A, ReviewDecision.POSSIBLE),))
    assert refused_with(decision, "two independent reviewers"), decision


def test_sign_off_same_reviewer_twice_counts_once() -> None:
    decision = sign_off(
        actor(Role.SUPERVISOR), ((REVIEWER_A, ReviewDecision.POSSIBLE), (REVIEWER_A, ReviewDecision.POSSIBLE))
    )
    assert refused_with(decision, "two independent reviewers"), decision


def test_sign_off_with_a_not_review_refused() -> None:
    assert sign_off(actor(Role.SUPERVISOR)).allowed
    decision = sign_off(actor(Role.SUPERVISOR), (*TWO_POSSIBLE, (REVIEWER_C, ReviewDecision.NOT)))
    assert refused_with(decision, "not a match"), decision


def test_supervisor_who_reviewed_cannot_sign_off() -> None:
    assert sign_off(actor(Role.SUPERVISOR)).allowed
    decision = sign_off(actor(Role.SUPERVISOR, actor_id=REVIEWER_A))
    assert refused_with(decision, "must not be the searcher or one of its reviewers"), decision


def test_supervisor_who_searched_cannot_sign_off() -> None:
    assert sign_off(actor(Role.SUPERVISOR)).allowed
    decision = sign_off(actor(Role.SUPERVISOR), searcher_id=ACTOR_ID)
    assert refused_with(decision, "must not be the searcher or one of its reviewers"), decision


def test_sign_off_with_two_possible_and_an_inconclusive_allowed() -> None:
    assert sign_off(actor(Role.SUPERVISOR), (*TWO_POSSIBLE, (REVIEWER_C, ReviewDecision.INCONCLUSIVE))).allowed


# ---------------------------------------------------------------------------------------------------------
# Export.


def export(*, signed_off: bool, corroborated: bool) -> Decision:
    return decide(
        actor(Role.SUPERVISOR),
        Action.EXPORT,
        Context(today=TODAY, authority=authority(), case=case(), signed_off=signed_off, corroborated=corroborated),
    )


def test_export_needs_sign_off() -> None:
    assert export(signed_off=True, corroborated=True).allowed
    decision = export(signed_off=False, corroborated=True)
    assert refused_with(decision, "signed off"), decision


def test_export_needs_corroboration() -> None:
    assert export(signed_off=True, corroborated=True).allowed
    decision = export(signed_off=True, corroborated=False)
    assert refused_with(decision, "corroborating"), decision


# ---------------------------------------------------------------------------------------------------------
# Every reason at once; blocked terms.


def test_refusal_lists_every_reason() -> None:
    assert decide(actor(Role.ANALYST), Action.SEARCH, context_for(Action.SEARCH)).allowed
    decision = decide(
        actor(Role.ANALYST, certified_until=None),
        Action.SEARCH,
        Context(
            today=TODAY,
            authority=authority(AuthorityState.HALTED),
            case=case(assigned=False),
            attestation="",
        ),
    )
    assert not decision.allowed
    assert len(decision.reasons) >= 4, decision.reasons
    for fragment in ("certification", "halted", "not assigned", "attestation"):
        assert any(fragment in reason for reason in decision.reasons), (fragment, decision.reasons)


def test_blocked_terms() -> None:
    assert blocked_terms("Protest-monitoring")
    assert blocked_terms("assault near the march for fitness") == []
    assert blocked_terms(ATTESTATION) == []
