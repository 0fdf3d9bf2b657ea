"""The one place where errors become HTTP answers, in the three formats endpoints speak.

- The admin API, and any error another format has no entry for: `{"errors":[{"code",
  "message","target"}], "status_code", "trace"}` (`Problem`), by the handlers `install` adds.
- The registry's `/token` (`REGISTRY`): distribution's `{"errors":[{"code","message"}]}`,
  which docker prints.
- IAM's OAuth `/identity/token` (`OAUTH`): RFC 6749's `{"error","error_description"}`.

A fast route (`iam.api.fast_routes`) names its format. Nothing ever answers with a traceback.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

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
    errors.RegistryBadAnswer: 502,
    errors.RegistryUnavailable: 503,
    errors.RegistryTimeout: 504,
}


class ProblemDetail(BaseModel):
    code: str
    message: str
    target: str | None = None


class Problem(BaseModel):
    """The one error shape of the admin API (documented on every admin route). An
    operation on a registry that stopped part way (`incomplete`) also says exactly what it
    did (`done`) and what it did not (`not_done`)."""

    errors: list[ProblemDetail]
    status_code: int
    trace: str | None = None
    done: list[dict[str, Any]] | None = None
    not_done: list[dict[str, Any]] | None = None


_DESCRIPTIONS = {
    400: "bad value", 401: "no or invalid bearer token", 403: "missing action",
    404: "unknown id (or another account's)", 409: "conflict or locked",
    412: "If-Match does not match", 413: "body too large", 422: "malformed JSON or wrong types",
    428: "If-Match required", 429: "too many failed authentications", 503: "database down",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": text} for status, text in _DESCRIPTIONS.items()}
# The content API (iam.registry.content) also answers for the registries it reaches.
CONTENT_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PROBLEM_RESPONSES,
    502: {"model": Problem, "description": "a registry answered something that makes no sense"},
    503: {"model": Problem, "description": "database down, or a registry unreachable"},
    504: {"model": Problem, "description": "a registry too slow"}}
# What any route may answer before its own code runs (body limit, request validation).
REQUEST_PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_RESPONSES[status] for status in (413, 422)}


def status_of(exc: errors.IamError) -> int:
    if isinstance(exc, errors.Incomplete):
        return status_of(exc.cause)
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
            headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None,
            noted: str | None = None) -> ProblemResponse:
    error: dict[str, str] = {"code": code, "message": message}
    if target:
        error["target"] = target
    body = {"errors": [error], "status_code": status, "trace": uuid.uuid4().hex,
            **(extra or {})}
    return ProblemResponse(body, message=noted or message, status_code=status,
                           headers=headers)


def _incomplete(exc: errors.Incomplete) -> ProblemResponse:
    """What was done and what was not, in the body and in the audit event's error (with
    the digests the operation touched)."""
    touched = ", ".join(str(d.get("digest") or d.get("repository") or "") for d in exc.done)
    return problem(status_of(exc), exc.code, exc.message, target=exc.target,
                   extra={"done": exc.done, "not_done": exc.not_done},
                   noted=f"{exc.message}; done: {touched[:2000]}")


async def _iam_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IamError)
    if isinstance(exc, errors.Incomplete):
        return _incomplete(exc)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="registry-iam"'
    return problem(status, exc.code, exc.message, target=exc.target, headers=headers)


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


# --- the token endpoints' formats -----------------------------------------------------------

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_TEXT = {"type": "string"}


@dataclass(frozen=True)
class ErrorFormat:
    """How a family of endpoints answers domain errors: a status and a code per error type
    (the most specific wins); a type it has no entry for gets the admin API's answer."""

    codes: Mapping[type[errors.IamError], tuple[int, str]]
    answer: Callable[[Request, errors.IamError, int, str], Response]
    schema: dict[str, Any]  # of its body, for the OpenAPI document

    def answer_to(self, request: Request, exc: errors.IamError) -> Response | None:
        for cls in type(exc).__mro__:
            found = self.codes.get(cls)
            if found is not None:
                return self.answer(request, exc, *found)
        return None

    def schemas(self, status: int, problem: dict[str, Any]) -> list[dict[str, Any]]:
        """The bodies an answer of `status` may have, for OpenAPI: this format's when it maps
        an error to that status; the admin API's (`problem`) when an error of that status
        is not mapped here, or when no domain error has it (body limit, database down)."""
        own = [self.schema] if any(s == status for s, _ in self.codes.values()) else []
        of_status = [cls for cls, s in STATUS.items() if s == status]
        unmapped = [cls for cls in of_status
                    if not any(issubclass(cls, mapped) for mapped in self.codes)]
        return [*own, problem] if unmapped or not of_status else own


