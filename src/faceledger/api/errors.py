"""The one place where errors become HTTP statuses, in one JSON shape: {"error": {code, message, details}}.
Nothing unexpected reaches the client as a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceledger import errors

log = logging.getLogger(__name__)

STATUS: dict[type[errors.FaceledgerError], int] = {
    errors.NotAuthenticated: 401,
    errors.PolicyDenied: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.LedgerTampered: 409,
    errors.ModelMismatch: 409,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.NoFaceFound: 422,
    errors.InvalidInput: 422,
    errors.EngineUnavailable: 503,
    errors.KeyProblem: 503,
    errors.TooManyAttempts: 429,
    errors.Busy: 503,
}
CODES = {
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    503: "unavailable",
    429: "too_many_requests",
}


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error response, whatever its status."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": CODES[status].replace("_", " ")}
    for status in (401, 403, 404, 409, 413, 415, 422)
}


def status_for(exc: errors.FaceledgerError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def error_body(status: int, message: str, details: Any = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code or CODES.get(status, "error"), "message": message, "details": details}}


# A page's error shown as a page (api/pages.py): status, message, every reason, and the field that was wrong.
PageError = Callable[[Request, int, str, list[str], "str | None"], Awaitable[Response]]
PAGES = "/ui/"
UNEXPECTED_PAGE = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error — faceledger</title></head>'
    '<body><main><h1>Something went wrong</h1><p role="alert">An internal error; it has been logged.</p>'
    '<p><a href="/ui/">Back to the dashboard</a></p></main></body></html>'
)


def install(app: FastAPI, page_error: PageError | None = None) -> None:
    """JSON errors for the API; for a page (a path under /ui/), `page_error` renders an HTML page instead, so
    a browser never shows a raw JSON error."""

    @app.exception_handler(errors.FaceledgerError)
    async def faceledger_error(request: Request, exc: errors.FaceledgerError) -> Response:
        status = status_for(exc)
        if page_error is not None and request.url.path.startswith(PAGES):
            return await page_error(request, status, str(exc), [], exc.field)
        code = "no_face" if isinstance(exc, errors.NoFaceFound) else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, errors.Busy):  # a client may come back after this many seconds
            headers = {"Retry-After": str(exc.retry_after_s)}
        details = {"field": exc.field} if exc.field else None
        return JSONResponse(error_body(status, str(exc), details, code=code), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        if page_error is not None and request.url.path.startswith(PAGES):
            reasons = [f"{e.get('loc', ('',))[-1]!s}: {e.get('msg', '')}" for e in exc.errors()]
            return await page_error(request, 422, "the form is incomplete or malformed", reasons, None)
        return JSONResponse(error_body(422, "the request is malformed", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if page_error is not None and request.url.path.startswith(PAGES) and exc.status_code in (404, 405):
            return await page_error(request, exc.status_code, str(exc.detail), [], None)
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error", exc_info=exc)
        if page_error is not None and request.url.path.startswith(PAGES):  # rendering might be what failed
            return HTMLResponse(UNEXPECTED_PAGE, status_code=500)
        return JSONResponse(error_body(500, "internal error; it has been logged"), status_code=500)
