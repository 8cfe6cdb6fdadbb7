"""M6: reviewers must be assigned to the case; review blindness holds whatever other roles one has."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from faceledger.errors import PolicyDenied
from faceledger.services.casework import cases, review
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.db import transaction
from faceledger.store.governance_models import Candidate, Case, Search
from tests.office import ATTESTATION, Office, make_office


def plant_candidate(office: Office, case: str = "C-1") -> int:
    """A search by the analyst with one candidate, written directly (no gallery or faces needed)."""
    with transaction(office.deployment.sessions) as session:
        case_row = session.scalars(select(Case).where(Case.number == case)).one()
        search = Search(
            case_id=case_row.id,
            user_id=office.analyst.id,
            attestation=ATTESTATION,
            probe_sha256="a" * 64,
            probe_name="probe.jpg",
            probe_face={},
            gallery_version=1,
            gallery_faces=1,
            model_key="test",
            threshold=0.6,
            max_candidates=5,
            outcome="candidates",
        )
        session.add(search)
        session.flush()
        row = Candidate(
            search_id=search.id,
            face_id=None,
            rank=1,
            distance=0.41,
            false_match_rate=0.001,
            false_match_text="1 in 1,000",
            likelihood="possible",
            provenance={},
        )
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    return make_office(make_deployment())


def test_a_reviewer_not_assigned_to_the_case_cannot_review(office: Office) -> None:
    candidate = plant_candidate(office)
    outsider = office.add("reviewer3", "reviewer")  # same department, not assigned to C-1
    with pytest.raises(PolicyDenied, match="not assigned to this case"):
        review.review(office.deployment, outsider, candidate, "possible")
    assert review.review_queue(office.deployment, outsider) == []
    assert [c["candidate_id"] for c in review.review_queue(office.deployment, office.reviewer1)] == [candidate]
    assert office.entries(outcome="refused")[-1].action == "review"


def test_a_reviewer_who_is_also_a_supervisor_reviews_blind(office: Office) -> None:
    candidate = plant_candidate(office)
    both = office.add("revsup", "reviewer", "supervisor")
    cases.assign(office.deployment, office.supervisor, "C-1", ["revsup"])
    review.review(office.deployment, office.reviewer1, candidate, "possible", "same scar")
    assert review.view(office.deployment, both, candidate).reviews is None  # hidden until their own is in
    review.review(office.deployment, both, candidate, "possible")
    shown = review.view(office.deployment, both, candidate).reviews
    assert shown is not None and len(shown) == 2


def test_a_supervisor_sees_reviews_only_at_sign_off_time(office: Office) -> None:
    candidate = plant_candidate(office)
    review.review(office.deployment, office.reviewer1, candidate, "possible")
    assert review.view(office.deployment, office.supervisor, candidate).reviews is None
    review.review(office.deployment, office.reviewer2, candidate, "possible")
    shown = review.view(office.deployment, office.supervisor, candidate).reviews
    assert shown is not None and len(shown) == 2
    assert review.view(office.deployment, office.auditor, candidate).reviews is not None  # oversight, no casework
