"""Retention on governed searches (the fake analyser's faces): a closed case's probes and results go when the
schedule says, no sooner."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from faceledger.config import Settings
from faceledger.errors import PolicyDenied
from faceledger.services.casework import cases
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.gallery import curation, retention
from faceledger.services.gallery._ingest import SourceSpec
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.governance_models import Candidate, Search
from tests.fakes import FakeAnalyser
from tests.lfwdata import copy_with_manifest
from tests.office import ATTESTATION, make_office

SPEC = SourceSpec("lfw", "test basis")


def candidates_of(deployment: Deployment, search_id: int) -> int:
    with deployment.sessions() as session:
        return int(session.scalar(select(func.count()).where(Candidate.search_id == search_id)) or 0)


def test_results_of_a_closed_case_are_purged_after_the_retention_period(
    make_deployment: Callable[..., Deployment], tmp_path: Path
) -> None:
    fake = FakeAnalyser()
    people = fake.people_with_several(tmp_path / "photos", 3)
    deployment = make_deployment(analyser=fake)
    office = make_office(deployment)
    office.open_case("C-2")
    curation.governed_ingest(deployment, office.curator, copy_with_manifest(people, tmp_path / "gallery"), SPEC)
    (_, first), (_, second) = people[0], people[1]
    closed = governed_search(deployment, office.analyst, SearchRequest("C-1", ATTESTATION, first[1]))
    kept = governed_search(deployment, office.analyst, SearchRequest("C-2", ATTESTATION, second[1]))
    assert closed.candidates and kept.candidates
    with deployment.sessions() as session:
        probes = {s.id: s.probe_thumbnail for s in session.scalars(select(Search))}
    closed_probe, kept_probe = probes[closed.search_id], probes[kept.search_id]
    assert closed_probe and kept_probe and closed_probe != kept_probe
    assert closed_probe.startswith("probes/") and (deployment.data_dir / closed_probe).is_file()
    assert (deployment.data_dir / kept_probe).is_file()

    cases.close(deployment, office.supervisor, "C-1")
    early = retention.run(deployment, office.admin)
    assert early["searches_purged"] == [] and early["candidates_deleted"] == 0 and early["probe_files_deleted"] == 0
    assert candidates_of(deployment, closed.search_id) == len(closed.candidates)
    assert (deployment.data_dir / closed_probe).is_file()

    later = retention.run(deployment, office.admin, now=datetime.now(UTC) + timedelta(days=91))
    assert later["searches_purged"] == [closed.search_id]
    assert later["candidates_deleted"] == len(closed.candidates) and later["probe_files_deleted"] == 1
    assert candidates_of(deployment, closed.search_id) == 0
    assert not (deployment.data_dir / closed_probe).exists()
    with deployment.sessions() as session:
        purged = session.get(Search, closed.search_id)
        assert purged is not None and purged.purged_at is not None and purged.probe_thumbnail is None
        untouched = session.get(Search, kept.search_id)
        assert untouched is not None and untouched.purged_at is None and untouched.probe_thumbnail == kept_probe
    assert candidates_of(deployment, kept.search_id) == len(kept.candidates)
    assert (deployment.data_dir / kept_probe).is_file()
    entries = [entry.to_dict() for entry in office.entries(action="retention_purge")]
    assert [entry["details"]["searches_purged"] for entry in entries] == [[], [closed.search_id]]
    assert all(entry["outcome"] == "done" and entry["actor"] == "admin" for entry in entries)

    again = retention.run(deployment, office.admin, now=datetime.now(UTC) + timedelta(days=91))
    assert again["searches_purged"] == [] and again["candidates_deleted"] == 0


def test_only_an_admin_runs_retention(make_deployment: Callable[..., Deployment]) -> None:
    deployment = make_deployment()
    office = make_office(deployment)
    with pytest.raises(PolicyDenied):
        retention.run(deployment, office.analyst)
    refused = office.entries(action="run_retention", outcome="refused")
    assert len(refused) == 1 and refused[0].actor == "analyst"
    assert not office.entries(action="retention_purge")


def test_the_schedule_names_the_configured_period() -> None:
    published = retention.schedule(Settings(retention_results_days=30))
    assert "30 days" in published["probes and search results"]
    assert "90 days" in retention.schedule(Settings())["probes and search results"]
    assert all(isinstance(text, str) and text for text in published.values())
