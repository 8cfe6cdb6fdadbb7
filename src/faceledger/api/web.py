"""Server-rendered pages for people: sign-in with session cookies, the dashboard with the authorisation
banner, the gallery, opt-out intake and the auditor's ledger. Every form carries a CSRF token; every
page works without JavaScript and with the keyboard. Casework pages are in `web_casework`."""

from __future__ import annotations

import secrets
from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from faceledger.api.deps import PUBLIC, SESSION_COOKIE, SIGNED_IN, Caller, PageCaller, RowId, deployment, page_rule
from faceledger.api.pages import attempt, has, render
from faceledger.api.routes_oversight import jobs, start_ingest
from faceledger.api.schemas import IngestCreate
from faceledger.api.uploads import saved_upload
from faceledger.errors import FaceledgerError, InvalidInput, PolicyDenied, TooManyAttempts
from faceledger.policy.governance import Action, Role
from faceledger.services.casework import cases
from faceledger.services.gallery import optout
from faceledger.services.gallery.curation import governed_remove, governed_stats
from faceledger.services.governance import authority
from faceledger.services.oversight import audit_ledger
from faceledger.services.people.web_sessions import SESSION_HOURS, sign_in, sign_out
from faceledger.types import IngestJobStatus

router = APIRouter(prefix="/ui", include_in_schema=False)
LOGIN_CSRF_COOKIE = "faceledger_login_csrf"


@router.get("/login", response_class=HTMLResponse, **page_rule(PUBLIC))
def login_page(request: Request) -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, None, "login.html", "Sign in", login_csrf=token)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path="/ui/login")
    return response


