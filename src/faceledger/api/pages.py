"""What every page shares: templates, sign-in redirects, CSRF checks, rendering with the authorisation
banner, and refusals shown on the page with their HTTP status."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from faceledger.api.deps import PUBLIC, SIGNED_IN, Caller, PageRefused, SignInNeeded, caller, deployment, rule
from faceledger.api.errors import status_for
from faceledger.errors import FaceledgerError, NotAuthenticated, PolicyDenied
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
        )

    @app.get("/", include_in_schema=False, **rule(PUBLIC))
    def root() -> Response:
        return RedirectResponse("/ui/", status_code=303)


def signed_in(request: Request) -> Caller:
    try:
        return caller(request)
    except NotAuthenticated as exc:
        raise SignInNeeded from exc


def check_csrf(found: Caller, token: str) -> None:
    if not found.csrf_token or not secrets.compare_digest(found.csrf_token.encode(), token.encode()):
        raise PolicyDenied("the form's CSRF token is missing or wrong; reload the page and try again")


def render(
    request: Request, found: Caller | None, name: str, title: str, http_status: int = 200, **context: Any
) -> Response:
    extra: dict[str, Any] = {"title": title, "actor": None}
    if found is not None:
        extra.update(
            actor=found.actor,
            roles=", ".join(sorted(found.actor.roles)),
            csrf_token=found.csrf_token,
            authority=authority.status(deployment(request), found.actor),
            navigation=navigation(found.actor),
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
    request: Request, found: Caller, action: Callable[[], Response], name: str, title: str, **context: Any
) -> Response:
    """Run a page action; a refusal or bad input is shown on the page, with its HTTP status."""
    try:
        return action()
    except FaceledgerError as exc:
        return render(request, found, name, title, http_status=status_for(exc), error=str(exc), **context)


def has(found: Caller, *roles: Role) -> bool:
    return bool(found.actor.roles & set(roles))
