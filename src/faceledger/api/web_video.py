"""The video page: upload, see one track per face as a contact sheet, choose one, then the lineup."""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from faceledger.api.deps import PageCaller, deployment, page_rule
from faceledger.api.pages import attempt, render
from faceledger.api.uploads import saved_upload
from faceledger.api.web_casework import open_cases
from faceledger.policy.governance import Action
from faceledger.services.casework import probe_preview, video_search
from faceledger.services.runtime import staging
from faceledger.services.standalone.analysis import contact_sheet

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/video", response_class=HTMLResponse, **page_rule(Action.SEARCH))
def video_page(request: Request, caller: PageCaller) -> Response:
    return render(request, caller, "video.html", "Search from video", cases=open_cases(request, caller), analysed=None)


@router.post("/video/tracks", **page_rule(Action.SEARCH))
def video_tracks(
    request: Request,
    caller: PageCaller,
    video: Annotated[UploadFile, File()],
    case: Annotated[str, Form()],
    every_s: Annotated[float, Form(ge=0.1, le=10)] = 0.5,
    attribution: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Step one: tracks and their best faces, to choose from. Nothing is searched yet."""

    def act() -> Response:
        found_deployment = deployment(request)
        with saved_upload(video, found_deployment, field="video", video=True) as path:
            # decoded frames go to the upload's own staging folder
            result = probe_preview.preview_video(
                found_deployment, caller.actor, case, path, every_s=every_s, attribution=attribution
            ).video
            key = staging.keep(found_deployment, caller.actor, path, staging.StagedKind.VIDEO)
        analysed = {
            "id": key,
            "case": case,
            "every_s": every_s,
            "tracks": result.to_dict()["tracks"],
            "sheet": base64.b64encode(contact_sheet(result)).decode(),
        }
        return render(request, caller, "video.html", "Search from video", cases=[], analysed=analysed)

    return attempt(
        request, caller, act, "video.html", "Search from video", cases=open_cases(request, caller), analysed=None
    )


@router.post("/video/search", **page_rule(Action.SEARCH))
def video_search_page(
    request: Request,
    caller: PageCaller,
    upload: Annotated[str, Form()],
    case: Annotated[str, Form()],
    track: Annotated[int, Form(ge=1)],
    attestation: Annotated[str, Form()],
    every_s: Annotated[float, Form()] = 0.5,
) -> Response:
    """Step two: the governed search of the chosen track's best face; the video is deleted whatever happens."""

    def act() -> Response:
        with staging.claimed(deployment(request), caller.actor, upload, staging.StagedKind.VIDEO) as video:
            result = video_search.search_track(
                deployment(request), caller.actor, case, attestation, video, track, every_s
            )
        return RedirectResponse(f"/ui/searches/{result.search_id}", status_code=303)

    return attempt(
        request, caller, act, "video.html", "Search from video", cases=open_cases(request, caller), analysed=None
    )
