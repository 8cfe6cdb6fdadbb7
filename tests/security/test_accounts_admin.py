"""M9: tokens can be revoked (one's own without approval; another's by one admin at once, since it only
restricts); roles change and users are re-enabled through the two-person rule; a password change ends
every session and a credential reset ends every session and every token."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pytest

from faceledger.errors import PolicyDenied
from faceledger.services.people import accounts
from faceledger.services.people.web_sessions import session_actor, sign_in
from faceledger.services.runtime.deployment import Deployment
from tests.office import Office, make_office

PASSWORD = "correct horse battery staple"


@pytest.fixture
def office(make_deployment: Callable[..., Deployment]) -> Office:
    return make_office(make_deployment(), grant=False)


def new_api() -> Any:
    return importlib.import_module("faceledger.services.people.account_requests")


def test_a_user_revokes_their_own_tokens_without_an_admin(office: Office) -> None:
    token = office.tokens["analyst"]
    assert accounts.revoke_tokens(office.deployment, office.analyst, "analyst") == 1
    with pytest.raises(PolicyDenied, match="revoked"):
        accounts.authenticate_token(office.deployment, token)


def test_one_admin_revokes_someone_elses_tokens_at_once(office: Office) -> None:
    assert accounts.revoke_tokens(office.deployment, office.admin, "reviewer1") == 1
    with pytest.raises(PolicyDenied, match="revoked"):
        accounts.authenticate_token(office.deployment, office.tokens["reviewer1"])


def test_changing_ones_password_ends_every_session(office: Office) -> None:
    me = office.supervisor
    accounts.set_password(office.deployment, me, "supervisor", PASSWORD)
    opened = sign_in(office.deployment, "supervisor", PASSWORD)
    accounts.set_password(office.deployment, me, "supervisor", "another long password")
    with pytest.raises(PolicyDenied, match="ended"):
        session_actor(office.deployment, opened.token)


def test_a_credential_reset_ends_sessions_and_tokens_and_needs_two_admins(office: Office) -> None:
    accounts.set_password(office.deployment, office.auditor, "auditor", PASSWORD)
    opened = sign_in(office.deployment, "auditor", PASSWORD)
    asked = new_api().request_reset(office.deployment, office.admin, "auditor")
    assert session_actor(office.deployment, opened.token).actor.name == "auditor"  # nothing until approved
    new_api().approve(office.deployment, office.admin2, asked.id)
    with pytest.raises(PolicyDenied, match="ended"):
        session_actor(office.deployment, opened.token)
    with pytest.raises(PolicyDenied, match="revoked"):
        accounts.authenticate_token(office.deployment, office.tokens["auditor"])
    with pytest.raises(PolicyDenied, match="wrong user name or password"):
        sign_in(office.deployment, "auditor", PASSWORD)
    assert office.enrol("auditor", "a fresh password here").name == "auditor"  # the new code, in the outbox


def test_re_enabling_needs_a_second_admin(office: Office) -> None:
    accounts.disable(office.deployment, office.admin, "curator", "on leave")
    asked = new_api().request_enable(office.deployment, office.admin, "curator")
    with pytest.raises(PolicyDenied, match="disabled"):
        accounts.authenticate_token(office.deployment, office.tokens["curator"])
    with pytest.raises(PolicyDenied, match="cannot approve it"):
        new_api().approve(office.deployment, office.admin, asked.id)
    new_api().approve(office.deployment, office.admin2, asked.id)
    assert accounts.authenticate_token(office.deployment, office.tokens["curator"]).name == "curator"


def test_nobody_approves_a_change_to_their_own_account(office: Office) -> None:
    asked = new_api().request_roles(office.deployment, office.admin, "admin2", ["admin", "auditor"])
    with pytest.raises(PolicyDenied, match="their own account"):
        new_api().approve(office.deployment, office.admin2, asked.id)
