"""M5: another department's supervisor read all of this department's ledger, reports and findings. Now a
supervisor sees only their own department's part (entries about its cases or by its people); auditors (and
admins, and the council) see everything; verification of the chain stays global."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faceledger.api.app import create_app
from faceledger.policy.governance import ActorView, Role
from faceledger.services.oversight import anomalies, audit_ledger, reports
from faceledger.services.runtime.deployment import Deployment
from tests.office import Office, make_office
from tests.security.scoped import add_department_b, case_id, ledger_search


@pytest.fixture
def two_departments(make_deployment: Callable[..., Deployment]) -> Office:
    office = make_office(make_deployment())
    add_department_b(office)
    ledger_search(office, office.analyst, case_id(office, "C-1"), probe="aa" * 32)
    ledger_search(office, office.analyst_b, case_id(office, "B-1"), probe="bb" * 32)
    return office


def _week() -> str:
    year, week, _ = datetime.now(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def test_a_supervisor_lists_only_their_own_departments_ledger(two_departments: Office) -> None:
    office = two_departments
    a_case, b_case = case_id(office, "C-1"), case_id(office, "B-1")
    a_people = {office.people[n].id for n in ("admin", "curator", "supervisor", "analyst", "reviewer1", "auditor")}
    everything = audit_ledger.show(office.deployment, office.auditor, limit=10_000)
    shown_b = audit_ledger.show(office.deployment, office.supervisor_b, limit=10_000)
    assert {e["case_id"] for e in everything} >= {a_case, b_case}
    assert shown_b and all(e["case_id"] == b_case or e["actor"] in {"supervisor_b", "analyst_b"} for e in shown_b)
    assert not [e for e in shown_b if e["case_id"] == a_case or e["actor_id"] in a_people]
    assert not audit_ledger.show(office.deployment, office.supervisor_b, limit=10_000, case_id=a_case)
    shown_a = audit_ledger.show(office.deployment, office.supervisor, limit=10_000)
    assert not [e for e in shown_a if e["case_id"] == b_case]
    checked = audit_ledger.verify(office.deployment, office.supervisor_b).entries
    assert checked >= len(everything) > len(shown_b), "verification covers the whole chain, not the part shown"


def test_usage_report_counts_only_the_supervisors_department(two_departments: Office, tmp_path: Path) -> None:
    office = two_departments

    def read(actor: ActorView) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            reports.usage_report(office.deployment, actor, _week(), tmp_path).json.read_text()
        )
        return data

    mine, everyone = read(office.supervisor_b), read(office.auditor)
    assert everyone["searches"] == 2 and set(everyone["department"]) == {
        "Office of Police Conduct Review",
        "Internal Affairs B",
    }
    assert (
        mine["searches"] == 1 and mine["user"] == {"analyst_b": 1} and set(mine["department"]) == {"Internal Affairs B"}
    )
    facts = json.loads(reports.accountability(office.deployment, office.supervisor_b, tmp_path / "a").json.read_text())
    assert facts["usage"]["user"] == {"analyst_b": 1}


def test_findings_and_violations_are_scoped(two_departments: Office, tmp_path: Path) -> None:
    office = two_departments

    def scan(actor: ActorView) -> list[anomalies.Finding]:
        # every hour a working hour: what is scoped must not depend on when the test runs
        return anomalies.find_anomalies(office.deployment, actor, caseload_ratio=0.5, hours=(0, 24))

    seen_by_auditor = scan(office.auditor)
    assert {f.actor for f in seen_by_auditor} == {"analyst", "analyst_b"}
    assert {f.actor for f in scan(office.supervisor_b)} == {"analyst_b"}
    assert {f.actor for f in scan(office.supervisor)} == {"analyst"}
    for finding in seen_by_auditor:
        anomalies.record_violation(office.deployment, office.auditor, finding)
    assert {v["actor"] for v in anomalies.list_violations(office.deployment, office.supervisor_b)} == {"analyst_b"}
    assert len(anomalies.list_violations(office.deployment, office.auditor)) == 2
    facts = json.loads(reports.accountability(office.deployment, office.supervisor_b, tmp_path / "a").json.read_text())
    assert [v["actor"] for v in facts["violations"]] == ["analyst_b"]


def test_the_api_ledger_is_scoped_too(two_departments: Office) -> None:
    office = two_departments
    app = create_app(office.deployment.settings, office.deployment.data_dir)
    with TestClient(app, raise_server_exceptions=False) as client:
        got = client.get(
            "/api/v1/ledger",
            params={"limit": 1000},
            headers={"Authorization": f"Bearer {office.tokens['supervisor_b']}"},
        )
        assert got.status_code == 200 and got.json()
        assert {e["actor"] for e in got.json()} <= {"supervisor_b", "analyst_b"}


def test_auditors_and_admins_oversee_everything_by_role() -> None:
    from faceledger.services.governance.scope import OVERSEE_ALL

    assert {Role.AUDITOR, Role.ADMIN} <= OVERSEE_ALL and Role.SUPERVISOR not in OVERSEE_ALL
    council = getattr(Role, "COUNCIL", None)
    assert council is None or council in OVERSEE_ALL
