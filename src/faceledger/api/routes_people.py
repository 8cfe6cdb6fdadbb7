"""Sign-in, enrolment, users (the two-person rule) and the council's authorisation."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from faceledger.api.deps import PUBLIC, SESSION_COOKIE, SIGNED_IN, CallerDep, CurrentActor, DeploymentDep, RowId, rule
from faceledger.api.responses import (
    AccountRequestPublic,
    AuthorityPublic,
    IssuedToken,
    Me,
    OwnTokensRevoked,
    PasswordChanged,
    SessionOpened,
    SignedOut,
    TokensRevoked,
    UserPublic,
)
from faceledger.api.schemas import (
    AuthorityGrant,
    Certification,
    Decision,
    Enrolment,
    PasswordChange,
    Reason,
    RolesUpdate,
    SessionCreate,
    TokenCreate,
    UserCreate,
)
from faceledger.policy.governance import Action
from faceledger.services.governance import authority
from faceledger.services.people import account_requests, accounts
from faceledger.services.people.web_sessions import SESSION_HOURS, sign_in, sign_out

router = APIRouter(prefix="/api/v1")


def set_session_cookie(response: Response, token: str, request: Request) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.post("/session", tags=["sign-in"], **rule(PUBLIC))
def create_session(
    body: SessionCreate, request: Request, response: Response, deployment: DeploymentDep
) -> SessionOpened:
    """Sign in with a password: sets an HttpOnly, SameSite=Strict cookie; send the CSRF token back in the
    X-CSRF-Token header with every change made through the cookie."""
    opened = sign_in(deployment, body.username, body.password, request.client.host if request.client else "")
    set_session_cookie(response, opened.token, request)
    return SessionOpened(user=opened.actor.name, csrf_token=opened.csrf_token)


@router.delete("/session", tags=["sign-in"], **rule(PUBLIC))
def delete_session(request: Request, response: Response, deployment: DeploymentDep) -> SignedOut:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        sign_out(deployment, token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return SignedOut(signed_out=True)


@router.get("/me", tags=["sign-in"], **rule(SIGNED_IN))
def me(found: CallerDep) -> Me:
    actor = found.actor
    return Me(
        user=actor.name,
        roles=sorted(actor.roles),
        department_id=actor.department_id,
        certified_until=actor.certified_until,
    )


@router.get("/users", tags=["users"], **rule(Action.MANAGE_USERS))
def list_users(actor: CurrentActor, deployment: DeploymentDep) -> list[UserPublic]:
    return [UserPublic.model_validate(user) for user in accounts.list_users(deployment, actor)]


@router.post("/users", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def add_user(body: UserCreate, actor: CurrentActor, deployment: DeploymentDep) -> AccountRequestPublic:
    """Ask for a new user: a second admin approves; the user's enrolment code goes to their outbox file,
    never into this response."""
    asked = account_requests.request_user(
        deployment,
        actor,
        body.username,
        roles=[role.value for role in body.roles],
        department=body.department,
        display_name=body.display_name,
        certified_until=body.certified_until,
    )
    return AccountRequestPublic.model_validate(asked)


@router.post("/users/{username}/certification", tags=["users"], **rule(Action.MANAGE_USERS))
def certify(username: str, body: Certification, actor: CurrentActor, deployment: DeploymentDep) -> UserPublic:
    return UserPublic.model_validate(accounts.certify(deployment, actor, username, body.until))


@router.post("/users/{username}/disable", tags=["users"], **rule(Action.MANAGE_USERS))
def disable(username: str, body: Reason, actor: CurrentActor, deployment: DeploymentDep) -> UserPublic:
    return UserPublic.model_validate(accounts.disable(deployment, actor, username, body.reason))


@router.post("/users/{username}/tokens", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def issue_token(
    username: str, body: TokenCreate, actor: CurrentActor, deployment: DeploymentDep
) -> IssuedToken | AccountRequestPublic:
    """Your own token is issued at once; a token for someone else is a request a second admin approves,
    and the user receives it, not you."""
    if username == actor.name:
        return IssuedToken.model_validate(accounts.issue_token(deployment, actor, username, body.label))
    return AccountRequestPublic.model_validate(account_requests.request_token(deployment, actor, username, body.label))


@router.delete("/users/{username}/tokens", tags=["users"], **rule(Action.MANAGE_USERS))
def revoke_tokens(username: str, actor: CurrentActor, deployment: DeploymentDep) -> TokensRevoked:
    """Revoke every token of a user at once (it only restricts: one admin suffices)."""
    return TokensRevoked(username=username, revoked=accounts.revoke_tokens(deployment, actor, username))


@router.post("/users/{username}/roles", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def request_roles(
    username: str, body: RolesUpdate, actor: CurrentActor, deployment: DeploymentDep
) -> AccountRequestPublic:
    return AccountRequestPublic.model_validate(
        account_requests.request_roles(deployment, actor, username, [r.value for r in body.roles])
    )


@router.post("/users/{username}/enable", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def request_enable(username: str, actor: CurrentActor, deployment: DeploymentDep) -> AccountRequestPublic:
    return AccountRequestPublic.model_validate(account_requests.request_enable(deployment, actor, username))


@router.post("/users/{username}/reset", tags=["users"], status_code=201, **rule(Action.MANAGE_USERS))
def request_reset(username: str, actor: CurrentActor, deployment: DeploymentDep) -> AccountRequestPublic:
    """Ask for a credential reset: password cleared, every token and session ended, a new enrolment code."""
    return AccountRequestPublic.model_validate(account_requests.request_reset(deployment, actor, username))


@router.get("/account-requests", tags=["users"], **rule(Action.MANAGE_USERS))
def list_requests(actor: CurrentActor, deployment: DeploymentDep) -> list[AccountRequestPublic]:
    return [AccountRequestPublic.model_validate(row) for row in account_requests.list_requests(deployment, actor)]


@router.post("/account-requests/{request_id}/approve", tags=["users"], **rule(Action.APPROVE_ACCOUNT_CHANGE))
def approve(request_id: RowId, body: Decision, actor: CurrentActor, deployment: DeploymentDep) -> AccountRequestPublic:
    """A second admin approves another admin's request."""
    return AccountRequestPublic.model_validate(account_requests.approve(deployment, actor, request_id, body.note))


