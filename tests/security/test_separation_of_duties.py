"""H5: one admin cannot manufacture a confirmed lead. The council (not an admin) grants; a change that gives
power needs a second admin; a new account's credential goes to its user, never to an admin; one person
never both searches and reviews or signs off; the anomaly audit flags accounts made by the same admins
working one case."""

from __future__ import annotations

import importlib
import stat
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from faceledger.errors import PolicyDenied
from faceledger.services.governance import authority
from faceledger.services.oversight.anomalies import find_anomalies
from faceledger.services.people import accounts
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events, ledger
from faceledger.store.db import transaction
from faceledger.store.governance_models import Case
from tests import entries
from tests.office import DEPARTMENT, PURPOSE, Office, make_office


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    return make_office(make_deployment())


def new_api() -> Any:
    return importlib.import_module("faceledger.services.people.account_requests")


def test_an_admin_cannot_grant_the_authorisation(make_deployment: Callable[..., Deployment]) -> None:
    office = make_office(make_deployment(), grant=False)
    with pytest.raises(PolicyDenied):
        authority.grant(
            office.deployment,
            office.admin,
            reference="Res. 1",
            purposes=[PURPOSE],
            offence_types=[],
            starts_on=office.today(),
            ends_on=office.today() + timedelta(days=30),
            max_candidates=5,
        )
    assert authority.status(office.deployment, office.auditor).state.value == "none"


def test_an_admin_alone_never_holds_a_new_accounts_credential(office: Office) -> None:
    until = office.today() + timedelta(days=365)
    add_user = getattr(accounts, "add_user", None)
    if add_user is not None:  # the old surface handed the admin the new user's token
        issued = add_user(
            office.deployment, office.admin, "mallory", roles=["analyst"], department=DEPARTMENT, certified_until=until
        )
        with pytest.raises(PolicyDenied):
            accounts.authenticate_token(office.deployment, issued.token)
        return
    asked = new_api().request_user(
        office.deployment, office.admin, "mallory", roles=["analyst"], department=DEPARTMENT, certified_until=until
    )
    assert asked.status == "pending" and "token" not in str(asked.to_dict())
    with pytest.raises(PolicyDenied, match="cannot approve it"):
        new_api().approve(office.deployment, office.admin, asked.id)
    approved = new_api().approve(office.deployment, office.admin2, asked.id)
    outbox = new_api().outbox_dir(office.deployment)
    delivered = outbox / "mallory.txt"
    assert approved.delivered_to == str(delivered) and not outbox.is_relative_to(office.deployment.data_dir)
    assert stat.S_IMODE(delivered.stat().st_mode) == 0o600
    code = next(line.split(": ", 1)[1] for line in delivered.read_text().splitlines() if line.startswith("code:"))
    assert code not in " ".join(e.details for e in office.entries())
    issued = new_api().enrol(office.deployment, "mallory", code, "a password of my own")
    assert accounts.authenticate_token(office.deployment, issued.token).name == "mallory"
    with pytest.raises(PolicyDenied, match="unknown, used or expired"):
        new_api().enrol(office.deployment, "mallory", code)  # one time only


def test_an_admin_cannot_issue_a_token_or_set_a_password_for_a_real_supervisor(office: Office) -> None:
    with pytest.raises(PolicyDenied):
        accounts.issue_token(office.deployment, office.admin, "supervisor", "act as them")
    with pytest.raises(PolicyDenied):
        accounts.set_password(office.deployment, office.admin, "supervisor", "now I know it too")
    assert [e.action for e in office.entries(outcome=ledger.REFUSED)[-2:]] == ["manage_users", "manage_users"]


@pytest.mark.parametrize("roles", [("analyst", "reviewer"), ("analyst", "supervisor"), ("admin", "council")])
def test_one_person_cannot_hold_conflicting_roles(office: Office, roles: tuple[str, ...]) -> None:
    with pytest.raises(PolicyDenied, match="may not hold both"):
        office.add("dual", *roles)
    assert "dual" not in office.people


