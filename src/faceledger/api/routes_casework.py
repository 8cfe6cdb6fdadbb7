"""Cases, governed search by upload, candidates, reviews and leads."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response

from faceledger.api.deps import CurrentActor, DeploymentDep, RowId, rule
from faceledger.api.responses import (
    JPEG,
    CandidatePublic,
    CandidateView,
    CasePublic,
    LeadRecord,
    LeadState,
    ProbeFacePublic,
    ProbeFaces,
    QueuedCandidate,
    ReviewPublic,
    SearchRecord,
    SearchResultPublic,
    VideoTracks,
)
from faceledger.api.schemas import Assignment, CaseCreate, Corroboration, Note, ReviewCreate
from faceledger.api.uploads import saved_upload
from faceledger.policy.governance import Action
from faceledger.services.casework import casefile, cases, probe_preview, review, video_search
from faceledger.services.casework.governed_search import SearchRequest, governed_search

router = APIRouter(prefix="/api/v1")


@router.get("/cases", tags=["cases"], **rule(Action.VIEW_CASE))
def list_cases(actor: CurrentActor, deployment: DeploymentDep) -> list[CasePublic]:
    return [CasePublic.model_validate(case) for case in cases.list_cases(deployment, actor)]


@router.post("/cases", tags=["cases"], status_code=201, **rule(Action.OPEN_CASE))
def open_case(body: CaseCreate, actor: CurrentActor, deployment: DeploymentDep) -> CasePublic:
    opened = cases.open_case(
        deployment,
        actor,
        body.number,
        purpose=body.purpose,
        offence_type=body.offence_type,
        description=body.description,
    )
    return CasePublic.model_validate(opened)


@router.get("/cases/{number}", tags=["cases"], **rule(Action.VIEW_CASE))
def show_case(number: str, actor: CurrentActor, deployment: DeploymentDep) -> CasePublic:
    return CasePublic.model_validate(cases.show(deployment, actor, number))


@router.post("/cases/{number}/assignments", tags=["cases"], **rule(Action.ASSIGN_CASE))
def assign(number: str, body: Assignment, actor: CurrentActor, deployment: DeploymentDep) -> CasePublic:
    return CasePublic.model_validate(cases.assign(deployment, actor, number, body.users))


@router.post("/cases/{number}/close", tags=["cases"], **rule(Action.CLOSE_CASE))
def close(number: str, actor: CurrentActor, deployment: DeploymentDep, body: Note | None = None) -> CasePublic:
    return CasePublic.model_validate(cases.close(deployment, actor, number, body.note if body else ""))


@router.post("/probes/faces", tags=["search"], **rule(Action.SEARCH))
def probe_faces(
    request: Request,
    probe: Annotated[UploadFile, File()],
    case: Annotated[str, Form(min_length=1, max_length=100, description="The case the search will be for.")],
    actor: CurrentActor,
    deployment: DeploymentDep,
) -> ProbeFaces:
    """The faces in a probe photo (boxes and quality), so a person can choose which one to search.
    Governed like the search (role, case, assignment, authorisation) and ledgered with the probe's hash."""
    with saved_upload(probe, deployment, field="probe") as path:
        shown = probe_preview.preview_photo(deployment, actor, case, path)
    return ProbeFaces(
        width=shown.faces.image.width,
        height=shown.faces.image.height,
        probe_sha256=shown.probe_sha256,
        ledger_seq=shown.ledger_seq,
        faces=[ProbeFacePublic.model_validate(face.to_dict()) for face in shown.faces.faces],
    )


@router.post("/searches", tags=["search"], status_code=201, **rule(Action.SEARCH))
def search(
    request: Request,
    probe: Annotated[UploadFile, File(description="The probe photo.")],
    case: Annotated[str, Form(min_length=1, max_length=100)],
    attestation: Annotated[str, Form(max_length=5000, description="Why this search is needed.")],
    actor: CurrentActor,
    deployment: DeploymentDep,
    face: Annotated[int | None, Form(ge=1, le=1000)] = None,
) -> SearchResultPublic:
    """A governed search for one probe face. Candidates are investigative leads, never identifications."""
    with saved_upload(probe, deployment, field="probe") as path:
        result = governed_search(deployment, actor, SearchRequest(case, attestation, path, face))
    return SearchResultPublic.model_validate(result)


