"""Sign-in, users and the council's authorisation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from faceledger.api.deps import PUBLIC, SESSION_COOKIE, SIGNED_IN, CallerDep, CurrentActor, DeploymentDep, rule
from faceledger.api.schemas import AuthorityGrant, Certification, Reason, SessionCreate, TokenCreate, UserCreate
from faceledger.policy.governance import Action
from faceledger.services import accounts, authority
from faceledger.services.web_sessions import SESSION_HOURS, sign_in, sign_out

router = APIRouter(prefix="/api/v1")


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=SESSION_HOURS * 3600, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")  # fmt: skip


@router.post("/session", tags=["sign-in"], **rule(PUBLIC))
def create_session(
    body: SessionCreate, request: Request, response: Response, deployment: DeploymentDep
) -> dict[str, Any]:
    """Sign in with a password: sets an HttpOnly, SameSite=Strict cookie; send the CSRF token back in the
    X-CSRF-Token header with every change made through the cookie."""
    opened = sign_in(deployment, body.username, body.password, request.client.host if request.client else "")
    set_session_cookie(response, opened.token, request)
    return {"user": opened.actor.name, "csrf_token": opened.csrf_token}


@router.delete("/session", tags=["sign-in"], **rule(PUBLIC))
def delete_session(request: Request, response: Response, deployment: DeploymentDep) -> dict[str, Any]:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sign_out(deployment, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": True}


@router.get("/me", tags=["sign-in"], **rule(SIGNED_IN))
def me(found: CallerDep) -> dict[str, Any]:
    actor = found.actor
    return {"user": actor.name, "roles": sorted(actor.roles), "department_id": actor.department_id,
            "certified_until": actor.certified_until.isoformat() if actor.certified_until else None}  # fmt: skip


@router.get("/users", tags=["users"], **rule(Action.MANAGE_USERS))
def list_users(actor: CurrentActor, deployment: DeploymentDep) -> list[dict[str, Any]]:
    return [user.to_dict() for user in accounts.list_users(deployment, actor)]


@router.post("/users", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def add_user(body: UserCreate, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    """Add a user; the response holds their API token, shown this once."""
    issued = accounts.add_user(deployment, actor, body.username, roles=body.roles, department=body.department,
                               display_name=body.display_name, certified_until=body.certified_until)  # fmt: skip
    return {"username": issued.username, "token": issued.token}


@router.post("/users/{username}/certification", tags=["users"], **rule(Action.MANAGE_USERS))
def certify(username: str, body: Certification, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    return accounts.certify(deployment, actor, username, body.until).to_dict()


@router.post("/users/{username}/disable", tags=["users"], **rule(Action.MANAGE_USERS))
def disable(username: str, body: Reason, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    return accounts.disable(deployment, actor, username, body.reason).to_dict()


@router.post("/users/{username}/tokens", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def issue_token(username: str, body: TokenCreate, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    issued = accounts.issue_token(deployment, actor, username, body.label)
    return {"username": issued.username, "token": issued.token}


@router.get("/authority", tags=["authority"], **rule(Action.VIEW_AUTHORITY))
def authority_status(actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    return authority.status(deployment, actor).to_dict()


@router.post("/authority", tags=["authority"], status_code=201, **rule(Action.GRANT_AUTHORITY))
def grant(body: AuthorityGrant, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    return authority.grant(deployment, actor, reference=body.reference, purposes=body.purposes,
                           offence_types=body.offence_types, starts_on=body.starts_on, ends_on=body.ends_on,
                           max_candidates=body.max_candidates).to_dict()  # fmt: skip


@router.post("/authority/halt", tags=["authority"], **rule(Action.HALT_AUTHORITY))
def halt(body: Reason, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    """The kill switch."""
    return authority.halt(deployment, actor, body.reason).to_dict()


@router.post("/authority/resume", tags=["authority"], **rule(Action.RESUME_AUTHORITY))
def resume(body: Reason, actor: CurrentActor, deployment: DeploymentDep) -> dict[str, Any]:
    return authority.resume(deployment, actor, body.reason).to_dict()
