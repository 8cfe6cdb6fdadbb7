"""The pages without a browser: sign-in redirects, CSRF on forms, and bad input shown as a page, never a 500."""

from __future__ import annotations

import re

from tests.api.conftest import Api

PASSWORD = "a long enough password"


def _sign_in(api: Api, user: str) -> None:
    api.office.set_password(user, PASSWORD)
    page = api.client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    signed = api.client.post(
        "/ui/login", data={"username": user, "password": PASSWORD, "csrf_token": token[1]}, follow_redirects=False
    )
    assert signed.status_code == 303 and signed.headers["location"] == "/ui/"


def test_pages_need_a_session_and_forms_need_their_csrf_token(api: Api) -> None:
    anonymous = api.client.get("/ui/cases", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/ui/login"
    _sign_in(api, "supervisor")
    assert "Authorisation active" in api.client.get("/ui/").text
    forged = api.client.post("/ui/authority/halt", data={"reason": "x", "csrf_token": "forged"})
    assert forged.status_code == 403
    assert "Authorisation active" in api.client.get("/ui/").text, "a forged form changes nothing"


def test_bad_input_on_a_page_is_a_page_not_a_500(api: Api) -> None:
    _sign_in(api, "curator")
    bad = api.client.get("/ui/optout", params={"request": "abc"})
    assert bad.status_code == 422 and "whole number" in bad.text
    missing = api.client.get("/ui/optout", params={"request": "999"})
    assert missing.status_code == 404 and "no opt-out request 999" in missing.text
