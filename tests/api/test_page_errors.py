"""A page never answers raw JSON: refusals, forms that do not parse, unknown pages, service errors and
internal errors are pages with what was wrong (the form field by its label) and a way back. A page handler
gets its caller only from its page rule, so a page route without one cannot serve anyone."""

from __future__ import annotations

import io
import re

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from PIL import Image

from faceledger.api.deps import PageCaller
from faceledger.api.pages import FORM_LABELS, field_label
from faceledger.store import ledger
from tests.api.conftest import Api
from tests.api.test_pages import _sign_in


def _csrf(api: Api, path: str = "/ui/") -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', api.client.get(path).text)
    assert token is not None
    return token[1]


def _is_page(response: Response) -> bool:
    return response.headers["content-type"].startswith("text/html") and 'href="/ui/"' in response.text


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 90, 60)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_a_form_that_does_not_parse_is_a_page_naming_the_field(api: Api) -> None:
    _sign_in(api, "supervisor")
    missing = api.client.post(
        "/ui/authority/halt", data={"csrf_token": _csrf(api)}, headers={"referer": "http://testserver/ui/"}
    )
    assert missing.status_code == 422 and _is_page(missing), missing.text[:300]
    assert "What was wrong" in missing.text and "reason: Field required" in missing.text
    assert "Authorisation active" in api.client.get("/ui/").text, "nothing was halted"


def test_an_unknown_page_is_a_page(api: Api) -> None:
    _sign_in(api, "analyst")
    unknown = api.client.get("/ui/no-such-page")
    assert unknown.status_code == 404 and _is_page(unknown)
    assert api.client.get("/api/v1/no-such-route").headers["content-type"] == "application/json"


def test_a_service_error_names_the_field_in_each_entry_points_words(api: Api) -> None:
    _sign_in(api, "curator")
    page = api.client.post(
        "/ui/optout",
        data={"contact": "   ", "csrf_token": _csrf(api, "/ui/optout")},
        files={"photo": ("p.jpg", _jpeg(), "image/jpeg")},
        headers={"referer": "http://testserver/ui/optout"},
    )
    assert page.status_code == 422
    label = FORM_LABELS["contact"]
    assert f"<strong>{label}</strong>: an opt-out needs a contact" in page.text, page.text[page.text.find("<main") :][
        :600
    ]
    assert "--contact" not in page.text, "a web user is not told a command-line flag"
    api_error = api.client.post(
        "/api/v1/optouts",
        data={"contact": "   "},
        files={"photo": ("p.jpg", _jpeg(), "image/jpeg")},
        headers=api.headers("curator"),
    )
    assert api_error.status_code == 422
    assert api_error.json()["error"]["details"] == {"field": "contact"}


def test_form_labels_come_from_the_templates() -> None:
    assert FORM_LABELS["legal_basis"] == "Legal basis (for a new source)"
    assert field_label("max_candidates") == "Max candidates", "a field no form labels reads as words"
    assert field_label(None) is None


def test_a_page_route_without_its_rule_cannot_get_a_caller(api: Api) -> None:
    ran: list[str] = []
    router = APIRouter(prefix="/ui")

    @router.get("/ruleless", response_class=HTMLResponse)
    def ruleless(request: Request, found: PageCaller) -> str:  # no **page_rule(...): the mistake
        ran.append(found.actor.username)
        return "served"

    api.client.app.include_router(router)  # type: ignore[attr-defined]
    _sign_in(api, "supervisor")
    answered = api.client.get("/ui/ruleless")
    assert answered.status_code == 500 and "served" not in answered.text and ran == []
    assert _is_page(answered), "an internal error on a page is a page too"


def test_a_refusal_offers_the_way_back_it_came(api: Api) -> None:
    _sign_in(api, "auditor")
    refused = api.client.get("/ui/search", headers={"referer": "http://testserver/ui/ledger"})
    assert refused.status_code == 403 and "Refused because" in refused.text
    assert 'href="/ui/ledger"' in refused.text
    elsewhere = api.client.get("/ui/search", headers={"referer": "https://evil.example/ui/ledger"})
    assert 'href="https://evil.example' not in elsewhere.text, "only our own pages are offered as the way back"


def test_a_malformed_form_is_judged_only_after_sign_in_and_csrf(api: Api) -> None:
    """Attack: a form with missing fields must not let a stranger or a forger learn the form's shape (or
    skip the ledger) through the new 'what was wrong' page: sign-in and CSRF come first."""
    stranger = api.client.post("/ui/authority/halt", data={}, follow_redirects=False)
    assert stranger.status_code == 303 and stranger.headers["location"] == "/ui/login"
    _sign_in(api, "supervisor")
    before = len(api.office.entries(outcome=ledger.REFUSED))
    forged = api.client.post("/ui/authority/halt", data={"csrf_token": "forged"})
    assert forged.status_code == 403 and "Refused because" in forged.text and "Field required" not in forged.text
    assert len(api.office.entries(outcome=ledger.REFUSED)) == before + 1, "the forgery is on the ledger"
    assert "Authorisation active" in api.client.get("/ui/").text
