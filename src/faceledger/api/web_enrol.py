"""The enrolment page: a new or reset user redeems the one-time code delivered to them, chooses a password
and sees their own API token once. Public, like sign-in, with a login-style CSRF cookie."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from faceledger.api.deps import PUBLIC, deployment, page_rule
from faceledger.api.pages import render
from faceledger.errors import FaceledgerError, InvalidInput
from faceledger.services.people.account_requests import enrol

router = APIRouter(prefix="/ui", include_in_schema=False)
ENROL_CSRF_COOKIE = "faceledger_enrol_csrf"


@router.get("/enrol", response_class=HTMLResponse, **page_rule(PUBLIC))
def enrol_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, None, "enrol.html", "Enrol", enrol_csrf=token)
    response.set_cookie(ENROL_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/ui/enrol")
    return response


@router.post("/enrol", response_class=HTMLResponse, **page_rule(PUBLIC))
def enrol_submit(
    request: Request,
    username: Annotated[str, Form(max_length=100)],
    code: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=200)],
) -> Response:
    expected = request.cookies.get(ENROL_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return render(
            request, None, "enrol.html", "Enrol", 403, error="The form expired; try again.", enrol_csrf=expected
        )
    try:
        issued = enrol(deployment(request), username, code, password, request.client.host if request.client else "")
    except FaceledgerError as exc:
        status = 422 if isinstance(exc, InvalidInput) else 401
        return render(request, None, "enrol.html", "Enrol", status, error=str(exc), enrol_csrf=expected)
    response = render(request, None, "enrol.html", "Enrolled", issued_token=issued.token, enrolled=issued.username)
    response.headers["Cache-Control"] = "no-store"  # the token is shown once; no cache keeps it
    return response
