"""The one place where domain errors become HTTP answers.

Admin API errors share one JSON shape: `{"errors":[{"code","message","target"}],
"status_code", "trace"}`. The OAuth endpoints answer RFC 6749's `{"error","error_description"}`.
Nothing ever answers with a traceback.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from authlib.oauth2.base import OAuth2Error
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from iam import errors
from iam.api.audit_middleware import admin_call

log = logging.getLogger("iam.api")

STATUS: dict[type[errors.IamError], int] = {
    errors.InvalidInput: 400,
    errors.Unauthenticated: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.LockedEntity: 409,
    errors.PreconditionFailed: 412,
    errors.PreconditionRequired: 428,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
    errors.ConfigurationError: 500,
}


class ProblemDetail(BaseModel):
    code: str
    message: str
    target: str | None = None


class Problem(BaseModel):
    """The one error shape of the admin API (documented on every admin route)."""

    errors: list[ProblemDetail]
    status_code: int
    trace: str | None = None


_DESCRIPTIONS = {
    400: "bad value", 401: "no or invalid bearer token", 403: "missing action",
    404: "unknown id (or another account's)", 409: "conflict or locked",
    412: "If-Match does not match", 413: "body too large", 422: "malformed JSON or wrong types",
    428: "If-Match required", 429: "too many failed authentications", 503: "database down",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _DESCRIPTIONS.items()}
# What any route may answer before its own code runs (body limit, request validation).
REQUEST_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_RESPONSES[status] for status in (413, 422)}


def status_of(exc: errors.IamError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


class ProblemResponse(JSONResponse):
    """A `Problem` answer that remembers its message (for the audit of an admin call)."""

    def __init__(self, body: dict[str, Any], *, message: str, status_code: int,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(body, status_code=status_code, headers=headers)
        self.message = message


def problem(status: int, code: str, message: str, *, target: str | None = None,
            headers: dict[str, str] | None = None) -> ProblemResponse:
    error: dict[str, str] = {"code": code, "message": message}
    if target:
        error["target"] = target
    body = {"errors": [error], "status_code": status, "trace": uuid.uuid4().hex}
    return ProblemResponse(body, message=message, status_code=status, headers=headers)


async def _iam_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IamError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="registry-iam"'
    return problem(status, exc.code, exc.message, target=exc.target, headers=headers)


async def _oauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuth2Error)
    body = {"error": exc.error, "error_description": exc.get_error_description() or exc.error}
    return JSONResponse(body, status_code=exc.status_code or 400,
                        headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 for a body that is not the documented shape; 400 naming the parameter for a
    query value out of its range or unparsable (a bad value, like any other)."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    found = exc.errors()
    for err in found[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    message = "; ".join(parts) or "invalid request"
    places = [tuple(err.get("loc", ())) for err in found]
    if places and all(len(loc) > 1 and loc[0] == "query" for loc in places):
        return problem(400, "invalid_input", message, target=str(places[0][1]))
    return problem(422, "invalid_request", message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed",
            413: "payload_too_large"}.get(exc.status_code, "http_error")
    return problem(exc.status_code, code, str(exc.detail),
                   headers=dict(exc.headers) if exc.headers else None)


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", type(exc).__name__)
    return problem(503, "service_unavailable", "the database is unavailable; retry shortly",
                   headers={"Retry-After": "1"})


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # e.g. a NUL character in a query value: PostgreSQL refuses it. The request is at fault,
    # not the database, so this is no 503.
    log.info("database refused a value: %s", type(exc).__name__)
    return problem(400, "invalid_input", "a value in the request cannot be stored or searched")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal_error", "internal error; the event was logged")


async def answer_for(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The answer the installed handlers give `exc`, for a path served outside the router."""
    for cls in type(exc).__mro__:
        handler = app.exception_handlers.get(cls)
        if handler is not None:
            answer = handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
    raise exc


Handler = Callable[[Request, Exception], Awaitable[Response]]


def _noted(handler: Handler) -> Handler:
    """`handler`, noting the message of its problem in the admin call's audit event."""
    async def answer(request: Request, exc: Exception) -> Response:
        response = await handler(request, exc)
        call = admin_call(request)
        if call is not None and isinstance(response, ProblemResponse):
            call.error = response.message
        return response
    return answer


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.IamError, _noted(_iam_error))
    app.add_exception_handler(OAuth2Error, _oauth_error)
    app.add_exception_handler(RequestValidationError, _noted(_validation_error))
    app.add_exception_handler(StarletteHTTPException, _noted(_http_error))
    app.add_exception_handler(OperationalError, _noted(_database_down))
    app.add_exception_handler(PoolTimeout, _noted(_database_down))
    app.add_exception_handler(DataError, _noted(_unstorable))
    app.add_exception_handler(DBAPIError, _noted(_database_down))
    app.add_exception_handler(Exception, _unexpected)  # answered outside the audit middleware
