"""H1: every page enforces its rule before its handler runs (signed in, CSRF on changes, role), with the
role x page matrix generated from the page route table; and step one of a search (the faces in a photo,
the tracks in a video), by page or API, is governed like the search and ledgered with the probe's hash."""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image

from faceledger.api import web_video
from faceledger.api.deps import PUBLIC, SESSION_COOKIE, SIGNED_IN
from faceledger.engine.video import VideoInfo
from faceledger.engine.video_faces import VideoFaces
from faceledger.policy.governance import ROLES_FOR, Action
from faceledger.services.casework import cases
from faceledger.services.governance import authority
from faceledger.services.people import web_sessions
from faceledger.store import ledger
from tests.api.conftest import Api
from tests.api.test_api import _routes
from tests.office import Office

RULE_KEY = "x-faceledger-action"
PASSWORD = "a long enough password"
OTHER_DEPARTMENT = "Another Department"
# The supervisor last: the matrix closes case C-1 with its rights.
ROLE_USERS = ("curator", "analyst", "reviewer1", "auditor", "admin", "other_supervisor", "supervisor")
CASE_PARAMS = ("{number}", "{search_id}", "{candidate_id}")
LAST = ("/ui/cases/{number}/close", "/ui/logout")  # they change what the rest of the matrix sees


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 120, 120)).save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def _page_routes(client: TestClient) -> list[tuple[str, str, str, set[str]]]:
    """(method, path template, rule, form fields) for every /ui route, from the route table."""
    found = []
    for route, path, methods in _routes(client.app):  # type: ignore[arg-type]
        if isinstance(route, APIRoute) and path.startswith("/ui"):
            rule = str((route.openapi_extra or {}).get(RULE_KEY))
            fields = {param.alias for param in route.dependant.body_params}
            found.extend((method, path, rule, fields) for method in methods if method != "HEAD")
    return sorted(found, key=lambda r: (r[1] in LAST, LAST.index(r[1]) if r[1] in LAST else 0, r[1], r[0]))


def _fill(path: str) -> str:
    return path.replace("{number}", "C-1").replace("{search_id}", "1").replace("{candidate_id}", "1")


def _sessions(office: Office) -> dict[str, tuple[str, str]]:
    """A browser session (cookie, CSRF token) for each user."""
    office.add("other_supervisor", "supervisor", department=OTHER_DEPARTMENT)
    office.add("other_analyst", "analyst", department=OTHER_DEPARTMENT)
    office.add("unassigned_analyst", "analyst")
    opened = {}
    for user in (*ROLE_USERS, "other_analyst", "unassigned_analyst", "reviewer2"):
        office.set_password(user, PASSWORD)
        session = web_sessions.sign_in(office.deployment, user, PASSWORD)
        opened[user] = (session.token, session.csrf_token)
    return opened


@pytest.fixture
def signed(api: Api) -> Iterator[dict[str, tuple[str, str]]]:
    yield _sessions(api.office)
    api.client.cookies.clear()


def _send(api: Api, method: str, path: str, fields: set[str], session: tuple[str, str] | None) -> Any:
    api.client.cookies.clear()
    if session is not None:
        api.client.cookies.set(SESSION_COOKIE, session[0])
    if method == "GET":
        return api.client.get(path, follow_redirects=False)
    data = {"csrf_token": session[1] if session else "none", "case": "C-1"}
    files = {name: ("probe.png", PNG, "image/png") for name in fields & {"probe", "video", "photo"}}
    return api.client.request(method, path, data=data, files=files or None, follow_redirects=False)


def test_every_page_declares_a_rule_and_enforces_it(api: Api) -> None:
    routes = _page_routes(api.client)
    assert len(routes) > 25, "the page route table was not read"
    valid = {a.value for a in Action} | {PUBLIC, SIGNED_IN}
    assert not [r for r in routes if r[2] not in valid], "every /ui route must declare a rule with page_rule()"
    for route, path, _ in _routes(api.client.app):  # type: ignore[arg-type]
        if isinstance(route, APIRoute) and path.startswith("/ui") and route.openapi_extra[RULE_KEY] != PUBLIC:
            assert route.dependencies, f"{path}: page_rule() must attach the check that enforces the rule"


def _check(api: Api, user: str, route: tuple[str, str, str, set[str]], session: tuple[str, str]) -> str | None:
    """What is wrong with one signed-in user's answer from one page, if anything."""
    method, template, rule, fields = route
    path, roles = _fill(template), api.office.people[user].roles
    lacks = rule != SIGNED_IN and not roles & ROLES_FOR[Action(rule)]
    before = len(api.office.entries(outcome=ledger.REFUSED)) if lacks else 0
    response = _send(api, method, path, fields, session)
    where = f"{user} {method} {path} ({rule}) -> {response.status_code}: {response.text[:300]}"
    role_refusal = response.status_code == 403 and "needs the role" in response.text
    to_login = response.status_code == 303 and response.headers.get("location") == "/ui/login"
    if response.status_code >= 500 or (to_login and template != "/ui/logout"):
        return f"error or sign-in redirect: {where}"
    if lacks:
        entries = api.office.entries(outcome=ledger.REFUSED)
        if not role_refusal or 'href="/ui/"' not in response.text or "<li>" not in response.text:
            return f"expected a role refusal page: {where}"
        if len(entries) != before + 1 or entries[-1].action != rule:
            return f"role refusal not ledgered: {where}"
    elif role_refusal:
        return f"refused a permitted role: {where}"
    elif user == "other_supervisor" and any(p in template for p in CASE_PARAMS) and response.status_code < 300:
        return f"another department's case shown: {where}"
    return None


