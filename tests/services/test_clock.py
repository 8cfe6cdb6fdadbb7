"""Services read the time from the deployment's clock (faceledger/clock.py): a test moves a FakeClock and
grants expire, retention comes due and web sessions end, with nothing aged in the database. Each of these
fails where a service reads the system's time instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from faceledger.errors import PolicyDenied
from faceledger.policy.governance import AuthorityState
from faceledger.services.casework import cases
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery import curation, retention
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.governance import authority
from faceledger.services.people.web_sessions import SESSION_HOURS, session_actor, sign_in
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import ledger
from faceledger.store.governance_models import Candidate, Search
from tests.fakes import FakeAnalyser, FakeClock
from tests.lfwdata import copy_with_manifest
from tests.office import ATTESTATION, Office, make_office

SPEC = SourceSpec("fake-people", "test basis")
PASSWORD = "correct horse battery staple"


def _office_with_gallery(
    make_deployment: Callable[..., Deployment], folder: Path, clock: FakeClock
) -> tuple[Office, list[tuple[str, list[Path]]]]:
    fake = FakeAnalyser()
    people = fake.people_with_several(folder / "photos", 3)
    office = make_office(make_deployment(analyser=fake, clock=clock))
    curation.governed_ingest(office.deployment, office.curator, copy_with_manifest(people, folder / "gallery"), SPEC)
    return office, people


def test_a_grant_expires_when_the_clock_passes_its_last_day(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    clock = FakeClock()
    office, people = _office_with_gallery(make_deployment, tmp_path, clock)
    deployment = office.deployment
    request = SearchRequest("C-1", ATTESTATION, people[0][1][1])
    assert governed_search(deployment, office.analyst, request).candidates
    assert authority.status(deployment, office.auditor).days_left == 180  # office.grant: today + 180

    clock.advance(days=180)  # the grant's last day: still in force
    assert authority.status(deployment, office.auditor).days_left == 0
    clock.advance(days=1)
    status = authority.status(deployment, office.auditor)
    assert status.state is AuthorityState.EXPIRED and status.days_left is None
    searches = _count(deployment, Search)
    with pytest.raises(PolicyDenied, match="expired"):
        governed_search(deployment, office.analyst, request)
    assert _count(deployment, Search) == searches
    refused = office.entries(outcome=ledger.REFUSED)[-1]
    assert refused.action == "search" and "the authorisation has expired" in refused.reasons


def test_a_certification_lapses_by_the_clock(make_deployment: Callable[..., Deployment], tmp_path: Path) -> None:
    clock = FakeClock()
    office, people = _office_with_gallery(make_deployment, tmp_path, clock)
    clock.advance(days=366)  # office.add certifies for 365 days
    with pytest.raises(PolicyDenied, match="training certification expired"):
        governed_search(office.deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[0][1][1]))
    assert office.entries(outcome=ledger.REFUSED)[-1].action == "search"


def test_retention_purges_a_closed_case_once_the_clock_passes_its_period(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    clock = FakeClock()
    office, people = _office_with_gallery(make_deployment, tmp_path, clock)
    deployment = office.deployment
    found = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, people[1][1][1]))
    assert found.candidates
    cases.close(deployment, office.supervisor, "C-1")
    days = deployment.settings.retention_results_days

    clock.advance(days=days - 1)
    assert retention.run(deployment, office.admin)["searches_purged"] == []
    assert _candidates(deployment, found.search_id) == len(found.candidates)

    clock.advance(days=2)
    purged = retention.run(deployment, office.admin)
    assert purged["searches_purged"] == [found.search_id]
    assert purged["candidates_deleted"] == len(found.candidates) and _candidates(deployment, found.search_id) == 0
    with deployment.sessions() as session:
        search = session.get(Search, found.search_id)
        assert search is not None and search.purged_at == clock.now()


def test_a_web_session_ends_when_the_clock_passes_its_lifetime(make_deployment: Callable[..., Deployment]) -> None:
    clock = FakeClock()
    office = make_office(make_deployment(clock=clock), grant=False)
    office.set_password("auditor", PASSWORD)
    opened = sign_in(office.deployment, "auditor", PASSWORD)

    clock.advance(hours=SESSION_HOURS, minutes=-1)
    assert session_actor(office.deployment, opened.token).actor.name == "auditor"
    clock.advance(minutes=2)
    with pytest.raises(PolicyDenied, match="the session has ended"):
        session_actor(office.deployment, opened.token)
    refused = office.entries(outcome=ledger.REFUSED)[-1]
    assert refused.action == "authenticate" and refused.actor == "auditor"


def test_the_fake_clock_moves_only_when_told() -> None:
    clock = FakeClock()
    start = clock.now()
    assert start.tzinfo is not None and clock.today() == start.date()
    assert clock.advance(days=1, hours=2) == start + timedelta(days=1, hours=2) == clock.now()
    clock.set(start)
    assert clock.now() == start
    with pytest.raises(ValueError, match="backwards"):
        clock.advance(seconds=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(start.replace(tzinfo=None))


def _count(deployment: Deployment, model: type) -> int:
    with deployment.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _candidates(deployment: Deployment, search_id: int) -> int:
    with deployment.sessions() as session:
        return int(session.scalar(select(func.count()).where(Candidate.search_id == search_id)) or 0)
