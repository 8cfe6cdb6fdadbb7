"""Two departments on one deployment, for the scoping and existence-oracle tests: the office's own (A, with
case C-1) and department B with its own supervisor, analyst and case B-1. No face data needed."""

from __future__ import annotations

from faceledger.policy.governance import ActorView
from faceledger.services.casework import cases
from faceledger.store import ledger
from faceledger.store.db import transaction
from faceledger.store.events import EventName, Refusal
from tests import entries
from tests.office import PURPOSE, Office

OTHER = "Internal Affairs B"


def add_department_b(office: Office) -> None:
    office.add("supervisor_b", "supervisor", department=OTHER)
    office.add("analyst_b", "analyst", department=OTHER)
    cases.open_case(office.deployment, office.supervisor_b, "B-1", purpose=PURPOSE, offence_type="theft")
    cases.assign(office.deployment, office.supervisor_b, "B-1", ["analyst_b"])


def case_id(office: Office, number: str) -> int:
    return next(c.id for c in cases.list_cases(office.deployment, office.auditor) if c.number == number)


def ledger_search(
    office: Office,
    actor: ActorView,
    case: int,
    *,
    outcome: str = ledger.DONE,
    reasons: list[str] | None = None,
    probe: str = "ab" * 32,
) -> int:
    """A search entry as governed_search writes it (the face work is not what these tests are about)."""
    done = entries.search(case, probe)
    event = (
        done
        if outcome == ledger.DONE
        else Refusal(
            action=EventName.SEARCH, subjects={"case": case}, asked={"probe_sha256": probe, "attestation": "synthetic"}
        )
    )
    with transaction(office.deployment.sessions) as session:
        entry = ledger.append(session, ledger.Actor(actor.id, actor.name), event, case_id=case, reasons=reasons or [])
        return entry.seq


def stored_search(office: Office, actor: ActorView, case: int) -> tuple[int, int]:
    """A search with one candidate in the database, as a finished search leaves them: (search id, candidate id)."""
    from faceledger.store.governance_models import Candidate, Search

    with transaction(office.deployment.sessions) as session:
        search = Search(
            case_id=case,
            user_id=actor.id,
            attestation="synthetic",
            probe_sha256="cd" * 32,
            probe_name="probe.jpg",
            probe_face={},
            probe_thumbnail=None,
            gallery_version=1,
            gallery_faces=1,
            model_key="m",
            threshold=0.5,
            max_candidates=5,
            outcome="candidates",
        )
        session.add(search)
        session.flush()
        candidate = Candidate(
            search_id=search.id,
            face_id=None,
            rank=1,
            distance=0.4,
            false_match_rate=0.001,
            false_match_text="1 in 1,000",
            likelihood="possible",
            provenance={},
        )
        session.add(candidate)
        session.flush()
        return search.id, candidate.id
