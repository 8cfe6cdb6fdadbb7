"""Low: a CSRF refusal is a ledgered 403 on the API and on pages; every response carries a strict
Content-Security-Policy (the docs their own), X-Frame-Options, nosniff and Referrer-Policy; the pages and
reports need nothing inline that the policy forbids."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from faceledger.api.deps import CSRF_HEADER, SESSION_COOKIE
from faceledger.services.people import web_sessions
from faceledger.store import ledger
from tests.api.conftest import Api

TEMPLATES = Path(__file__).parents[2] / "src" / "faceledger" / "api" / "templates"
PASSWORD = "a long enough password"


def _session(api: Api, user: str) -> str:
    api.office.set_password(user, PASSWORD)
    opened = web_sessions.sign_in(api.office.deployment, user, PASSWORD)
    api.client.cookies.set(SESSION_COOKIE, opened.token)
    return opened.csrf_token


def test_a_csrf_refusal_on_the_api_is_a_ledgered_403(api: Api) -> None:
    _session(api, "supervisor")
    before = len(api.office.entries(outcome=ledger.REFUSED))
    forged = api.client.post("/api/v1/authority/halt", json={"reason": "a forged cross-site request"})
    assert forged.status_code == 403 and CSRF_HEADER in forged.json()["error"]["message"]
    entries = api.office.entries(outcome=ledger.REFUSED)
    assert len(entries) == before + 1 and entries[-1].action == "csrf" and entries[-1].actor == "supervisor"
    assert api.client.get("/api/v1/authority").json()["state"] == "active"


def test_a_csrf_refusal_on_a_page_is_ledgered(api: Api) -> None:
    _session(api, "supervisor")
    before = len(api.office.entries(outcome=ledger.REFUSED))
    forged = api.client.post("/ui/authority/halt", data={"reason": "forged", "csrf_token": "forged"})
    assert forged.status_code == 403 and "CSRF" in forged.text
    entries = api.office.entries(outcome=ledger.REFUSED)
    assert len(entries) == before + 1 and entries[-1].action == "csrf" and entries[-1].actor == "supervisor"


def _security_headers(headers: dict[str, str], where: str) -> str:
    assert headers.get("x-frame-options") == "DENY", where
    assert headers.get("x-content-type-options") == "nosniff", where
    assert headers.get("referrer-policy") == "no-referrer", where
    policy = headers.get("content-security-policy", "")
    assert policy, f"{where}: no Content-Security-Policy"
    return policy


def test_every_response_carries_the_security_headers(api: Api) -> None:
    _session(api, "auditor")
    for path in (
        "/ui/login",
        "/ui/",
        "/ui/ledger",
        "/ui/reports/accountability",
        "/static/style.css",
        "/health",
        "/api/v1/cases",
        "/api/v1/no-such-thing",
        "/openapi.json",
        "/ui/search",
    ):
        response = api.client.get(path, follow_redirects=False)
        policy = _security_headers(dict(response.headers), path)
        assert "'unsafe-inline'" not in policy and "frame-ancestors 'none'" in policy, f"{path}: {policy}"
        assert "script-src 'self'" in policy and "default-src 'none'" in policy, f"{path}: {policy}"
    api.client.cookies.clear()
    assert _security_headers(dict(api.client.get("/api/v1/cases").headers), "401")  # refusals too
    docs = _security_headers(dict(api.client.get("/docs").headers), "/docs")
    assert "frame-ancestors 'none'" in docs and "https://cdn.jsdelivr.net" in docs


def test_the_templates_need_nothing_inline() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=|javascript:", text), template.name


def test_the_report_stylesheet_is_allowed_by_its_hash(api: Api) -> None:
    _session(api, "auditor")
    report = api.client.get("/ui/reports/accountability")
    assert report.status_code == 200 and "<style>" in report.text
    for style in re.findall(r"<style>(.*?)</style>", report.text, flags=re.S):  # as a browser hashes it
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in report.headers["content-security-policy"]
