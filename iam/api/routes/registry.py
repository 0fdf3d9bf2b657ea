"""The registry token endpoint (`GET`/`POST /token`) and the JWKS the registries trust.

Errors here speak the registry's JSON format (`iam.api.errors.REGISTRY`), not the admin
API's: docker prints `unauthorized: authentication required` from the 401 body.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.responses import Response

from iam.api.deps import RuntimeDep, client_of
from iam.api.errors import NO_STORE, REGISTRY
from iam.api.fast_routes import FastRoute, Param, limits
from iam.api.forms import form_pairs
from iam.api.offload import cache_first
from iam.api.schemas import RegistryTokenBody
from iam.errors import InvalidInput, InvalidTokenRequest, Unsupported
from iam.registry import scopes
from iam.registry.basic_auth import BasicCredentials
from iam.registry.token_service import TokenAnswer, TokenRequest
from iam.runtime import Runtime

router = APIRouter(tags=["registry"])


def _answer(answer: TokenAnswer) -> Response:
    """The RegistryTokenBody, written out: its strings are compact JWS tokens (base64url and
    dots, `Keyring.sign`) and an RFC 3339 time, nothing JSON escapes, and `json.dumps` of
    the ~2.6 KB body (the token twice) was 3 % of a token request's instructions."""
    token = answer.token.token
    body = (f'{{"token":"{token}","access_token":"{token}",'
            f'"expires_in":{answer.token.expires_in:d},'
            f'"issued_at":"{answer.token.issued_at_rfc3339}"')
    if answer.refresh_token:
        body += f',"refresh_token":"{answer.refresh_token}"'
    return Response(body + "}", media_type="application/json", headers=NO_STORE)


QUERY = (
    Param("service", 256, "the registry's `service` (required)"),
    Param("scope", scopes.MAX_SCOPE_VALUE, "`repository:<namespace>/<name>:pull,push`...",
          repeated=True),
    Param("offline_token", 8, "`true`: also return a refresh token"),
    Param("account", 256, "ignored (docker sends the user name)"),
    Param("client_id", 256, "ignored (the client's name)"),
)
QUERY_LIMITS = limits(QUERY)
#: Bounds on the raw query, checked before it is split: the scope text at its bound,
#: percent-encoded (`%3A`, `%2F`: three bytes a character), and a little more.
MAX_QUERY_BYTES = 3 * scopes.MAX_SCOPE_TEXT + 4096
MAX_QUERY_FIELDS = scopes.MAX_SCOPE_VALUES + 32


def _query(request: Request) -> TokenRequest:
    """The GET /token query, checked by hand in one pass (see read_registry_token)."""
    raw: bytes = request.scope["query_string"]
    if len(raw) > MAX_QUERY_BYTES:
        raise InvalidInput(f"query longer than {MAX_QUERY_BYTES} bytes", target="query")
    try:
        pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True,
                          max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise InvalidInput(f"more than {MAX_QUERY_FIELDS} query parameters",
                           target="query") from None
    single: dict[str, str] = {}
    scope_values: list[str] = []
    for name, value in pairs:
        limit = QUERY_LIMITS.get(name)
        if limit is None:
            continue  # docker and others send more; what we do not use we do not judge
        if len(value) > limit:
            raise InvalidInput(f"{name} longer than {limit} characters", target=name)
        if name == "scope":
            scope_values.append(value)
        elif name in single:
            raise InvalidInput(f"{name} given more than once", target=name)
        else:
            single[name] = value
    return TokenRequest(service=single.get("service"),
                        scopes=scopes.parse_scopes(scope_values),
                        offline=single.get("offline_token", "").lower() in ("true", "1"),
                        client=client_of(request))