@router.post("/login", **page_rule(PUBLIC))
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    csrf_token: Annotated[str, Form()],
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return render(
            request, None, "login.html", "Sign in", 403, error="The form expired; try again.", login_csrf=expected
        )
    try:
        opened = sign_in(deployment(request), username, password, request.client.host if request.client else "")
    except TooManyAttempts as exc:
        return render(request, None, "login.html", "Sign in", 429, error=str(exc), login_csrf=expected)
    except FaceledgerError:
        return render(
            request, None, "login.html", "Sign in", 401, error="Wrong user name or password.", login_csrf=expected
        )
    response = RedirectResponse("/ui/", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout", **page_rule(SIGNED_IN))
def logout(
    request: Request,
    caller: PageCaller,
) -> Response:
    sign_out(deployment(request), request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/", response_class=HTMLResponse, **page_rule(SIGNED_IN))
def dashboard(request: Request, caller: PageCaller) -> Response:
    mine = cases.list_cases(deployment(request), caller.actor) if has(caller, *Role) else []
    return render(
        request, caller, "dashboard.html", "Dashboard", cases=mine, can_halt=has(caller, Role.ADMIN, Role.SUPERVISOR)
    )


@router.post("/authority/halt", **page_rule(Action.HALT_AUTHORITY))
def halt(
    request: Request,
    caller: PageCaller,
    reason: Annotated[str, Form()],
) -> Response:
    def act() -> Response:
        authority.halt(deployment(request), caller.actor, reason)
        return RedirectResponse("/ui/", status_code=303)

    return attempt(request, caller, act, "dashboard.html", "Dashboard", cases=[], can_halt=True)


def _gallery_context(request: Request, caller: Caller) -> dict[str, Any]:
    found_deployment = deployment(request)
    stats = governed_stats(found_deployment, caller.actor)
    listed = jobs(request, caller.actor, found_deployment)
    running = any(job.status is IngestJobStatus.RUNNING for job in listed)
    return {"stats": stats, "jobs": listed, "running": running, "is_curator": has(caller, Role.CURATOR, Role.ADMIN)}


@router.get("/gallery", response_class=HTMLResponse, **page_rule(Action.VIEW_GALLERY))
def gallery(request: Request, caller: PageCaller) -> Response:
    def act() -> Response:
        return render(request, caller, "gallery.html", "Gallery", **_gallery_context(request, caller))

    return attempt(request, caller, act, "error.html", "Gallery")


@router.post("/gallery/ingest", **page_rule(Action.CURATE_GALLERY))
def ingest(
    request: Request,
    caller: PageCaller,
    path: Annotated[str, Form()],
    source: Annotated[str, Form()],
    legal_basis: Annotated[str, Form()] = "",
) -> Response:
    def act() -> Response:
        body = IngestCreate(path=path, source=source, legal_basis=legal_basis or None)
        start_ingest(body, request, caller.actor, deployment(request))
        return RedirectResponse("/ui/gallery", status_code=303)

    return attempt(request, caller, act, "error.html", "Gallery")


@router.post("/gallery/remove", **page_rule(Action.CURATE_GALLERY))
def remove(
    request: Request,
    caller: PageCaller,
    sha256: Annotated[str, Form()],
) -> Response:
    def act() -> Response:
        removal = governed_remove(deployment(request), caller.actor, sha256=sha256.strip().lower())
        return render(
            request,
            caller,
            "gallery.html",
            "Gallery",
            message=f"Removed {removal.images} image(s) and {removal.faces} face(s) completely.",
            **_gallery_context(request, caller),
        )

    return attempt(request, caller, act, "error.html", "Gallery")


@router.get("/optout", response_class=HTMLResponse, **page_rule(Action.OPT_OUT))
def optout_page(request: Request, caller: PageCaller) -> Response:
    number = request.query_params.get("request")

    def act() -> Response:
        if number and not (number.isdigit() and len(number) < 18):
            raise InvalidInput(f"an opt-out request number is a whole number; got {number[:40]!r}")
        status = optout.status(deployment(request), caller.actor, int(number)) if number else None
        if status is None and not has(caller, Role.CURATOR, Role.ADMIN):
            raise PolicyDenied("opt-out intake needs the role curator or admin")
        return render(request, caller, "optout.html", "Opt-out", status=status)

    return attempt(request, caller, act, "optout.html", "Opt-out", status=None)


@router.post("/optout", **page_rule(Action.OPT_OUT))
def optout_submit(
    request: Request,
    caller: PageCaller,
    photo: Annotated[UploadFile, File()],
    contact: Annotated[str, Form()],
) -> Response:
    def act() -> Response:
        found_deployment = deployment(request)
        with saved_upload(photo, found_deployment, field="photo") as path:
            status = optout.submit(found_deployment, caller.actor, path, contact)
        message = (
            "Future ingests skip this person. Nothing is deleted yet: check each match below and confirm "
            "only the faces that are this person."
            if status.status == "pending"
            else "Future ingests skip this person; no gallery face matched closely enough to delete."
        )
        return render(request, caller, "optout.html", "Opt-out", status=status, message=message)

    return attempt(request, caller, act, "optout.html", "Opt-out", status=None)


@router.post("/optout/{request_id}/confirm", **page_rule(Action.OPT_OUT))
def optout_confirm(
    request: Request,
    caller: PageCaller,
    request_id: RowId,
    face_ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    """Step two: only the faces ticked are deleted; the other matches stay in the gallery untouched."""

    def act() -> Response:
        status = optout.confirm(deployment(request), caller.actor, request_id, face_ids or [])
        return render(
            request,
            caller,
            "optout.html",
            "Opt-out",
            status=status,
            message=f"Done: {status.faces_removed} confirmed face(s) were removed completely; the others were kept.",
        )

    return attempt(request, caller, act, "optout.html", "Opt-out", status=None)


def _ledger_page(request: Request, caller: Caller, verification: Any = None) -> Response:
    filters = {
        "action": request.query_params.get("action") or None,
        "outcome": request.query_params.get("outcome") or None,
    }
    found_deployment = deployment(request)
    entries = audit_ledger.show(found_deployment, caller.actor, limit=200, **filters)
    everything = audit_ledger.show(found_deployment, caller.actor, limit=100_000)
    usage = Counter(f"{e['action']} ({e['outcome']})" for e in everything).most_common(12)
    return render(
        request,
        caller,
        "ledger.html",
        "Ledger",
        entries=list(reversed(entries)),
        filters=filters,
        usage=usage,
        usage_max=max((c for _, c in usage), default=1),
        verification=verification,
    )


@router.get("/ledger", response_class=HTMLResponse, **page_rule(Action.VIEW_LEDGER))
def ledger_page(request: Request, caller: PageCaller) -> Response:
    return attempt(request, caller, lambda: _ledger_page(request, caller), "error.html", "Ledger")


@router.post("/ledger/verify", **page_rule(Action.VIEW_LEDGER))
def ledger_verify(
    request: Request,
    caller: PageCaller,
) -> Response:
    def act() -> Response:
        return _ledger_page(request, caller, audit_ledger.verify(deployment(request), caller.actor))

    return attempt(request, caller, act, "error.html", "Ledger")
