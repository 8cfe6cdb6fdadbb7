"""The outermost layer, pure ASGI: security headers on every response, and bodies bounded before the
application reads a byte of them.

A request that carries a body is authenticated from its headers (bearer token or session cookie) first,
so a stranger's 300 MB upload is refused with a 401 (or sent to sign in) without being read, let alone
spooled to disk. Then every body is capped: a declared Content-Length over the route's limit is refused
at once, and a chunked body is counted as it streams and refused when it passes the limit."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceledger.api.deps import CALLER_KEY, client_source, identify
from faceledger.api.errors import error_body
from faceledger.errors import NotAuthenticated
from faceledger.services.oversight.reports import report_style

# Routes anyone may send a body to (sign-in and sign-out); tests/security checks this against the routes.
# Sign-in and enrolment (a one-time code, the only credential a new user has) carry no credentials yet.
PUBLIC_WRITES = frozenset(
    {
        ("POST", "/ui/login"),
        ("POST", "/api/v1/session"),
        ("DELETE", "/api/v1/session"),
        ("POST", "/ui/enrol"),
        ("POST", "/api/v1/enrol"),
    }
)
FORM_OVERHEAD_BYTES = 1 << 20  # multipart boundaries and the small fields beside the upload
OTHER_BODY_MAX_BYTES = 1 << 20  # JSON and plain forms: no upload in them

# The reports are self-contained HTML with one inline stylesheet: allowed by its hash, nothing else inline.
_REPORT_STYLE_HASH = base64.b64encode(hashlib.sha256(report_style().encode()).digest()).decode()
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'sha256-" + _REPORT_STYLE_HASH + "'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
# /docs and /redoc are FastAPI's: Swagger UI and ReDoc load from a CDN and start with an inline script.
CDN = "https://cdn.jsdelivr.net"
DOCS_CSP = (
    f"default-src 'none'; script-src 'unsafe-inline' {CDN}; style-src 'unsafe-inline' {CDN}; "
    f"img-src 'self' data: https://fastapi.tiangolo.com; font-src {CDN} https://fonts.gstatic.com; "
    "connect-src 'self'; worker-src blob:; frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)


class BodyTooLarge(Exception):
    """Raised into the application from `receive` once a streamed body passes its limit."""


def body_limit(scope: Scope, headers: Headers, owner: FastAPI) -> int:
    """The most bytes this route's body may have: an upload's limit for multipart forms, small otherwise."""
    settings = owner.state.faceledger.deployment.settings
    if not headers.get("content-type", "").lower().startswith("multipart/"):
        return OTHER_BODY_MAX_BYTES
    upload = settings.video_max_bytes if "/video/" in scope["path"] else settings.max_image_bytes
    return int(upload) + FORM_OVERHEAD_BYTES


def _with_headers(send: Send, path: str) -> Send:
    policy = (DOCS_CSP if path in DOCS_PATHS else CSP).encode()

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {name.lower() for name, _ in headers}
            extra = [(b"content-security-policy", policy), *SECURITY_HEADERS]
            message = {**message, "headers": headers + [(n, v) for n, v in extra if n not in present]}
        await send(message)

    return sending


async def _respond(send: Send, status: int, body: dict[str, Any] | None, headers: list[tuple[bytes, bytes]]) -> None:
    content = json.dumps(body).encode() if body is not None else b""
    head = [*headers, (b"content-length", str(len(content)).encode()), (b"connection", b"close")]
    if body is not None:
        head.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": content})


class RequestGuard:
    def __init__(self, app: ASGIApp, owner: FastAPI) -> None:
        self.app, self.owner = app, owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = _with_headers(send, scope["path"])
        headers = Headers(scope=scope)
        declared, chunked = headers.get("content-length"), "transfer-encoding" in headers
        if getattr(self.owner.state, "faceledger", None) is None or not (chunked or (declared or "0") != "0"):
            await self.app(scope, receive, send)
            return
        if (scope["method"], scope["path"]) not in PUBLIC_WRITES and not await self._identified(scope, send):
            return
        limit = body_limit(scope, headers, self.owner)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _respond(
                send, 413, error_body(413, f"the request body is larger than the limit of {limit:,} bytes"), []
            )
            return
        await self._capped(scope, receive, send, limit)

    async def _identified(self, scope: Scope, send: Send) -> bool:
        """Who sent it, from the headers alone; a refusal is answered here, the body left unread."""
        request = Request(scope)
        try:
            deployment = self.owner.state.faceledger.deployment
            found = await run_in_threadpool(
                identify,
                deployment,
                request.headers,
                request.cookies,
                scope["method"],
                scope["path"],
                client_source(scope),
            )
        except NotAuthenticated as exc:
            if scope["path"].startswith("/ui/"):
                await _respond(send, 303, None, [(b"location", b"/ui/login")])
            else:
                await _respond(send, 401, error_body(401, str(exc)), [(b"www-authenticate", b"Bearer")])
            return False
        scope.setdefault("state", {})[CALLER_KEY] = found  # the handler's dependencies reuse it
        return True

    async def _capped(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen, over, started = 0, False, False

        async def counting() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def answering(message: Message) -> None:
            nonlocal started
            if over and not started:  # whatever the application made of the cut-off body, the answer is 413
                started = True
                await _respond(send, 413, error_body(413, f"the request body passed the limit of {limit:,} bytes"), [])
            elif not over:
                started = started or message["type"] == "http.response.start"
                await send(message)

        try:
            await self.app(scope, counting, answering)
        except BodyTooLarge:
            if not started:
                await _respond(send, 413, error_body(413, f"the request body passed the limit of {limit:,} bytes"), [])


def install(app: FastAPI) -> None:
    """Wrap the whole middleware stack, error pages included, so every response gets the headers."""
    build = app.build_middleware_stack

    def stack() -> ASGIApp:
        return RequestGuard(build(), app)

    app.build_middleware_stack = stack  # type: ignore[method-assign]
