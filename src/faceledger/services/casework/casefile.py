"""Reading a case's searches: one search with its candidates, and the face images reviewers compare, each
behind the same case-access rule as the rest of the case."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from faceledger.errors import NotFound
from faceledger.policy.governance import Action, ActorView, Context
from faceledger.services.casework.governed_search import LEAD_NOTICE, candidate_dict
from faceledger.services.casework.review import lead_state
from faceledger.services.governance.guard import authority_view, case_view, find_case, governed
from faceledger.services.runtime.deployment import Deployment
from faceledger.store.governance_models import Candidate, Case, Search, User
from faceledger.store.models import GalleryFace
from faceledger.store.sealed import Role


def _search(session: Session, search_id: int) -> Search:
    search = session.get(Search, search_id)
    if search is None:
        raise NotFound(f"no search {search_id}")
    return search


def _viewing(deployment: Deployment, actor: ActorView, case_id: int, work: Any, not_found: str) -> Any:
    """`not_found`: what an unknown id gets; another department's id gets the same (and is ledgered)."""

    def context(session: Session) -> Context:
        case = session.get(Case, case_id, populate_existing=True)
        day = deployment.clock.today()
        return Context(day, authority_view(session, day), case=case_view(case) if case else None)

    return governed(deployment, actor, Action.VIEW_CASE, context, work, case_id=case_id, not_found=not_found)


def search_view(deployment: Deployment, actor: ActorView, search_id: int) -> dict[str, Any]:
    with deployment.sessions() as session:
        case_id = _search(session, search_id).case_id

    def work(session: Session, _: Context) -> dict[str, Any]:
        search = _search(session, search_id)
        return {
            "search_id": search.id,
            "case": search.case.number,
            "outcome": search.outcome,
            "searched_at": search.created_at.isoformat(),
            "attestation": search.attestation,
            "probe_sha256": search.probe_sha256,
            "probe_face": search.probe_face,
            "threshold": search.threshold,
            "gallery_faces": search.gallery_faces,
            "purged": search.purged_at is not None,
            "notice": LEAD_NOTICE,
            "operating_point": search.operating_point,
            "candidates": [{**candidate_dict(deployment, c), "state": lead_state(c)} for c in search.candidates],
        }

    result: dict[str, Any] = _viewing(deployment, actor, case_id, work, f"no search {search_id}")
    return result


def probe_image(deployment: Deployment, actor: ActorView, search_id: int) -> bytes:
    """The stored probe face's JPEG, decrypted (it is sealed at rest)."""
    with deployment.sessions() as session:
        search = _search(session, search_id)
        case_id, relative = search.case_id, search.probe_thumbnail

    path: Path = _viewing(
        deployment, actor, case_id, lambda _s, _c: deployment.data_dir / (relative or "-"), f"no search {search_id}"
    )
    if not relative or not path.is_file():
        raise NotFound(f"search {search_id} has no stored probe face (purged or never kept)")
    return _opened(deployment, path, Role.PROBE, relative)


def candidate_image(deployment: Deployment, actor: ActorView, candidate_id: int) -> bytes:
    """The candidate's gallery thumbnail JPEG, decrypted."""
    with deployment.sessions() as session:
        candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            raise NotFound(f"no candidate {candidate_id}")
        case_id = candidate.search.case_id
        relative = session.scalars(select(GalleryFace.thumbnail).where(GalleryFace.id == candidate.face_id)).first()

    path: Path = _viewing(
        deployment,
        actor,
        case_id,
        lambda _s, _c: deployment.data_dir / (relative or "-"),
        f"no candidate {candidate_id}",
    )
    if not relative or not path.is_file():
        raise NotFound(f"candidate {candidate_id}'s gallery face was removed")
    return _opened(deployment, path, Role.THUMBNAIL, relative)


def _opened(deployment: Deployment, path: Path, role: Role, relative: str) -> bytes:
    try:
        return deployment.sealer.read_file(path, role, relative)
    except FileNotFoundError as exc:  # deleted between the check and the read (a purge, an opt-out)
        raise NotFound(f"the {role} {relative} was removed") from exc


def case_searches(deployment: Deployment, actor: ActorView, reference: str) -> list[dict[str, Any]]:
    """A case's searches, for the case page (the same access rule as the case)."""
    with deployment.sessions() as session:
        case_id = find_case(session, reference, actor).id

    def work(session: Session, _: Context) -> list[dict[str, Any]]:
        rows = session.execute(
            select(Search, User.username)
            .join(User, Search.user_id == User.id)
            .where(Search.case_id == case_id)
            .order_by(Search.id)
        ).all()
        return [
            {"id": s.id, "user": name, "at": s.created_at.isoformat()[:19], "outcome": s.outcome} for s, name in rows
        ]

    result: list[dict[str, Any]] = _viewing(
        deployment, actor, case_id, work, f"no case {reference!r} in your department"
    )
    return result