@router.post("/account-requests/{request_id}/reject", tags=["users"], **rule(Action.MANAGE_USERS))
def reject(request_id: RowId, body: Decision, actor: CurrentActor, deployment: DeploymentDep) -> AccountRequestPublic:
    return AccountRequestPublic.model_validate(account_requests.reject(deployment, actor, request_id, body.note))


@router.post("/enrol", tags=["sign-in"], **rule(PUBLIC))
def enrol(body: Enrolment, request: Request, deployment: DeploymentDep) -> IssuedToken:
    """Redeem a one-time enrolment code: set your password (optional) and receive your API token, once."""
    issued = account_requests.enrol(
        deployment, body.username, body.code, body.password, request.client.host if request.client else ""
    )
    return IssuedToken.model_validate(issued)


@router.put("/me/password", tags=["sign-in"], **rule(SIGNED_IN))
def change_password(body: PasswordChange, found: CallerDep, deployment: DeploymentDep) -> PasswordChanged:
    """Change your own password; every web session of yours ends (sign in again)."""
    accounts.set_password(deployment, found.actor, found.actor.name, body.password)
    return PasswordChanged(user=found.actor.name, sessions_ended=True)


@router.delete("/me/tokens", tags=["sign-in"], **rule(SIGNED_IN))
def revoke_own_tokens(found: CallerDep, deployment: DeploymentDep) -> OwnTokensRevoked:
    """Revoke every API token of yours (no approval needed)."""
    revoked = accounts.revoke_tokens(deployment, found.actor, found.actor.name)
    return OwnTokensRevoked(user=found.actor.name, revoked=revoked)


@router.get("/authority", tags=["authority"], **rule(Action.VIEW_AUTHORITY))
def authority_status(actor: CurrentActor, deployment: DeploymentDep) -> AuthorityPublic:
    return AuthorityPublic.model_validate(authority.status(deployment, actor).to_dict())


@router.post("/authority", tags=["authority"], status_code=201, **rule(Action.GRANT_AUTHORITY))
def grant(body: AuthorityGrant, actor: CurrentActor, deployment: DeploymentDep) -> AuthorityPublic:
    granted = authority.grant(
        deployment,
        actor,
        reference=body.reference,
        purposes=body.purposes,
        offence_types=body.offence_types,
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        max_candidates=body.max_candidates,
    )
    return AuthorityPublic.model_validate(granted.to_dict())


@router.post("/authority/halt", tags=["authority"], **rule(Action.HALT_AUTHORITY))
def halt(body: Reason, actor: CurrentActor, deployment: DeploymentDep) -> AuthorityPublic:
    """The kill switch."""
    return AuthorityPublic.model_validate(authority.halt(deployment, actor, body.reason).to_dict())


@router.post("/authority/resume", tags=["authority"], **rule(Action.RESUME_AUTHORITY))
def resume(body: Reason, actor: CurrentActor, deployment: DeploymentDep) -> AuthorityPublic:
    return AuthorityPublic.model_validate(authority.resume(deployment, actor, body.reason).to_dict())
