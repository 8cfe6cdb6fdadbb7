"""Two-person review: blind, independent reviews of each candidate; a supervisor's sign-off makes a
confirmed lead; corroborating evidence must be recorded before the lead can be exported.

Blind means a reviewer is shown no other review of a candidate until their own is in."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import InvalidInput, NotFound
from faceledger.policy.governance import Action, ActorView, Context, ReviewDecision, Role
from faceledger.services.casework.governed_search import LEAD_NOTICE, candidate_dict
from faceledger.services.governance.guard import append, authority_view, case_view, governed, require_role
from faceledger.services.runtime.deployment import Deployment
from faceledger.store import events
from faceledger.store.governance_models import Candidate, Case, CaseAssignment, Lead, Review, Search
from faceledger.types import CaseStatus

OVERSEERS = frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})


def lead_state(candidate: Candidate) -> str:
    decisions = [ReviewDecision(r.decision) for r in candidate.reviews]
    if ReviewDecision.NOT in decisions:
        return "rejected"
    if candidate.lead is not None:
        if candidate.lead.exported_at is not None:
            return "exported"
        return "corroborated" if candidate.lead.corroboration else "confirmed"
    possible = {r.reviewer_id for r in candidate.reviews if r.decision == ReviewDecision.POSSIBLE}
    return "awaiting_signoff" if len(possible) >= 2 else "awaiting_review"


def reviews_visible(actor: ActorView, candidate: Candidate) -> bool:
    """Blindness holds whatever other roles one has: a reviewer sees no review before their own is in; a
    supervisor sees them at sign-off time (both reviews in, or the review over); auditors and admins, who
    do no casework, see them at once."""
    if any(r.reviewer_id == actor.id for r in candidate.reviews):
        return True
    if Role.REVIEWER in actor.roles:
        return False
    if Role.SUPERVISOR in actor.roles:
        return lead_state(candidate) != "awaiting_review"
    return bool(actor.roles & OVERSEERS)


@dataclass(frozen=True)
class CandidateView:
    candidate: dict[str, Any]
    case_number: str
    search_id: int
    probe_thumbnail: str | None
    state: str
    reviews: tuple[dict[str, Any], ...] | None  # None: hidden until the viewer's own review is in

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "reviews": list(self.reviews)
            if self.reviews is not None
            else "hidden until you have reviewed this candidate",
        }


def _load(session: Session, candidate_id: int) -> Candidate:
    candidate = session.get(Candidate, candidate_id, populate_existing=True)
    if candidate is None:
        raise NotFound(f"no candidate {candidate_id}")
    return candidate


def _context(deployment: Deployment, candidate_id: int, **fields: Any) -> Any:
    def build(session: Session) -> Context:
        candidate = _load(session, candidate_id)
        reviews = tuple((r.reviewer_id, ReviewDecision(r.decision)) for r in candidate.reviews)
        lead = candidate.lead
        day = deployment.clock.today()
        return Context(
            day,
            authority_view(session, day, lock=True),
            case=case_view(candidate.search.case),
            searcher_id=candidate.search.user_id,
            reviews=reviews,
            signed_off=lead is not None,
            corroborated=bool(lead and lead.corroboration),
            **fields,
        )

    return build


def _case_of(deployment: Deployment, candidate_id: int) -> int:
    with deployment.sessions() as session:
        return _load(session, candidate_id).search.case_id


def view(deployment: Deployment, actor: ActorView, candidate_id: int) -> CandidateView:
    case_id = _case_of(deployment, candidate_id)

    def work(session: Session, _: Context) -> CandidateView:
        candidate = _load(session, candidate_id)
        visible = reviews_visible(actor, candidate)
        reviews = (
            tuple(
                {"reviewer_id": r.reviewer_id, "decision": r.decision, "note": r.note, "at": r.created_at.isoformat()}
                for r in candidate.reviews
            )
            if visible
            else None
        )
        search = candidate.search
        return CandidateView(
            candidate_dict(deployment, candidate),
            search.case.number,
            search.id,
            search.probe_thumbnail,
            lead_state(candidate),
            reviews,
        )

    return governed(
        deployment,
        actor,
        Action.VIEW_CASE,
        _context(deployment, candidate_id),
        work,
        case_id=case_id,
        subjects={"candidate": candidate_id},
        not_found=f"no candidate {candidate_id}",
    )


def review(deployment: Deployment, actor: ActorView, candidate_id: int, decision: str, note: str = "") -> str:
    try:
        chosen = ReviewDecision(decision)
    except ValueError as exc:
        raise InvalidInput(f"decision must be possible, not or inconclusive; got {decision!r}") from exc
    case_id = _case_of(deployment, candidate_id)

    def work(session: Session, _: Context) -> str:
        session.add(Review(candidate_id=candidate_id, reviewer_id=actor.id, decision=chosen.value, note=note))
        session.flush()
        candidate = _load(session, candidate_id)
        state = lead_state(candidate)
        append(
            session, actor, events.Review(candidate=candidate_id, decision=chosen.value, state=state), case_id=case_id
        )
        return state

    return governed(
        deployment,
        actor,
        Action.REVIEW,
        _context(deployment, candidate_id),
        work,
        case_id=case_id,
        subjects={"candidate": candidate_id},
        details={"decision": chosen.value},
        not_found=f"no candidate {candidate_id}",
    )


def sign_off(deployment: Deployment, actor: ActorView, candidate_id: int, note: str = "") -> str:
    case_id = _case_of(deployment, candidate_id)

    def work(session: Session, _: Context) -> str:
        session.add(Lead(candidate_id=candidate_id, supervisor_id=actor.id, signoff_note=note))
        session.flush()
        append(session, actor, events.SignOff(candidate=candidate_id, note=note), case_id=case_id)
        return lead_state(_load(session, candidate_id))

    return governed(
        deployment,
        actor,
        Action.SIGN_OFF,
        _context(deployment, candidate_id),
        work,
        case_id=case_id,
        subjects={"candidate": candidate_id},
        not_found=f"no candidate {candidate_id}",
    )


def corroborate(deployment: Deployment, actor: ActorView, candidate_id: int, evidence: str) -> str:
    case_id = _case_of(deployment, candidate_id)

    def work(session: Session, _: Context) -> str:
        lead = _load(session, candidate_id).lead
        if lead is None:
            raise InvalidInput(f"candidate {candidate_id} is not a confirmed lead; it cannot be corroborated yet")
        lead.corroborated_at = deployment.clock.now()
        lead.corroboration, lead.corroborated_by = evidence.strip(), actor.id
        append(session, actor, events.Corroborate(candidate=candidate_id, evidence=evidence), case_id=case_id)
        return lead_state(_load(session, candidate_id))

    return governed(
        deployment,
        actor,
        Action.CORROBORATE,
        _context(deployment, candidate_id, reason=evidence),
        work,
        case_id=case_id,
        subjects={"candidate": candidate_id},
        not_found=f"no candidate {candidate_id}",
    )


def export(deployment: Deployment, actor: ActorView, candidate_id: int, out: Path) -> Path:
    """Write the confirmed, corroborated lead as a JSON record: scores, provenance, reviews, sign-off."""
    case_id = _case_of(deployment, candidate_id)

    def work(session: Session, _: Context) -> Path:
        candidate = _load(session, candidate_id)
        lead = candidate.lead
        if lead is None:  # pragma: no cover - policy refuses export of an unsigned lead
            raise InvalidInput("not a lead")
        lead.exported_at = deployment.clock.now()
        search = candidate.search
        sign = {"supervisor_id": lead.supervisor_id, "at": lead.signed_at.isoformat(), "note": lead.signoff_note}
        record = {
            "notice": LEAD_NOTICE,
            "case": search.case.number,
            "search_id": search.id,
            "searched_at": search.created_at.isoformat(),
            "attestation": search.attestation,
            "probe_sha256": search.probe_sha256,
            "gallery_version": search.gallery_version,
            "model": search.model_key,
            "threshold": search.threshold,
            "candidate": candidate_dict(deployment, candidate),
            "reviews": [
                {"reviewer_id": r.reviewer_id, "decision": r.decision, "note": r.note, "at": r.created_at.isoformat()}
                for r in candidate.reviews
            ],
            "sign_off": sign,
            "corroboration": {
                "evidence": lead.corroboration,
                "by": lead.corroborated_by,
                "at": lead.corroborated_at.isoformat() if lead.corroborated_at else None,
            },
        }
        entry = append(session, actor, events.Export(candidate=candidate_id, file=out.name), case_id=case_id)
        record["ledger_seq"] = entry.seq
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        return out

    return governed(
        deployment,
        actor,
        Action.EXPORT,
        _context(deployment, candidate_id),
        work,
        case_id=case_id,
        subjects={"candidate": candidate_id},
        not_found=f"no candidate {candidate_id}",
    )


def review_queue(deployment: Deployment, actor: ActorView) -> list[dict[str, Any]]:
    """Candidates awaiting review in open cases the actor is assigned to that the actor may still review."""
    require_role(deployment, actor, Action.REVIEW)
    with deployment.sessions() as session:
        rows = (
            session.scalars(
                select(Candidate)
                .join(Search)
                .join(Case)
                .join(CaseAssignment)
                .where(
                    Case.department_id == actor.department_id,
                    Case.status == CaseStatus.OPEN.value,
                    Search.user_id != actor.id,
                    CaseAssignment.user_id == actor.id,
                )
                .order_by(Candidate.id)
            )
            .unique()
            .all()
        )
        return [
            {
                "candidate_id": c.id,
                "case": c.search.case.number,
                "rank": c.rank,
                "distance": round(c.distance, 4),
                "false_match": c.false_match_text,
            }
            for c in rows
            if lead_state(c) == "awaiting_review" and all(r.reviewer_id != actor.id for r in c.reviews)
        ]
