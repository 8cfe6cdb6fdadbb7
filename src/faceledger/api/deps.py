"""Typed dependencies: the deployment, the current user (bearer token or session cookie), and the role
rule each route declares. A route's rule is also in its OpenAPI entry (`x-faceledger-action`), which the
role x endpoint matrix test reads, so a route without a rule fails the suite."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam

from faceledger.policy.governance import Action, ActorView
from faceledger.services.accounts import authenticate_token
from faceledger.services.deployment import Deployment
from faceledger.services.guard import record_refusal, require_role
from faceledger.services.web_sessions import session_actor

SESSION_COOKIE = "faceledger_session"
CSRF_HEADER = "X-CSRF-Token"
PUBLIC = "public"
SIGNED_IN = "signed_in"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Ids and positions are the database's 64-bit integers: a larger number is a 422, not a 500.
MAX_ID = 2**63 - 1
RowId = Annotated[int, PathParam(ge=1, le=MAX_ID)]


@dataclass
class AppState:
    deployment: Deployment
    progress: dict[int, dict[str, Any]] = field(default_factory=dict)  # running ingest jobs
    uploads: dict[str, tuple[Path, float]] = field(default_factory=dict)  # probes waiting for a face choice


def state(request: Request) -> AppState:
    found: AppState = request.app.state.faceledger
    return found


def deployment(request: Request) -> Deployment:
    return state(request).deployment


DeploymentDep = Annotated[Deployment, Depends(deployment)]


@dataclass(frozen=True)
class Caller:
    actor: ActorView
    csrf_token: str | None  # set when signed in with a browser session


def caller(request: Request) -> Caller:
    found = deployment(request)
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return Caller(authenticate_token(found, header[7:].strip()), None)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise record_refusal(found, None, "authenticate", [f"no credentials for {request.method} {request.url.path}"])
    opened = session_actor(found, cookie)
    changes = request.method not in SAFE_METHODS and request.url.path.startswith("/api/")
    if changes and request.headers.get(CSRF_HEADER) != opened.csrf_token:
        raise record_refusal(found, opened.actor, "authenticate", [f"the {CSRF_HEADER} header is missing or wrong"])
    return Caller(opened.actor, opened.csrf_token)


CallerDep = Annotated[Caller, Depends(caller)]


def current_actor(found: CallerDep) -> ActorView:
    return found.actor


CurrentActor = Annotated[ActorView, Depends(current_actor)]


def _require(action: Action) -> Any:
    def check(request: Request, actor: CurrentActor) -> None:
        require_role(deployment(request), actor, action)

    return check


def page_rule(action: Action | str) -> dict[str, Any]:
    """A page's rule, recorded for the matrix test; pages check it themselves so that a person who is not
    signed in is sent to the sign-in page rather than shown JSON."""
    return {"openapi_extra": {"x-faceledger-action": action.value if isinstance(action, Action) else action}}


def rule(action: Action | str) -> dict[str, Any]:
    """Route keyword arguments: the role check (for an Action) and the rule in the OpenAPI entry."""
    name = action.value if isinstance(action, Action) else action
    extra = {"openapi_extra": {"x-faceledger-action": name}}
    if isinstance(action, Action):
        return {"dependencies": [Depends(_require(action))], **extra}
    if action == SIGNED_IN:
        return {"dependencies": [Depends(current_actor)], **extra}
    return extra