def test_role_by_page_matrix(api: Api, signed: dict[str, tuple[str, str]]) -> None:
    routes = [route for route in _page_routes(api.client) if route[2] != PUBLIC]
    mismatches: list[str] = []
    for method, template, rule, fields in routes:
        response = _send(api, method, _fill(template), fields, None)
        if response.status_code != 303 or response.headers.get("location") != "/ui/login":
            mismatches.append(f"unauthenticated {method} {template} ({rule}) -> {response.status_code}")
    for user in ROLE_USERS:
        mismatches.extend(filter(None, (_check(api, user, route, signed[user]) for route in routes)))
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)


def test_a_forged_page_form_is_refused_and_ledgered(api: Api, signed: dict[str, tuple[str, str]]) -> None:
    api.client.cookies.set(SESSION_COOKIE, signed["supervisor"][0])
    before = len(api.office.entries(outcome=ledger.REFUSED))
    forged = api.client.post("/ui/cases/C-1/close", data={"csrf_token": "forged", "reason": "x"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    entries = api.office.entries(outcome=ledger.REFUSED)
    assert len(entries) == before + 1 and entries[-1].action == "csrf" and entries[-1].actor == "supervisor"
    assert cases.show(api.office.deployment, api.office.supervisor, "C-1").status == "open"


class _Counting:
    """The bounded photo analysis (services/runtime/_bounded_work.py), counted: a refused preview must not decode or
    analyse the probe."""

    def __init__(self, original: Any) -> None:
        self.calls, self.original = 0, original

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return self.original(*args, **kwargs)


def _no_tracks() -> VideoFaces:
    """What the analysis of a video with no face answers (the fake video has no frames to decode)."""
    info = VideoInfo("probe.png", hashlib.sha256(PNG).hexdigest(), 1.0, 8, 8, 25.0, "png")
    return VideoFaces(info, 0.5, 2, 0, 0, (), {})


def _preview(api: Api, how: str, user: str, session: tuple[str, str], case: str = "C-1") -> Any:
    api.client.cookies.clear()
    if how.startswith("page"):
        api.client.cookies.set(SESSION_COOKIE, session[0])
        path, field = ("/ui/search/faces", "probe") if how == "page-photo" else ("/ui/video/tracks", "video")
        return api.client.post(
            path, data={"case": case, "csrf_token": session[1]}, files={field: ("probe.png", PNG, "image/png")}
        )
    path, field = ("/api/v1/probes/faces", "probe") if how == "api-photo" else ("/api/v1/video/tracks", "video")
    return api.client.post(
        path, data={"case": case}, headers=api.headers(user), files={field: ("probe.png", PNG, "image/png")}
    )


REFUSED = (
    "auditor",
    "curator",
    "reviewer1",
    "admin",
    "supervisor",
    "other_supervisor",
    "other_analyst",
    "unassigned_analyst",
)
WAYS = ("page-photo", "page-video", "api-photo", "api-video")


@pytest.mark.parametrize("how", WAYS)
def test_search_previews_are_governed_like_the_search(
    api: Api, signed: dict[str, tuple[str, str]], how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe_preview = importlib.import_module(
        "faceledger.services.casework.probe_preview"
    )  # new: the module imports on old code
    bounded_work = importlib.import_module("faceledger.services.runtime._bounded_work")
    counting = _Counting(bounded_work.probe_faces)
    monkeypatch.setattr(bounded_work, "probe_faces", counting)
    videos: list[Any] = []
    monkeypatch.setattr(bounded_work, "video_tracks", lambda *a, **k: videos.append(a) or _no_tracks())
    monkeypatch.setattr(web_video, "contact_sheet", lambda _: b"sheet")  # the fake video has no frames to show
    for user in REFUSED:
        before = len(api.office.entries(outcome=ledger.REFUSED))
        response = _preview(api, how, user, signed[user])
        assert response.status_code in (403, 404), f"{user} {how}: {response.status_code} {response.text[:300]}"
        entries = api.office.entries(outcome=ledger.REFUSED)
        assert len(entries) == before + 1 and entries[-1].action == "search", f"{user} {how}: not ledgered"
        assert entries[-1].actor == user
    assert counting.calls == 0 and not videos, "a refused preview analysed the probe"

    authority.halt(api.office.deployment, api.office.supervisor, "council vote to pause the pilot")
    halted = _preview(api, how, "analyst", signed["analyst"])
    assert halted.status_code == 403 and "halted" in halted.text
    authority.resume(api.office.deployment, api.office.council, "resumed")

    allowed = _preview(api, how, "analyst", signed["analyst"])
    assert allowed.status_code == 200, allowed.text[:300]
    assert counting.calls + len(videos) == 1
    done = [e for e in api.office.entries() if e.action in (probe_preview.PHOTO_PREVIEW, probe_preview.VIDEO_PREVIEW)]
    assert len(done) == 1 and done[0].actor == "analyst" and done[0].outcome == ledger.DONE
    details = json.loads(done[0].details)
    assert hashlib.sha256(PNG).hexdigest() in (details.get("probe_sha256"), details.get("video_sha256"))
    assert len(done[0].details) < 300, "the ledger holds the probe's hash, never its pixels"


def test_the_api_previews_need_a_case(api: Api) -> None:
    for path, field in (("/api/v1/probes/faces", "probe"), ("/api/v1/video/tracks", "video")):
        response = api.client.post(path, headers=api.headers("analyst"), files={field: ("p.png", PNG, "image/png")})
        assert response.status_code == 422 and re.search(r"\bcase\b", response.text), response.text[:300]