def test_a_role_change_into_conflict_is_refused_and_others_need_a_second_admin(office: Office) -> None:
    with pytest.raises(PolicyDenied, match="may not hold both"):
        new_api().request_roles(office.deployment, office.admin, "analyst", ["analyst", "reviewer"])
    asked = new_api().request_roles(office.deployment, office.admin, "curator", ["curator", "auditor"])
    assert sorted(office.curator.roles) == ["curator"] and asked.status == "pending"
    new_api().approve(office.deployment, office.admin2, asked.id)
    assert sorted(accounts.authenticate_token(office.deployment, office.tokens["curator"]).roles) == [
        "auditor",
        "curator",
    ]


def test_bootstrap_only_the_second_admin_is_made_alone(make_deployment: Callable[..., Deployment]) -> None:
    deployment = make_deployment()
    first = accounts.authenticate_token(deployment, accounts.bootstrap_admin(deployment, "root", DEPARTMENT).token)
    second = new_api().request_user(deployment, first, "root2", roles=["admin"], department=DEPARTMENT)
    assert second.status == "approved"
    third = new_api().request_user(deployment, first, "root3", roles=["admin"], department=DEPARTMENT)
    analyst = new_api().request_user(deployment, first, "ann", roles=["analyst"], department=DEPARTMENT)
    assert (third.status, analyst.status) == ("pending", "pending")
    with deployment.sessions() as session:
        approvals = [e for e in ledger.entries(session, limit=1000) if e.action == "account_approve"]
    assert len(approvals) == 1 and '"bootstrap_second_admin":true' in approvals[0].details


def test_anomaly_audit_flags_new_accounts_from_the_same_admins_working_one_case(office: Office) -> None:
    with transaction(office.deployment.sessions) as session:
        case_id = session.scalars(select(Case.id).where(Case.number == "C-1")).one()
        done = (
            (office.analyst, entries.search(case_id, "ab" * 32, (1,))),
            (office.reviewer1, entries.review(1, "possible")),
            (office.reviewer2, entries.review(1, "possible")),
            (office.supervisor, events.SignOff(candidate=1, note="")),
        )
        for who, event in done:
            ledger.append(session, ledger.Actor(who.id, who.name), event, case_id=case_id)
    found = find_anomalies(office.deployment, office.auditor, hours=(0, 24))
    flagged = [f for f in found if f.kind.value == "new_accounts_casework"]
    assert flagged, [f.kind.value for f in found]
    assert "requested by admin and approved by admin2" in flagged[0].summary
    assert {"analyst", "reviewer1", "reviewer2", "supervisor"} <= set(flagged[0].actor.split(", "))


def test_over_http_the_admin_gets_no_token_and_the_user_enrols_on_the_page(
    make_deployment: Callable[..., Deployment],
) -> None:
    from fastapi.testclient import TestClient

    from faceledger.api.app import create_app
    from tests.office import outbox_code

    office = make_office(make_deployment(), grant=False)
    with TestClient(create_app(office.deployment.settings, office.deployment.data_dir)) as client:
        admin = {"Authorization": f"Bearer {office.tokens['admin']}"}
        made = client.post(
            "/api/v1/users", headers=admin, json={"username": "mallory", "roles": ["analyst"], "department": DEPARTMENT}
        )
        assert made.status_code == 201 and "token" not in made.json() and made.json()["status"] == "pending"
        other = client.post("/api/v1/users/supervisor/tokens", headers=admin, json={"label": "act as them"})
        assert "token" not in other.json() and other.json()["status"] == "pending"
        self_approval = client.post(f"/api/v1/account-requests/{made.json()['id']}/approve", headers=admin, json={})
        assert self_approval.status_code == 403
        admin2 = {"Authorization": f"Bearer {office.tokens['admin2']}"}
        approved = client.post(f"/api/v1/account-requests/{made.json()['id']}/approve", headers=admin2, json={})
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        page = client.get("/ui/enrol")
        csrf = page.cookies.get("faceledger_enrol_csrf") or client.cookies.get("faceledger_enrol_csrf")
        form = {
            "username": "mallory",
            "code": outbox_code(office.deployment, "mallory"),
            "password": "mallory's own password",
            "csrf_token": csrf,
        }
        enrolled = client.post("/ui/enrol", data=form)
        assert enrolled.status_code == 200 and "flt_" in enrolled.text
        again = client.post("/ui/enrol", data=form)
        assert again.status_code == 401 and "flt_" not in again.text
