"""Casework pages: cases, a new search (upload, see the faces caller, choose one, attest), the candidate
lineup, blind review, sign-off and corroboration, and the review queue."""

from __future__ import annotations

import base64
import io
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from PIL import Image, ImageDraw

from faceledger.api.deps import Caller, PageCaller, RowId, deployment, page_rule
from faceledger.api.pages import attempt, has, render
from faceledger.api.uploads import saved_upload
from faceledger.policy.governance import Action, Role
from faceledger.services.casework import casefile, cases, probe_preview, review
from faceledger.services.casework.governed_search import SearchRequest, governed_search
from faceledger.services.runtime import staging
from faceledger.types import CaseStatus, ImageFaces, RGBImage

router = APIRouter(prefix="/ui", include_in_schema=False)


def _preview(pixels: RGBImage, faces: ImageFaces) -> str:
    """The probe with each face outlined and numbered, as a PNG data URI body."""
    image = Image.fromarray(pixels)
    image.thumbnail((800, 800))
    scale = image.width / pixels.shape[1]
    draw = ImageDraw.Draw(image)
    for face in faces.faces:
        box = [v * scale for v in (face.box.left, face.box.top, face.box.right, face.box.bottom)]
        draw.rectangle(box, outline=(255, 200, 0), width=3)
        draw.text((box[0] + 4, box[1] + 2), str(face.index), fill=(255, 200, 0))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@router.get("/cases", response_class=HTMLResponse, **page_rule(Action.VIEW_CASE))
def case_list(request: Request, caller: PageCaller) -> Response:
    listed = cases.list_cases(deployment(request), caller.actor)
    return render(request, caller, "cases.html", "Cases", cases=listed, is_supervisor=has(caller, Role.SUPERVISOR))


@router.post("/cases", **page_rule(Action.OPEN_CASE))
def case_open(
    request: Request,
    caller: PageCaller,
    number: Annotated[str, Form()],
    purpose: Annotated[str, Form()],
    offence_type: Annotated[str, Form()],
    description: Annotated[str, Form()] = "",
) -> Response:
    def act() -> Response:
        cases.open_case(
            deployment(request),
            caller.actor,
            number,
            purpose=purpose,
            offence_type=offence_type,
            description=description,
        )
        return RedirectResponse(f"/ui/cases/{number}", status_code=303)

    listed = cases.list_cases(deployment(request), caller.actor)
    return attempt(request, caller, act, "cases.html", "Cases", cases=listed, is_supervisor=True)


def _case_page(request: Request, caller: Caller, number: str, **extra: Any) -> Response:
    found_deployment = deployment(request)
    case = cases.show(found_deployment, caller.actor, number)
    searches = casefile.case_searches(found_deployment, caller.actor, number)
    return render(
        request,
        caller,
        "case.html",
        f"Case {case.number}",
        case=case,
        searches=searches,
        is_supervisor=has(caller, Role.SUPERVISOR),
        **extra,
    )


@router.get("/cases/{number}", response_class=HTMLResponse, **page_rule(Action.VIEW_CASE))
def case_page(request: Request, caller: PageCaller, number: str) -> Response:
    return attempt(request, caller, lambda: _case_page(request, caller, number), "error.html", "Case")


@router.post("/cases/{number}/assign", **page_rule(Action.ASSIGN_CASE))
def case_assign(
    request: Request,
    caller: PageCaller,
    number: str,
    user: Annotated[str, Form()],
) -> Response:
    def act() -> Response:
        cases.assign(deployment(request), caller.actor, number, [user.strip()])
        return RedirectResponse(f"/ui/cases/{number}", status_code=303)

    return attempt(request, caller, act, "error.html", "Case")


@router.post("/cases/{number}/close", **page_rule(Action.CLOSE_CASE))
def case_close(request: Request, caller: PageCaller, number: str, reason: Annotated[str, Form()] = "") -> Response:
    def act() -> Response:
        cases.close(deployment(request), caller.actor, number, reason)
        return RedirectResponse(f"/ui/cases/{number}", status_code=303)

    return attempt(request, caller, act, "error.html", "Case")


def open_cases(request: Request, caller: Caller) -> list[Any]:
    return [c for c in cases.list_cases(deployment(request), caller.actor) if c.status == CaseStatus.OPEN]


def _search_page(request: Request, caller: Caller, **extra: Any) -> Response:
    return render(
        request, caller, "search.html", "New search", cases=open_cases(request, caller), **{"upload": None, **extra}
    )


@router.get("/search", response_class=HTMLResponse, **page_rule(Action.SEARCH))
def search_page(request: Request, caller: PageCaller) -> Response:
    return _search_page(request, caller)


