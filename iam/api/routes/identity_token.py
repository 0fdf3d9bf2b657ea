"""`POST /identity/token`: exchange an API key, a password, a refresh token, or a workload's
OIDC token for a trusted profile's session (IBM's cr-token grant, RFC 8693 token exchange).

Served ahead of FastAPI's middleware and router (`iam.api.app.RegistryIAM`), like the
registry's `GET /token`: every CI job and `iam login` starts here. An API key seen in the
current authorization generation is answered on the event loop; anything needing the
database (a new key, a password, a refresh token) runs in the thread pool.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from iam.api.deps import client_of
from iam.api.errors import OAUTH
from iam.api.fast_routes import FastRoute, Param
from iam.api.forms import form_pairs
from iam.api.offload import cache_first
from iam.api.schemas import ExchangedToken, IdentityToken
from iam.runtime import Runtime
from iam.tokens.oauth_grants import TOKEN_EXCHANGE_GRANT

FORM = tuple(Param(name) for name in (
    "grant_type", "apikey", "username", "password", "refresh_token", "account", "cr_token",
    "profile_id", "profile_name", "subject_token", "subject_token_type"))
FIELDS = tuple(p.name for p in FORM)


async def _form(request: Request) -> dict[str, str]:
    """The form's first non-empty value of each known field."""
    found: dict[str, str] = {}
    for name, value in await form_pairs(request):
        if name in FIELDS and value:
            found.setdefault(name, value)
    return found


async def create_identity_token(request: Request) -> Response:
    """IBM-style IAM token: `grant_type=urn:ibm:params:oauth:grant-type:apikey&apikey=...`
    (also `password` with username/password[/account], and `refresh_token`)."""
    runtime: Runtime = request.app.state.runtime
    form = await _form(request)
    grant = runtime.identity_tokens.grant_for(form.get("grant_type"))
    client = client_of(request)

    def answer(database: bool) -> Response:
        with runtime.attempts.attempt(
                client, action="iam.identity.token",
                credential=form.get("apikey") or form.get("refresh_token"),
                username=form.get("username") if grant.GRANT_TYPE == "password" else None,
                grant_type=grant.GRANT_TYPE) as current:
            principal, pair = grant.create_token_response(form, database=database)
            current.succeeded(principal)
        body: IdentityToken | ExchangedToken
        if grant.GRANT_TYPE == TOKEN_EXCHANGE_GRANT:  # RFC 8693's answer
            body = ExchangedToken(access_token=pair.access_token, expires_in=pair.expires_in)
        else:
            body = IdentityToken(access_token=pair.access_token,
                                 refresh_token=pair.refresh_token,
                                 expires_in=pair.expires_in, expiration=pair.expiration)
        # pydantic's own serializer: json.dumps of model_dump() escaped the two tokens again
        return Response(body.model_dump_json(), media_type="application/json",
                        headers={"Cache-Control": "no-store"})

    return await cache_first(answer)


FAST_ROUTES = (FastRoute(
    "POST", "/identity/token", create_identity_token, errors=OAUTH, tag="identity",
    summary="IAM access token",
    description="IBM-style IAM token: `grant_type=urn:ibm:params:oauth:grant-type:apikey` "
                "with `apikey`, `password` with `username`, `password` (and `account` when "
                "the name exists in several), or `refresh_token`; a workload's OIDC token "
                "for a trusted profile with `urn:ibm:params:oauth:grant-type:cr-token` "
                "(`cr_token`, `profile_id` or `profile_name`) or RFC 8693's "
                "`urn:ietf:params:oauth:grant-type:token-exchange` (`subject_token`, "
                "`subject_token_type` jwt or id_token; answered in RFC 8693's shape).",
    ok=IdentityToken | ExchangedToken, form=FORM, responses={
        200: "an access token pair", 400: "RFC 6749 error (or a body of too many fields)",
        429: "too many failed attempts; see Retry-After"}),)