async def read_registry_token(request: Request) -> Response:
    """GET /token: the Docker token (HTTP Basic: `iamapikey`, `iambearer` or a user; no
    scope for a login). Query: service, scope (repeated), offline_token, account, client_id.

    Every docker push and pull calls this, so it is served ahead of FastAPI's middleware
    and router (`iam.api.app.RegistryIAM`) and runs on the event loop: per-parameter
    validation, eight middleware layers and a thread hop were most of a token's cost
    (BENCHMARKS.md). A cache hit is answered here; a miss (database read) runs in the
    thread pool.
    """
    runtime: Runtime = request.app.state.runtime

    def answer(database: bool) -> Response:
        tokens = runtime.registry_tokens
        asked = _query(request)
        return _answer(tokens.with_authorization(asked, request.headers.get("authorization"),
                                                 database=database))

    return await cache_first(answer)


FORM_LIMIT = 8192  # per field of the POST form
FORM = (*(Param(name, FORM_LIMIT) for name in (
    "grant_type", "refresh_token", "username", "password", "access_type", "service",
    "client_id")), Param("scope", FORM_LIMIT, repeated=True))


async def create_registry_token(request: Request) -> Response:
    """POST /token, the OAuth2 form docker uses after `docker login`: `grant_type=
    refresh_token` (with the refresh token that login returned) or `grant_type=password`
    (with `access_type=offline` for a refresh token); `service`, `scope` (repeated or
    space-separated), `client_id`. Served like GET /token: cache hits on the event loop."""
    runtime: Runtime = request.app.state.runtime
    fields: dict[str, str] = {}
    scope_values: list[str] = []
    for name, value in await form_pairs(request, max_fields=MAX_QUERY_FIELDS):
        if len(value) > FORM_LIMIT:
            raise InvalidInput(f"{name[:40]} longer than {FORM_LIMIT} characters")
        if name == "scope":
            scope_values.append(value)
        elif value:
            fields.setdefault(name, value)
    grant_type = fields.get("grant_type")
    client = client_of(request)

    def answer(database: bool) -> Response:
        tokens = runtime.registry_tokens
        asked = TokenRequest(service=fields.get("service"),
                             scopes=scopes.parse_scopes(scope_values),
                             offline=fields.get("access_type") == "offline", client=client)
        if grant_type == "refresh_token" and "refresh_token" in fields:
            return _answer(tokens.with_refresh_token(asked, fields["refresh_token"],
                                                     database=database))
        if grant_type == "password" and "username" in fields and "password" in fields:
            return _answer(tokens.with_basic(
                asked, BasicCredentials(fields["username"], fields["password"]),
                database=database))
        if grant_type in ("refresh_token", "password"):
            raise InvalidTokenRequest(f"grant_type={grant_type} needs "
                                      + ("refresh_token" if grant_type == "refresh_token"
                                         else "username and password"))
        raise Unsupported(f"unsupported grant_type {str(grant_type)[:40]!r}; "
                          "use password or refresh_token")

    return await cache_first(answer)


RESPONSES = {
    200: "a signed registry token",
    400: "unknown service or grant, or bad scope",
    401: "bad credentials (the same answer whatever the cause)",
    429: "too many failed attempts; see Retry-After",
}
_GET = FastRoute(
    "GET", "/token", read_registry_token, errors=REGISTRY, tag="registry",
    summary="Docker token",
    description="The Docker token protocol: HTTP Basic with `iamapikey` and an API key, "
                "`iambearer` and an access token, or a user and password; no scope for a "
                "login. Every requested scope is in the answer, with no actions when nothing "
                "is granted.",
    ok=RegistryTokenBody, responses=RESPONSES, query=QUERY)
FAST_ROUTES = (_GET, replace(
    _GET, method="POST", endpoint=create_registry_token, query=(), form=FORM,
    summary="Docker token, OAuth2 form",
    description="What docker sends after `docker login`: `grant_type=refresh_token` with the "
                "refresh token the login returned, or `grant_type=password` (with "
                "`access_type=offline` for a refresh token); `service`, `scope` repeated or "
                "space-separated."))


@router.get("/.well-known/jwks.json")
def read_jwks(runtime: RuntimeDep) -> JSONResponse:
    """Every published signing key (for distribution 3.x `auth.token.jwks`)."""
    return JSONResponse(runtime.keyring.jwks(), headers={"Cache-Control": "max-age=60"})