@router.get("/searches/{search_id}", tags=["search"], **rule(Action.VIEW_CASE))
def show_search(search_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> SearchRecord:
    return SearchRecord.model_validate(casefile.search_view(deployment, actor, search_id))


@router.get(
    "/searches/{search_id}/probe.jpg",
    tags=["search"],
    response_class=Response,
    responses=JPEG,
    **rule(Action.VIEW_CASE),
)
def probe_image(search_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> Response:
    # Decrypted in memory (the file is sealed at rest): a few kilobytes, never a file path.
    return Response(casefile.probe_image(deployment, actor, search_id), media_type="image/jpeg")


@router.get("/review-queue", tags=["review"], **rule(Action.REVIEW))
def queue(actor: CurrentActor, deployment: DeploymentDep) -> list[QueuedCandidate]:
    return [QueuedCandidate.model_validate(item) for item in review.review_queue(deployment, actor)]


@router.get("/candidates/{candidate_id}", tags=["review"], **rule(Action.VIEW_CASE))
def candidate(candidate_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> CandidateView:
    """One candidate; other reviewers' decisions stay hidden (null) until yours is in."""
    view = review.view(deployment, actor, candidate_id)
    return CandidateView(
        candidate=CandidatePublic.model_validate(view.candidate),
        case_number=view.case_number,
        search_id=view.search_id,
        probe_thumbnail=view.probe_thumbnail,
        state=view.state,
        reviews=None if view.reviews is None else [ReviewPublic.model_validate(r) for r in view.reviews],
        reviews_hidden=view.reviews is None,
    )


@router.get(
    "/candidates/{candidate_id}/face.jpg",
    tags=["review"],
    response_class=Response,
    responses=JPEG,
    **rule(Action.VIEW_CASE),
)
def candidate_image(candidate_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> Response:
    return Response(casefile.candidate_image(deployment, actor, candidate_id), media_type="image/jpeg")


@router.post("/candidates/{candidate_id}/reviews", tags=["review"], status_code=201, **rule(Action.REVIEW))
def add_review(candidate_id: RowId, body: ReviewCreate, actor: CurrentActor, deployment: DeploymentDep) -> LeadState:
    return LeadState(state=review.review(deployment, actor, candidate_id, body.decision, body.note))


@router.post("/candidates/{candidate_id}/signoff", tags=["leads"], **rule(Action.SIGN_OFF))
def sign_off(
    candidate_id: RowId, actor: CurrentActor, deployment: DeploymentDep, body: Note | None = None
) -> LeadState:
    return LeadState(state=review.sign_off(deployment, actor, candidate_id, body.note if body else ""))


@router.post("/candidates/{candidate_id}/corroboration", tags=["leads"], **rule(Action.CORROBORATE))
def corroborate(candidate_id: RowId, body: Corroboration, actor: CurrentActor, deployment: DeploymentDep) -> LeadState:
    return LeadState(state=review.corroborate(deployment, actor, candidate_id, body.evidence))


@router.post("/candidates/{candidate_id}/export", tags=["leads"], **rule(Action.EXPORT))
def export(candidate_id: RowId, actor: CurrentActor, deployment: DeploymentDep) -> LeadRecord:
    """The confirmed, corroborated lead's full record."""
    with tempfile.TemporaryDirectory() as folder:
        written = review.export(deployment, actor, candidate_id, Path(folder) / "lead.json")
        return LeadRecord.model_validate_json(written.read_text())


@router.post("/video/tracks", tags=["video"], **rule(Action.SEARCH))
def video_tracks(
    request: Request,
    video: Annotated[UploadFile, File(description="The footage.")],
    case: Annotated[str, Form(min_length=1, max_length=100, description="The case the search will be for.")],
    actor: CurrentActor,
    deployment: DeploymentDep,
    every_s: Annotated[float, Form(ge=0.1, le=10)] = 0.5,
) -> VideoTracks:
    """One track per face, with its best frame, for a person to choose from. Governed like the search
    and ledgered with the video's hash; nothing is searched or stored."""
    with saved_upload(video, deployment, field="video", video=True) as path:
        shown = probe_preview.preview_video(deployment, actor, case, path, every_s=every_s)
    return VideoTracks.model_validate({**shown.video.to_dict(), "ledger_seq": shown.ledger_seq})


@router.post("/video/searches", tags=["video"], status_code=201, **rule(Action.SEARCH))
def video_search_track(
    request: Request,
    video: Annotated[UploadFile, File(description="The footage.")],
    case: Annotated[str, Form(min_length=1, max_length=100)],
    attestation: Annotated[str, Form(max_length=5000)],
    track: Annotated[int, Form(ge=1, le=100_000, description="The chosen track (from /video/tracks).")],
    actor: CurrentActor,
    deployment: DeploymentDep,
    every_s: Annotated[float, Form(ge=0.1, le=10)] = 0.5,
) -> SearchResultPublic:
    """A governed search of the best face of the track a person chose; ledgered with the video's hash,
    the frame's time and who chose it."""
    with saved_upload(video, deployment, field="video", video=True) as path:
        result = video_search.search_track(deployment, actor, case, attestation, path, track, every_s)
    return SearchResultPublic.model_validate(result)
