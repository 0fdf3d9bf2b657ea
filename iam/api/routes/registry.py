"""The registry token endpoint (`GET`/`POST /token`) and the JWKS the registries trust.

Errors here speak the registry's JSON format, not the admin API's: docker prints
`unauthorized: authentication required` from the 401 body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse

from iam import scopes
from iam.api.deps import ClientDep, RuntimeDep
from iam.errors import InvalidInput, RateLimited, Unauthenticated
from iam.registry_auth import BasicCredentials, parse_basic
from iam.registry_service import TokenAnswer, TokenRequest, TokenService, UnknownService

router = APIRouter(tags=["registry"])

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
FormField = Annotated[str | None, Form(max_length=8192)]


def registry_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
                   **extra: Any) -> JSONResponse:
    """The distribution error body: `{"errors":[{"code","message"}]}`."""
    return JSONResponse({"errors": [{"code": code, "message": message, **extra}]},
                        status_code=status, headers={**NO_STORE, **(headers or {})})


def _unauthorized(runtime_url: str) -> JSONResponse:
    """401 for every credential failure, the same body whatever the cause.

    docker 28 folds an error without `detail` whose message is its code's default into the
    bare code and prints only `unauthorized`; with a `detail` (empty here: it says nothing of
    the cause) it prints the seed's `unauthorized: authentication required`.
    """
    realm = f"{runtime_url.rstrip('/')}/token"
    headers = {"WWW-Authenticate": f'Basic realm="{realm}",charset="UTF-8"'}
    return registry_error(401, "UNAUTHORIZED", "authentication required", headers, detail=[])


def _answer(answer: TokenAnswer) -> JSONResponse:
    body: dict[str, Any] = {
        "token": answer.token.token, "access_token": answer.token.token,
        "expires_in": answer.token.expires_in, "issued_at": answer.token.issued_at_rfc3339,
    }
    if answer.refresh_token:
        body["refresh_token"] = answer.refresh_token
    return JSONResponse(body, headers=NO_STORE)


def _in_registry_format(public_url: str, answer: Callable[[], JSONResponse]) -> JSONResponse:
    """Run `answer`, turning domain errors into the registry's error answers."""
    try:
        return answer()
    except Unauthenticated:
        return _unauthorized(public_url)
    except RateLimited as exc:
        return registry_error(429, "TOOMANYREQUESTS", exc.message,
                              {"Retry-After": str(exc.retry_after)})
    except UnknownService as exc:
        return registry_error(400, "UNSUPPORTED", exc.message)
    except InvalidInput as exc:
        return registry_error(400, "INVALID_REQUEST", exc.message)


@router.get("/token", responses={400: {"description": "unknown service or bad scope"},
                                 401: {"description": "bad credentials"}})
def read_registry_token(
    request: Request, runtime: RuntimeDep, client: ClientDep,
    service: Annotated[str | None, Query(max_length=256)] = None,
    scope: Annotated[list[str] | None, Query(max_length=4096)] = None,
    offline_token: Annotated[str | None, Query(max_length=8)] = None,
    account: Annotated[str | None, Query(max_length=256)] = None,
    client_id: Annotated[str | None, Query(max_length=256)] = None,
) -> JSONResponse:
    """Docker token: HTTP Basic (`iamapikey`, `iambearer` or user), no scope for a login."""
    def answer() -> JSONResponse:
        tokens = TokenService(runtime)
        asked = TokenRequest(service=service, scopes=scopes.parse_scopes(scope or []),
                             offline=(offline_token or "").lower() in ("true", "1"),
                             client=client)
        credentials = parse_basic(request.headers.get("authorization"))
        if credentials is None:
            return _answer(tokens.anonymous(asked))
        return _answer(tokens.with_basic(asked, credentials))

    return _in_registry_format(runtime.settings.public_url, answer)


@router.post("/token", responses={400: {"description": "unknown service, grant or scope"},
                                  401: {"description": "bad credentials"}})
def create_registry_token(
    runtime: RuntimeDep, client: ClientDep, grant_type: FormField = None,
    service: FormField = None, scope: Annotated[list[str] | None, Form()] = None,
    username: FormField = None, password: FormField = None, refresh_token: FormField = None,
    client_id: FormField = None, access_type: FormField = None,
) -> JSONResponse:
    """OAuth2 form: `grant_type=password` (with `access_type=offline`) or `refresh_token`."""
    def answer() -> JSONResponse:
        tokens = TokenService(runtime)
        asked = TokenRequest(service=service, scopes=scopes.parse_scopes(scope or []),
                             offline=access_type == "offline", client=client)
        if grant_type == "refresh_token" and refresh_token:
            return _answer(tokens.with_refresh_token(asked, refresh_token))
        if grant_type == "password" and username and password:
            return _answer(tokens.with_basic(asked, BasicCredentials(username, password)))
        if grant_type in ("refresh_token", "password"):
            return registry_error(400, "INVALID_REQUEST",
                                  f"grant_type={grant_type} needs "
                                  + ("refresh_token" if grant_type == "refresh_token"
                                     else "username and password"))
        return registry_error(400, "UNSUPPORTED",
                              f"unsupported grant_type {str(grant_type)[:40]!r}; "
                              "use password or refresh_token")

    return _in_registry_format(runtime.settings.public_url, answer)


@router.get("/.well-known/jwks.json")
def read_jwks(runtime: RuntimeDep) -> JSONResponse:
    """Every published signing key (for distribution 3.x `auth.token.jwks`)."""
    return JSONResponse(runtime.keyring.jwks(), headers={"Cache-Control": "max-age=60"})
