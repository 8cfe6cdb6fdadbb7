"""Low: another department's ids answered 403 ("not in the case's department") where an unknown id answers
404, so anyone could map which searches, candidates and cases exist. Now both give the same 404 (the refusal
is still ledgered): searches, their probe, candidates, their face, reviews, sign-offs, cases by '#id'."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faceledger.api.app import create_app
from faceledger.errors import PolicyDenied
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from tests.office import ATTESTATION, Office, make_office
from tests.security.scoped import add_department_b, case_id, stored_search


@dataclass
class World:
    office: Office
    client: TestClient
    case: int  # department A's case C-1
    search: int
    candidate: int
    missing: int  # an id no table uses

    def call(self, user: str, method: str, path: str, **kwargs: object) -> tuple[int, str]:
        got = self.client.request(
            method, "/api/v1" + path, headers={"Authorization": f"Bearer {self.office.tokens[user]}"}, **kwargs
        )  # type: ignore[arg-type]
        return got.status_code, got.json()["error"]["message"] if got.status_code >= 400 else ""


@pytest.fixture
def world(make_deployment: Callable[..., Deployment]) -> Iterator[World]:
    office = make_office(make_deployment())
    add_department_b(office)
    office.add("reviewer_b", "reviewer", department="Internal Affairs B")
    a_case = case_id(office, "C-1")
    search, candidate = stored_search(office, office.analyst, a_case)
    app = create_app(office.deployment.settings, office.deployment.data_dir)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield World(office, client, a_case, search, candidate, 999_999)


ROUTES = [  # (user of department B, method, path with {id}, body, which id)
    ("supervisor_b", "GET", "/searches/{id}", None, "search"),
    ("supervisor_b", "GET", "/searches/{id}/probe.jpg", None, "search"),
    ("supervisor_b", "GET", "/candidates/{id}", None, "candidate"),
    ("analyst_b", "GET", "/candidates/{id}/face.jpg", None, "candidate"),
    ("reviewer_b", "POST", "/candidates/{id}/reviews", {"decision": "possible"}, "candidate"),
    ("supervisor_b", "POST", "/candidates/{id}/signoff", {"note": ""}, "candidate"),
    ("supervisor_b", "GET", "/cases/%23{id}", None, "case"),
    ("supervisor_b", "POST", "/cases/%23{id}/close", {"note": ""}, "case"),
]


@pytest.mark.parametrize(("user", "method", "path", "body", "kind"), ROUTES)
def test_another_departments_id_answers_like_a_missing_one(
    world: World, user: str, method: str, path: str, body: object, kind: str
) -> None:
    real = {"search": world.search, "candidate": world.candidate, "case": world.case}[kind]
    before = len(world.office.entries(outcome=ledger.REFUSED))
    status, message = world.call(user, method, path.format(id=real), json=body)
    missing_status, missing_message = world.call(user, method, path.format(id=world.missing), json=body)
    assert (status, message.replace(str(real), "N")) == (
        missing_status,
        missing_message.replace(str(world.missing), "N"),
    ) and status == 404, (message, missing_message)
    refused = world.office.entries(outcome=ledger.REFUSED)[before:]
    assert [e.case_id for e in refused if e.actor == user] == [world.case], "the refusal is still ledgered"


def test_own_department_and_auditors_still_get_through(world: World) -> None:
    assert world.call("supervisor", "GET", f"/searches/{world.search}")[0] == 200
    assert world.call("auditor", "GET", f"/candidates/{world.candidate}")[0] == 200
    assert world.call("auditor", "GET", f"/cases/%23{world.case}")[0] == 200
    status, message = world.call("reviewer1", "POST", f"/candidates/{world.candidate}/signoff", json={"note": ""})
    assert status == 403 and "needs the role supervisor" in message, "a refusal in one's own department says why"


def test_searching_another_departments_case_by_id_reads_like_no_case(world: World, tmp_path: Path) -> None:
    probe = tmp_path / "probe.jpg"
    probe.write_bytes(b"not looked at: the case is refused first")
    messages = []
    for reference in (f"#{world.case}", f"#{world.missing}"):
        with pytest.raises(PolicyDenied) as refused:
            governed_search(
                world.office.deployment, world.office.analyst_b, SearchRequest(reference, ATTESTATION, probe)
            )
        messages.append(re.sub(r"#\d+|ledger entry \d+", "X", str(refused.value)))
    assert messages[0] == messages[1] and "no case" in messages[0]
