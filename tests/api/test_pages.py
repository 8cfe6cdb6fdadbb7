"""The pages without a browser: sign-in redirects, CSRF on forms, and bad input shown as a page, never a 500."""

from __future__ import annotations

import re

from faceledger.api.pages import NAVIGATION
from tests.api.conftest import Api
from tests.api.test_api import _routes, _rule

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


def _menu(html: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', html, re.S)
    assert nav is not None, "the signed-in page has the main navigation"
    return re.findall(r'href="([^"]+)"', nav[1])


def test_navigation_shows_exactly_the_pages_the_roles_may_open(api: Api) -> None:
    rules = {path: _rule(route) for route, path, methods in _routes(api.client.app) if "GET" in methods}  # type: ignore[arg-type]
    for path, _, action in NAVIGATION:
        assert rules.get(path) == str(action), f"the menu's rule for {path} is its page's rule"
    everything = [path for path, _, _ in NAVIGATION]
    seen: dict[str, list[str]] = {}
    for user in ("supervisor", "analyst", "reviewer1", "auditor", "curator"):
        api.client.cookies.clear()
        _sign_in(api, user)
        shown = seen[user] = _menu(api.client.get("/ui/").text)
        for path in everything:
            page = api.client.get(path, follow_redirects=False)
            if path in shown:
                assert page.status_code == 200, f"{user} is offered {path} but gets {page.status_code}"
            else:
                assert page.status_code == 403, f"{user} is not offered {path}, which answers {page.status_code}"
                assert "Refused because" in page.text and 'href="/ui/"' in page.text, "a refusal page with a way back"
    assert "/ui/queue" in seen["reviewer1"] and "/ui/queue" not in seen["supervisor"]
    assert "/ui/search" in seen["analyst"] and "/ui/search" not in seen["auditor"]
