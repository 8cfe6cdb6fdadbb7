"""M10 (and H5's council): a grant cannot lift a halt; grants have sane bounds; only the council grants
and resumes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest

from faceledger.errors import InvalidInput, PolicyDenied
from faceledger.policy.governance import ActorView
from faceledger.services.governance import authority
from faceledger.services.runtime.deployment import Deployment
from tests.office import PURPOSE, Office, make_office


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    return make_office(make_deployment())


def granter(office: Office) -> ActorView:
    """Whoever may grant: the council now (the admin on the old code)."""
    return office.people.get("council", office.admin)


def grant(office: Office, who: ActorView, starts: date, ends: date) -> authority.AuthorityStatus:
    return authority.grant(
        office.deployment,
        who,
        reference="Council resolution 2026-15",
        purposes=[PURPOSE],
        offence_types=[],
        starts_on=starts,
        ends_on=ends,
        max_candidates=5,
    )


def test_a_new_grant_does_not_lift_a_halt(office: Office) -> None:
    authority.halt(office.deployment, office.supervisor, "complaint about misuse under review")
    with pytest.raises(PolicyDenied, match="halted"):
        grant(office, granter(office), office.today(), office.today() + timedelta(days=30))
    assert authority.status(office.deployment, office.auditor).state.value == "halted"
    assert office.entries(outcome="refused")[-1].action == "grant_authority"


def on(office: Office, day: date | int) -> date:
    """A date, or a number of days from the deployment's today."""
    return day if isinstance(day, date) else office.today() + timedelta(days=day)


@pytest.mark.parametrize(
    ("starts", "ends", "match"),
    [
        (date(1, 1, 1), date(9999, 12, 31), "outside 2000-2100"),
        (0, 400, "at most 366 days"),
        (-60, 30, "in the past"),
        (10, 0, "before it starts"),
    ],
)
def test_grants_have_sane_bounds(office: Office, starts: date | int, ends: date | int, match: str) -> None:
    before = authority.status(office.deployment, office.auditor)
    with pytest.raises(InvalidInput, match=match):
        grant(office, granter(office), on(office, starts), on(office, ends))
    assert authority.status(office.deployment, office.auditor) == before


def test_the_pilots_six_months_is_accepted(office: Office) -> None:
    state = grant(office, granter(office), office.today(), office.today() + timedelta(days=182))
    assert state.state.value == "active"


def test_an_admin_cannot_grant_or_resume(office: Office) -> None:
    with pytest.raises(PolicyDenied, match="needs the role council"):
        grant(office, office.admin, office.today(), office.today() + timedelta(days=30))
    authority.halt(office.deployment, office.supervisor, "pause")
    with pytest.raises(PolicyDenied, match="needs the role council"):
        authority.resume(office.deployment, office.admin, "lift it")
    with pytest.raises(PolicyDenied, match="needs the role council"):
        authority.resume(office.deployment, office.supervisor, "a halt only restricts; resuming is the council's")
    assert authority.status(office.deployment, office.auditor).state.value == "halted"
