"""The one place where errors become HTTP statuses, in one JSON shape: {"error": {code, message, details}}.
Nothing unexpected reaches the client as a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
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


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.FaceledgerError)
    async def faceledger_error(_: Request, exc: errors.FaceledgerError) -> JSONResponse:
        status = status_for(exc)
        code = "no_face" if isinstance(exc, errors.NoFaceFound) else None
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if isinstance(exc, errors.Busy):  # a client may come back after this many seconds
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(error_body(status, str(exc), code=code), status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")} for e in exc.errors()
        ]
        return JSONResponse(error_body(422, "the request is malformed", details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(exc.status_code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(error_body(500, "internal error; it has been logged"), status_code=500)
