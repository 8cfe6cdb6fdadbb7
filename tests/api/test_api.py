"""The HTTP service: every route declares a rule, the role x endpoint matrix is generated from the route
table, bad input gets the one error shape, browser sessions need the CSRF header, and the service endpoints
(health, readiness, metrics, OpenAPI) answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import text
from starlette.routing import BaseRoute, Mount

from faceledger.api.app import create_app
from faceledger.api.deps import CSRF_HEADER, PUBLIC, SESSION_COOKIE, SIGNED_IN
from faceledger.config import Settings
from faceledger.policy.governance import ROLES_FOR, Action
from faceledger.services.governance import refusal_counter
from faceledger.store import ledger
from tests.api.conftest import Api
from tests.lfwdata import people_with_several

RULE_KEY = "x-faceledger-action"
ACTIONS = {action.value for action in Action}
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# admin last: it disables reviewer1
ROLE_USERS = ("curator", "supervisor", "analyst", "reviewer1", "auditor", "council", "admin")
PARAMS = {"number": "C-1", "username": "reviewer1", "sha256": "a" * 64}
ATTESTATION = "complainant's photo of the officer named in complaint C-1"


def _check_no_traceback(response: httpx.Response) -> None:
    response.read()
    assert "Traceback" not in response.text, f"{response.request.method} {response.request.url}: {response.text}"


@pytest.fixture
def client(api: Api) -> Iterator[TestClient]:
    """The office's client; no response it gives may carry a stack trace."""
    api.client.event_hooks["response"].append(_check_no_traceback)
    yield api.client
    api.client.event_hooks["response"].remove(_check_no_traceback)


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"} and isinstance(error["message"], str), body
    return error


def _rule(route: BaseRoute) -> str:
    return str((getattr(route, "openapi_extra", None) or {}).get(RULE_KEY))


def _routes(app: FastAPI) -> list[tuple[BaseRoute, str, list[str]]]:
    """(route as declared, full path, methods) for every route, those of included routers too: FastAPI
    0.16x keeps included routers whole in `app.routes`, and `iter_route_contexts` walks them."""
    walk = getattr(routing, "iter_route_contexts", None)
    if walk is None:  # older FastAPI copies every included route into app.routes
        return [(r, getattr(r, "path", repr(r)), sorted(getattr(r, "methods", None) or ())) for r in app.routes]
    return [(c.original_route, c.path or repr(c.original_route), sorted(c.methods or ())) for c in walk(app.routes)]


