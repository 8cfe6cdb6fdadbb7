"""What every page shares: templates, sign-in redirects, rendering with the authorisation banner, and
refusals and errors shown as pages with their HTTP status (never raw JSON)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from faceledger.api.deps import CALLER_KEY, PUBLIC, SIGNED_IN, Caller, PageRefused, SignInNeeded, deployment, rule
from faceledger.api.errors import status_for
from faceledger.errors import FaceledgerError
from faceledger.policy.governance import Action, ActorView, Role
from faceledger.services.governance import authority
from faceledger.services.governance.guard import role_reasons

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")

# The main navigation, in order, with each page's rule: a link shows only to roles that may open it. The
# rule is the page route's own (page_rule); tests/api/test_pages.py holds the two equal.
NAVIGATION: tuple[tuple[str, str, Action | str], ...] = (
    ("/ui/", "Dashboard", SIGNED_IN),
    ("/ui/cases", "Cases", Action.VIEW_CASE),
    ("/ui/search", "New search", Action.SEARCH),
    ("/ui/video", "Video", Action.SEARCH),
    ("/ui/queue", "Review queue", Action.REVIEW),
    ("/ui/gallery", "Gallery", Action.VIEW_GALLERY),
    ("/ui/optout", "Opt-out", Action.OPT_OUT),
    ("/ui/ledger", "Ledger", Action.VIEW_LEDGER),
    ("/ui/reports", "Reports", Action.VIEW_LEDGER),
)


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInNeeded)
    async def to_login(_: Request, __: SignInNeeded) -> Response:
        return RedirectResponse("/ui/login", status_code=303)

    @app.exception_handler(PageRefused)
    def refused(request: Request, exc: PageRefused) -> Response:  # sync: rendering reads the authorisation
        return render(
            request,
            exc.caller,
            "error.html",
            "Refused",
            http_status=status_for(exc.error),
            error=str(exc.error),
            reasons=exc.reasons,
            back=way_back(request),
        )

    @app.get("/", include_in_schema=False, **rule(PUBLIC))
    def root() -> Response:
        return RedirectResponse("/ui/", status_code=303)


def render(
    request: Request, caller: Caller | None, name: str, title: str, http_status: int = 200, **context: Any
) -> Response:
    extra: dict[str, Any] = {"title": title, "actor": None}
    if caller is not None:
        extra.update(
            actor=caller.actor,
            roles=", ".join(sorted(caller.actor.roles)),
            csrf_token=caller.csrf_token,
            authority=authority.status(deployment(request), caller.actor),
            navigation=navigation(caller.actor),
        )
    return templates.TemplateResponse(request, name, {**extra, **context}, status_code=http_status)


def navigation(actor: ActorView) -> list[tuple[str, str]]:
    """The links of NAVIGATION whose page `actor` may open."""
    return [
        (path, label)
        for path, label, action in NAVIGATION
        if not isinstance(action, Action) or not role_reasons(actor, action)
    ]


def attempt(
    request: Request, caller: Caller, action: Callable[[], Response], name: str, title: str, **context: Any
) -> Response:
    """Run a page action; a refusal or bad input is shown on the page it came from, with its HTTP status and
    the form field that was wrong."""
    try:
        return action()
    except FaceledgerError as exc:
        shown = {"error": str(exc), "error_field": field_label(exc.field)}
        return render(request, caller, name, title, http_status=status_for(exc), **shown, **context)


def _form_labels() -> dict[str, str]:
    """Each form field's label as the pages show it (`<label for="x">`), read from the templates."""
    labels: dict[str, str] = {}
    for template in sorted((HERE / "templates").glob("*.html")):
        for field, label in LABEL.findall(template.read_text()):
            labels.setdefault(field, " ".join(label.split()))
    return labels


LABEL = re.compile(r'<label for="([a-z_]+)">([^<]+)</label>')
FORM_LABELS = _form_labels()


def field_label(field: str | None) -> str | None:
    """A service's field as the page calls it: the form's label where a form has one."""
    if field is None:
        return None
    return FORM_LABELS.get(field, field.replace("_", " ").capitalize())


async def page_error(request: Request, status: int, message: str, reasons: list[str], field: str | None) -> Response:
    """An error on a page outside its own handling (a form that did not parse, an unknown page, a service
    error): a page with every reason and a way back, never raw JSON."""
    caller = getattr(request.state, CALLER_KEY, None)
    shown = {"error": message, "error_field": field_label(field), "reasons": reasons, "back": way_back(request)}
    heading = {"reasons_heading": "What was wrong:"} if status != 403 else {}
    return await run_in_threadpool(
        render, request, caller, "error.html", "Not done", http_status=status, **shown, **heading
    )


def way_back(request: Request) -> str:
    """The page the user came from, if it is one of ours (the Referer of a same-site page), else the dashboard."""
    came_from = urlsplit(request.headers.get("referer", ""))
    if came_from.netloc == request.url.netloc and came_from.path.startswith("/ui/"):
        return came_from.path + (f"?{came_from.query}" if came_from.query else "")
    return "/ui/"


def has(caller: Caller, *roles: Role) -> bool:
    return bool(caller.actor.roles & set(roles))