def registry_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """The distribution error body: `{"errors":[{"code","message"}]}`."""
    return JSONResponse({"errors": [{"code": code, "message": message, **extra}]},
                        status_code=status, headers={**NO_STORE, **(headers or {})})


def _registry_answer(request: Request, exc: errors.IamError, status: int,
                     code: str) -> JSONResponse:
    if isinstance(exc, errors.Unauthenticated):
        # The same body whatever the cause (but for a workload token's own faults, which
        # its holder can read in it anyway: `WorkloadTokenRefused`). docker 28 folds an
        # error without `detail` whose message is its code's default into the bare code and
        # prints only `unauthorized`; with a `detail` (empty: it says nothing of the cause)
        # it prints the seed's `unauthorized: authentication required`.
        realm = f"{request.app.state.runtime.settings.public_url.rstrip('/')}/token"
        message = (exc.message if isinstance(exc, errors.WorkloadTokenRefused)
                   else "authentication required")
        return registry_error(status, code, message,
                              {"WWW-Authenticate": f'Basic realm="{realm}",charset="UTF-8"'},
                              detail=[])
    headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, errors.RateLimited)
               else None)
    return registry_error(status, code, exc.message, headers)


def _oauth_answer(request: Request, exc: errors.IamError, status: int,
                  code: str) -> JSONResponse:
    # Every credential failure is the same invalid_grant; the audit has the reason.
    description = ("the credentials are not valid" if isinstance(exc, errors.Unauthenticated)
                   and not isinstance(exc, errors.WorkloadTokenRefused) else exc.message)
    return JSONResponse({"error": code, "error_description": description},
                        status_code=status, headers=NO_STORE)


REGISTRY = ErrorFormat(
    codes={errors.Unauthenticated: (401, "UNAUTHORIZED"),
           errors.RateLimited: (429, "TOOMANYREQUESTS"),
           errors.Unsupported: (400, "UNSUPPORTED"),
           errors.InvalidInput: (400, "INVALID_REQUEST")},
    answer=_registry_answer,
    schema={"type": "object", "required": ["errors"], "properties": {"errors": {
        "type": "array", "items": {"type": "object", "required": ["code", "message"],
                                   "properties": {"code": _TEXT, "message": _TEXT}}}}})
OAUTH = ErrorFormat(
    codes={errors.Unauthenticated: (400, "invalid_grant"),
           errors.InvalidTokenRequest: (400, "invalid_request"),
           errors.Unsupported: (400, "unsupported_grant_type")},
    answer=_oauth_answer,
    schema={"type": "object", "required": ["error"],
            "properties": {"error": _TEXT, "error_description": _TEXT}})


async def answer_for(app: FastAPI, request: Request, exc: Exception,
                     speaks: ErrorFormat | None = None) -> Response:
    """The answer to `exc` for a path served outside the router: in the format it `speaks`
    when that has an entry for it, else what the installed handlers give."""
    if speaks is not None and isinstance(exc, errors.IamError):
        spoken = speaks.answer_to(request, exc)
        if spoken is not None:
            return spoken
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
    app.add_exception_handler(RequestValidationError, _noted(_validation_error))
    app.add_exception_handler(StarletteHTTPException, _noted(_http_error))
    app.add_exception_handler(OperationalError, _noted(_database_down))
    app.add_exception_handler(PoolTimeout, _noted(_database_down))
    app.add_exception_handler(DataError, _noted(_unstorable))
    app.add_exception_handler(DBAPIError, _noted(_database_down))
    app.add_exception_handler(Exception, _unexpected)  # answered outside the audit middleware
