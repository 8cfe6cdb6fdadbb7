"""Typed dependencies: the deployment, the current user (bearer token or session cookie), and the role
rule each route declares. A route's rule is also in its OpenAPI entry (`x-faceledger-action`), which the
role x endpoint matrix test reads, so a route without a rule fails the suite."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi import Path as PathParam
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from faceledger.errors import NotAuthenticated, PolicyDenied
from faceledger.policy.governance import Action, ActorView
from faceledger.services.governance import refusal_counter
from faceledger.services.governance.guard import (
    AUTHENTICATE,
    FORGERY,
    Refusable,
    record_refusal,
    require_role,
    role_reasons,
)
from faceledger.services.people.accounts import authenticate_token
from faceledger.services.people.web_sessions import session_actor
from faceledger.services.runtime.deployment import Deployment

SESSION_COOKIE = "faceledger_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF = FORGERY  # the ledger action of a refused cross-site request forgery
PUBLIC = "public"
SIGNED_IN = "signed_in"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Ids and positions are the database's 64-bit integers: a larger number is a 422, not a 500.
MAX_ID = 2**63 - 1
RowId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


@dataclass
class AppState:
    deployment: Deployment
    # Nothing else: request state (step-one uploads, ingest progress) lives in the data directory and the
    # database, so that any server process can answer any request; analyses run in bounded worker processes.


def state(request: Request) -> AppState:
    app_state: AppState = request.app.state.faceledger
    return app_state


def deployment(request: Request) -> Deployment:
    return state(request).deployment


DeploymentDep = Annotated[Deployment, Depends(deployment)]


@dataclass(frozen=True)
class Caller:
    actor: ActorView
    csrf_token: str | None  # set when signed in with a browser session


CALLER_KEY = "faceledger_caller"  # request.state: who the body guard found, before the body was read


def client_source(scope: Mapping[str, Any]) -> str:
    """The client's address as the server saw it (a proxy in front is one source for all; say so there)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def identify(
    office: Deployment, headers: Mapping[str, str], cookies: Mapping[str, str], method: str, path: str, source: str
) -> Caller:
    """Who sent a request, from its headers alone: a bearer token or a session cookie. Refusals of
    requests that name no known user are counted per minute and source, not ledgered one by one."""
    with refusal_counter.counting(source, method, path):
        header = headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            return Caller(authenticate_token(office, header[7:].strip()), None)
        cookie = cookies.get(SESSION_COOKIE)
        if not cookie:
            raise record_refusal(office, None, AUTHENTICATE, ["no credentials"])
        opened = session_actor(office, cookie)
        return Caller(opened.actor, opened.csrf_token)


def identified(request: Request) -> Caller:
    cached: Caller | None = getattr(request.state, CALLER_KEY, None)
    if cached is None:
        cached = identify(
            deployment(request),
            request.headers,
            request.cookies,
            request.method,
            request.url.path,
            client_source(request.scope),
        )
        setattr(request.state, CALLER_KEY, cached)
    return cached


def same_token(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and secrets.compare_digest(str(expected).encode(), str(given).encode())


# How a client authenticates, as OpenAPI schemes (so /docs has an Authorize button and a generated client
# sends the token). The header and cookie are read once, by identify(), before any body is read
# (request_guard.py); these dependencies only describe them and are not consulted.
BEARER = HTTPBearer(auto_error=False, description="An API token (faceledger enrol, or POST /api/v1/enrol).")
SESSION = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="A browser session (POST /api/v1/session).")


def caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    _session: Annotated[str | None, Security(SESSION)] = None,
) -> Caller:
    known = identified(request)
    changes = request.method not in SAFE_METHODS and request.url.path.startswith("/api/")
    if changes and known.csrf_token is not None and not same_token(known.csrf_token, request.headers.get(CSRF_HEADER)):
        # A forged cross-site request by a signed-in browser: a 403, ledgered as a CSRF refusal.
        raise record_refusal(deployment(request), known.actor, CSRF, [f"the {CSRF_HEADER} header is missing or wrong"])
    return known


CallerDep = Annotated[Caller, Depends(caller)]


def current_actor(known: CallerDep) -> ActorView:
    return known.actor


CurrentActor = Annotated[ActorView, Depends(current_actor)]


def _require(action: Action) -> Any:
    def check(request: Request, actor: CurrentActor) -> None:
        require_role(deployment(request), actor, action)

    return check


class SignInNeeded(Exception):
    """A page asked for by someone not signed in: they are sent to the sign-in page."""


class PageWithoutRule(RuntimeError):
    """A page handler took PageCaller on a route declared without page_rule: a programming error."""


class PageRefused(Exception):
    """A page's rule refused the request (ledgered): shown as a page with every reason and its status."""

    def __init__(self, signed: Caller, error: PolicyDenied, reasons: list[str]) -> None:
        super().__init__(str(error))
        self.caller, self.error, self.reasons = signed, error, reasons


def _signed_in_or_sent_to_sign_in(request: Request) -> Caller:
    try:
        return caller(request)
    except NotAuthenticated as exc:
        raise SignInNeeded from exc


def _page_check(action: Action | str) -> Any:
    """What every page's rule enforces before its handler runs: signed in (or sent to sign in), the
    form's CSRF token on every change, and the role rule; each refusal is ledgered."""

    async def check(request: Request) -> None:
        signed = await run_in_threadpool(_signed_in_or_sent_to_sign_in, request)
        refuse: tuple[Refusable, list[str]] | None = None
        if request.method not in SAFE_METHODS:
            token = (await request.form()).get("csrf_token")  # FastAPI has parsed the form already: no reread
            if not same_token(signed.csrf_token, token if isinstance(token, str) else None):
                refuse = (CSRF, ["the form's CSRF token is missing or wrong; reload the page and try again"])
        if refuse is None and isinstance(action, Action):
            reasons = role_reasons(signed.actor, action)
            refuse = (action, reasons) if reasons else None
        if refuse is not None:
            error = await run_in_threadpool(record_refusal, deployment(request), signed.actor, *refuse)
            raise PageRefused(signed, error, refuse[1])
        request.state.page_caller = signed

    return check


def page_caller(request: Request) -> Caller:
    """The caller the page's rule signed in, checked and let through. A handler gets its caller only this
    way, so a page route without page_rule cannot have one (and fails loudly, not open)."""
    signed = getattr(request.state, "page_caller", None)
    if not isinstance(signed, Caller):
        raise PageWithoutRule(f"{request.url.path} asks for its caller but has no page_rule")
    return signed


PageCaller = Annotated[Caller, Depends(page_caller)]


def page_rule(action: Action | str) -> dict[str, Any]:
    """A page's route keyword arguments: the checks above (none for a public page) and the rule, which
    the page matrix test reads, so a page without a rule fails the suite."""
    extra = {"openapi_extra": {"x-faceledger-action": action.value if isinstance(action, Action) else action}}
    if action == PUBLIC:
        return extra
    return {"dependencies": [Depends(_page_check(action))], **extra}


def rule(action: Action | str) -> dict[str, Any]:
    """Route keyword arguments: the role check (for an Action) and the rule in the OpenAPI entry."""
    name = action.value if isinstance(action, Action) else action
    extra = {"openapi_extra": {"x-faceledger-action": name}}
    if isinstance(action, Action):
        return {"dependencies": [Depends(_require(action))], **extra}
    if action == SIGNED_IN:
        return {"dependencies": [Depends(current_actor)], **extra}
    return extra