@router.post("/search/faces", **page_rule(Action.SEARCH))
def search_faces(
    request: Request,
    caller: PageCaller,
    probe: Annotated[UploadFile, File()],
    case: Annotated[str, Form()],
) -> Response:
    """Step one: the faces in the probe, drawn on it, to choose from. Nothing is searched yet."""

    def act() -> Response:
        found_deployment = deployment(request)
        with saved_upload(probe, found_deployment, field="probe") as path:
            shown_faces = probe_preview.preview_photo(found_deployment, caller.actor, case, path, pixels=True)
            pixels, faces = shown_faces.pixels, shown_faces.faces
            # kept in staging for step two, claimable once and only by this user, from any server process
            key = staging.keep(found_deployment, caller.actor, path, staging.StagedKind.PROBE)
        shown = {
            "id": key,
            "case": case,
            "preview": _preview(pixels, faces) if pixels is not None else "",
            "faces": [
                face.to_dict() | {"quality": {"score": face.quality.score, "problems": face.quality.problems}}
                for face in faces.faces
            ],
        }
        return _search_page(request, caller, upload=shown)

    return attempt(request, caller, act, "search.html", "New search", cases=open_cases(request, caller), upload=None)


@router.post("/search", **page_rule(Action.SEARCH))
def search(
    request: Request,
    caller: PageCaller,
    upload: Annotated[str, Form()],
    case: Annotated[str, Form()],
    attestation: Annotated[str, Form()],
    face: Annotated[int | None, Form()] = None,
) -> Response:
    """Step two: the governed search of the chosen face; the probe file is deleted whatever happens."""

    def act() -> Response:
        with staging.claimed(deployment(request), caller.actor, upload, staging.StagedKind.PROBE) as probe:
            result = governed_search(deployment(request), caller.actor, SearchRequest(case, attestation, probe, face))
        return RedirectResponse(f"/ui/searches/{result.search_id}", status_code=303)

    return attempt(request, caller, act, "search.html", "New search", cases=open_cases(request, caller), upload=None)


@router.get("/searches/{search_id}", response_class=HTMLResponse, **page_rule(Action.VIEW_CASE))
def lineup(request: Request, caller: PageCaller, search_id: RowId) -> Response:
    def act() -> Response:
        shown = casefile.search_view(deployment(request), caller.actor, search_id)
        return render(request, caller, "lineup.html", f"Search {search_id}: candidate lineup", search=shown)

    return attempt(request, caller, act, "error.html", "Search")


def _candidate_page(request: Request, caller: Caller, candidate_id: int, **extra: Any) -> Response:
    view = review.view(deployment(request), caller.actor, candidate_id)
    return render(
        request,
        caller,
        "candidate.html",
        f"Candidate {candidate_id}",
        view=view,
        is_reviewer=has(caller, Role.REVIEWER),
        is_supervisor=has(caller, Role.SUPERVISOR),
        can_corroborate=has(caller, Role.SUPERVISOR, Role.ANALYST) and view.state == "confirmed",
        **extra,
    )


@router.get("/candidates/{candidate_id}", response_class=HTMLResponse, **page_rule(Action.VIEW_CASE))
def candidate_page(request: Request, caller: PageCaller, candidate_id: RowId) -> Response:
    return attempt(request, caller, lambda: _candidate_page(request, caller, candidate_id), "error.html", "Candidate")


def _candidate_action(request: Request, caller: Caller, candidate_id: int, act: Any) -> Response:
    def run() -> Response:
        act(caller)
        return RedirectResponse(f"/ui/candidates/{candidate_id}", status_code=303)

    return attempt(request, caller, run, "error.html", "Candidate")


@router.post("/candidates/{candidate_id}/review", **page_rule(Action.REVIEW))
def candidate_review(
    request: Request,
    caller: PageCaller,
    candidate_id: RowId,
    decision: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> Response:
    return _candidate_action(
        request,
        caller,
        candidate_id,
        lambda caller: review.review(deployment(request), caller.actor, candidate_id, decision, note),
    )


@router.post("/candidates/{candidate_id}/signoff", **page_rule(Action.SIGN_OFF))
def candidate_signoff(
    request: Request, caller: PageCaller, candidate_id: RowId, note: Annotated[str, Form()] = ""
) -> Response:
    return _candidate_action(
        request,
        caller,
        candidate_id,
        lambda caller: review.sign_off(deployment(request), caller.actor, candidate_id, note),
    )


@router.post("/candidates/{candidate_id}/corroborate", **page_rule(Action.CORROBORATE))
def candidate_corroborate(
    request: Request, caller: PageCaller, candidate_id: RowId, evidence: Annotated[str, Form()]
) -> Response:
    return _candidate_action(
        request,
        caller,
        candidate_id,
        lambda caller: review.corroborate(deployment(request), caller.actor, candidate_id, evidence),
    )


@router.get("/queue", response_class=HTMLResponse, **page_rule(Action.REVIEW))
def queue(request: Request, caller: PageCaller) -> Response:
    return render(
        request, caller, "queue.html", "Review queue", queue=review.review_queue(deployment(request), caller.actor)
    )
