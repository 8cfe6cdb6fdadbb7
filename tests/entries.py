"""Ledger entries as the services write them, for tests about what reads the ledger (the face work that
would produce them is not what those tests are about)."""

from __future__ import annotations

import itertools

from faceledger.store import events
from tests.office import ATTESTATION

SEARCH_IDS = itertools.count(1000)


def search(case: int, probe: str, candidates: tuple[int, ...] = (), *, search_id: int | None = None) -> events.Search:
    """A done search that showed `candidates` (their candidate ids double as face ids)."""
    shown = tuple(
        events.ShownCandidate(candidate_id=c, face_id=c, rank=rank, distance=0.41, false_match_rate=0.001)
        for rank, c in enumerate(candidates, 1)
    )
    return events.Search(
        case=case,
        search=next(SEARCH_IDS) if search_id is None else search_id,
        probe_sha256=probe,
        attestation=ATTESTATION,
        face=events.ProbeFace(index=1, box={"x": 0, "y": 0, "w": 80, "h": 80}, quality_score=0.9),
        gallery_version=1,
        gallery_faces=100,
        model="sface",
        threshold=0.6,
        max_candidates=5,
        quality_override=None,
        outcome="candidates" if candidates else "no_candidates",
        candidates=shown,
    )


def review(candidate: int, decision: str) -> events.Review:
    state = "rejected" if decision == "not" else "awaiting_review"
    return events.Review(candidate=candidate, decision=decision, state=state)