def _api_routes(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path with parameters filled, rule) for every /api/ route."""
    found = []
    for route, path, methods in _routes(client.app):  # type: ignore[arg-type]
        if isinstance(route, APIRoute) and path.startswith("/api/"):
            filled = re.sub(r"{(\w+)}", lambda m: PARAMS.get(m.group(1), "1"), path)
            found.extend((method, filled, _rule(route)) for method in methods)
    return found


def _send(client: TestClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = {"json": {}} if method in ("POST", "PUT", "PATCH", "DELETE") else {}
    return client.request(method, path, headers=headers, **body)


def test_every_route_has_a_rule() -> None:
    app = create_app(Settings())
    missing, seen = [], 0
    for route, path, methods in _routes(app):
        if (isinstance(route, Mount) and path == "/static") or path in DOCS:
            continue
        seen += 1
        if not isinstance(route, APIRoute):
            missing.append(f"{path}: a {type(route).__name__}, not an APIRoute with a rule")
        elif _rule(route) not in ACTIONS | {PUBLIC, SIGNED_IN}:
            missing.append(f"{methods} {path}: rule {_rule(route)!r}")
    assert seen > 40, f"only {seen} routes: the route table was not read"
    assert not missing, "routes without a valid rule:\n" + "\n".join(missing)


def test_role_matrix(api: Api, client: TestClient) -> None:
    routes = _api_routes(client)
    governed = [(method, path, Action(name)) for method, path, name in routes if name in ACTIONS]
    assert len(governed) > 30, "the matrix should cover the governed API"
    refused_before = len(api.office.entries(outcome=ledger.REFUSED))
    counted_before = sum(bucket["count"] for bucket in refusal_counter.counted(api.office.deployment))
    refusals = anonymous = 0
    mismatches: list[str] = []
    for user in ROLE_USERS:
        roles = api.office.people[user].roles
        for method, path, action in governed:
            response = _send(client, method, path, api.headers(user))
            refusals += response.status_code in (401, 403)
            where = f"{user} {method} {path} ({action.value}) -> {response.status_code}: {response.text[:200]}"
            message = _error(response)["message"] if response.status_code >= 400 else ""
            role_refusal = response.status_code == 403 and "needs the role" in message
            if response.status_code == 500:
                mismatches.append(f"500: {where}")
            elif not roles & ROLES_FOR[action] and not role_refusal:
                mismatches.append(f"expected a role refusal: {where}")
            elif roles & ROLES_FOR[action] and role_refusal:
                mismatches.append(f"refused a permitted role: {where}")
    for method, path, name in routes:
        if name == PUBLIC:
            continue
        response = _send(client, method, path, {})
        anonymous += response.status_code == 401
        if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
            mismatches.append(
                f"unauthenticated {method} {path} ({name}) -> {response.status_code} "
                f"{response.headers.get('www-authenticate')!r}: {response.text[:200]}"
            )
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)
    refused_after = api.office.entries(outcome=ledger.REFUSED)
    summaries = [e for e in refused_after[refused_before:] if e.action == refusal_counter.ACTION]
    assert len(refused_after) - refused_before - len(summaries) == refusals, "every known user's refusal is ledgered"
    assert len(summaries) <= 4, "requests without credentials are counted, with a summary per minute on the ledger"
    counted = sum(bucket["count"] for bucket in refusal_counter.counted(api.office.deployment)) - counted_before
    assert counted == anonymous, "every request without credentials is counted"


def test_unknown_token_is_refused_and_counted(api: Api, client: TestClient) -> None:
    response = client.get("/api/v1/cases", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
    assert "not known" in _error(response)["message"]
    last = api.office.entries(outcome=ledger.REFUSED)[-1]  # the first refusal of its minute and source
    assert last.action == refusal_counter.ACTION and "the API token is not known" in last.reasons
    assert refusal_counter.counted(api.office.deployment)[-1]["reasons"] == {"the API token is not known": 1}


def test_malformed_json_is_422(api: Api, client: TestClient) -> None:
    headers = {**api.headers("supervisor"), "Content-Type": "application/json"}
    response = client.post("/api/v1/cases", content=b'{"number": "C-2", ', headers=headers)
    assert response.status_code == 422
    error = _error(response)
    assert error["code"] == "invalid_input" and error["details"]


def test_unknown_candidate_and_unknown_path_are_404(api: Api, client: TestClient) -> None:
    response = client.get("/api/v1/candidates/999999", headers=api.headers("supervisor"))
    assert response.status_code == 404 and "999999" in _error(response)["message"]
    response = client.get("/api/v1/no-such-thing", headers=api.headers("supervisor"))
    assert response.status_code == 404 and _error(response)["code"] == "not_found"


def test_a_non_image_upload_is_415_naming_the_file(api: Api, client: TestClient) -> None:
    response = client.post(
        "/api/v1/searches",
        headers=api.headers("analyst"),
        files={"probe": ("x.jpg", b"hello", "image/jpeg")},
        data={"case": "C-1", "attestation": ATTESTATION},
    )
    assert response.status_code == 415
    error = _error(response)
    assert error["code"] == "unsupported_media_type" and "x.jpg" in error["message"]


@pytest.mark.needs_data
def test_an_upload_over_the_limit_is_413(api: Api, data_dir: Path) -> None:
    photo = next(p for _, images in people_with_several(data_dir, 3) for p in images if p.stat().st_size > 2000)
    deployment = api.office.deployment
    small = create_app(deployment.settings.model_copy(update={"max_image_bytes": 2000}), deployment.data_dir)
    with TestClient(small, raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/searches",
            headers=api.headers("analyst"),
            files={"probe": (photo.name, photo.read_bytes(), "image/jpeg")},
            data={"case": "C-1", "attestation": ATTESTATION},
        )
    assert response.status_code == 413, response.text
    error = _error(response)
    assert error["code"] == "too_large" and photo.name in error["message"] and "Traceback" not in response.text


def _authority_state(api: Api, client: TestClient) -> str:
    response = client.get("/api/v1/authority", headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    return str(response.json()["state"])


def test_cookie_session_needs_the_csrf_header_for_changes(api: Api, client: TestClient) -> None:
    api.office.set_password("supervisor", "a long enough password")
    wrong = client.post("/api/v1/session", json={"username": "supervisor", "password": "not the password"})
    assert wrong.status_code == 401 and "wrong user name or password" in _error(wrong)["message"]
    assert SESSION_COOKIE not in client.cookies

    opened = client.post("/api/v1/session", json={"username": "supervisor", "password": "a long enough password"})
    assert opened.status_code == 200, opened.text
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie.lower()
    assert "samesite=strict" in cookie.lower()
    csrf = opened.json()["csrf_token"]
    assert csrf and opened.json()["user"] == "supervisor"
    session_token = client.cookies[SESSION_COOKIE]

    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["user"] == "supervisor" and me.json()["roles"] == ["supervisor"]

    reason = {"reason": "council vote to pause the pilot"}
    refused = len(api.office.entries(outcome=ledger.REFUSED))
    forged = client.post("/api/v1/authority/halt", json=reason)
    assert forged.status_code == 403 and CSRF_HEADER in _error(forged)["message"]
    entries = api.office.entries(outcome=ledger.REFUSED)
    assert len(entries) == refused + 1 and entries[-1].action == "csrf" and CSRF_HEADER in entries[-1].reasons
    page = client.post("/ui/authority/halt", data={**reason, "csrf_token": "é" + csrf[1:]})  # non-ASCII: no 500
    assert page.status_code == 403 and "Traceback" not in page.text
    assert _authority_state(api, client) == "active"
    halted = client.post("/api/v1/authority/halt", json=reason, headers={CSRF_HEADER: csrf})
    assert halted.status_code == 200 and halted.json()["state"] == "halted", halted.text
    assert _authority_state(api, client) == "halted"

    assert client.delete("/api/v1/session").status_code == 200
    assert client.get("/api/v1/me").status_code == 401
    client.cookies.set(SESSION_COOKIE, session_token)  # the old cookie, replayed after sign-out
    replayed = client.get("/api/v1/me")
    assert replayed.status_code == 401 and "ended" in _error(replayed)["message"]
    client.cookies.clear()


def test_health_ready_metrics_and_openapi(api: Api, client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and "faceledger_http_requests" in metrics.text
    client.post(
        "/api/v1/searches",
        headers=api.headers("analyst"),
        files={"probe": ("x.jpg", b"hello", "image/jpeg")},
        data={"case": "C-1", "attestation": ATTESTATION},
    )
    assert "faceledger_searches" in client.get("/metrics").text
    schema = client.get("/openapi.json")
    assert schema.status_code == 200 and "/api/v1/searches" in schema.json()["paths"]
    assert schema.json()["paths"]["/api/v1/searches"]["post"][RULE_KEY] == "search"


UPLOAD_NAMES = ("..", ".", "/", "x" * 300 + ".jpg", "é" * 150 + ".jpg")


def test_hostile_input_is_refused_not_a_500(api: Api, client: TestClient) -> None:
    huge = "9" * 20  # beyond the database's 64-bit integers
    for path in (
        f"/api/v1/searches/{huge}",
        f"/api/v1/candidates/{huge}/face.jpg",
        f"/api/v1/optouts/{huge}",
        f"/api/v1/ledger?since={huge}",
        f"/api/v1/ledger?case_id={huge}",
        f"/ui/searches/{huge}",
        f"/ui/candidates/{huge}",
    ):
        response = client.get(path, headers=api.headers("admin"))
        assert response.status_code == 422, f"{path}: {response.status_code} {response.text[:200]}"
    for name in UPLOAD_NAMES:  # names that are no file of their own in a folder
        response = client.post(
            "/api/v1/searches",
            headers=api.headers("analyst"),
            files={"probe": (name, b"hello", "image/jpeg")},
            data={"case": "C-1", "attestation": ATTESTATION},
        )
        assert response.status_code == 415, f"{name[:20]!r}: {response.status_code} {response.text[:200]}"
    client.get("/ui/login")  # sets the sign-in form's CSRF cookie
    login = client.post("/ui/login", data={"username": "admin", "password": "x", "csrf_token": "é"})
    assert login.status_code == 403 and "Traceback" not in login.text
    client.cookies.clear()


def test_a_tampered_ledger_row_stays_readable_over_the_api(api: Api, client: TestClient) -> None:
    """Someone with the database rewrites an entry's JSON into another shape: the auditor still reads it
    (the response model must not turn the evidence into a 500) and verification names it."""
    seq = api.office.entries()[-1].seq
    with api.office.deployment.engine.begin() as connection:
        connection.execute(
            text("UPDATE ledger_entries SET details = :d, reasons = :r WHERE seq = :s"),
            {"d": "[1, 2]", "r": '"not a list"', "s": seq},
        )
    shown = client.get("/api/v1/ledger", headers=api.headers("auditor"), params={"limit": 1000})
    assert shown.status_code == 200, shown.text
    entry = next(e for e in shown.json() if e["seq"] == seq)
    assert entry["details"] == [1, 2] and entry["reasons"] == "not a list"
    checked = client.post("/api/v1/ledger/verify", headers=api.headers("auditor"))
    assert checked.status_code == 200 and checked.json()["ok"] is False and checked.json()["first_bad_seq"] == seq
