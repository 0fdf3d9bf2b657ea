"""Dependencies declared once: the runtime, the current principal, the change journal of an
admin call, common headers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator

from iam import client_address
from iam.api.audit_middleware import admin_call
from iam.errors import Unauthenticated
from iam.identity import apikey_format
from iam.identity.attempts import Client
from iam.identity.authn import Principal, principal_from_claims
from iam.identity.cached_principals import principal_of_key
from iam.registry import basic_auth
from iam.runtime import Runtime
from iam.store.journal import ChangeJournal
from iam.tokens import access_tokens

ADMIN_ATTEMPT = "iam.admin.authenticate"
METRICS_ATTEMPT = "iam.metrics.authenticate"
_bearer = HTTPBearer(auto_error=False, description="An access token from /identity/token")


# `async def` for dependencies that do no I/O: FastAPI runs a plain `def` dependency in the
# thread pool, one thread hop each per request (a fifth of the token path's CPU, BENCHMARKS.md).
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token, re-checked against the database on every call;
    a refusal is audited like the token endpoints' failures. It is not counted: a signed
    token cannot be guessed, and no limit should turn a client's stale token into a 429."""
    try:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated(reason="no_credentials")
        claims = access_tokens.verify_access(runtime.settings, runtime.keyring,
                                             credentials.credentials)
        with runtime.read() as session:
            principal = principal_from_claims(session, claims)
    except Unauthenticated as exc:
        runtime.attempts.record_failure(client_of(request), exc, action=ADMIN_ATTEMPT,
                                        method=request.method, path=request.url.path[:256])
        raise
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def get_metrics_reader(request: Request, runtime: RuntimeDep) -> Principal | None:
    """None when the client's address is in `IAM_METRICS_ALLOW`; otherwise the caller
    behind `Authorization`: `Bearer` and an IAM access token, or `Basic` with `iamapikey`
    and an API key (Prometheus's `basic_auth`, which never expires). A refusal is audited
    like the admin API's bearer check."""
    client = client_of(request)
    if client_address.in_networks(client.ip, runtime.settings.metrics_networks):
        return None
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    try:
        if scheme.lower() == "bearer" and value:
            claims = access_tokens.verify_access(runtime.settings, runtime.keyring, value)
            with runtime.read() as session:
                return principal_from_claims(session, claims)
        credentials = basic_auth.parse_basic(header) if scheme.lower() == "basic" else None
        if credentials is None or credentials.username != basic_auth.APIKEY_USER:
            raise Unauthenticated(reason="no_credentials")
        digest = apikey_format.digest(credentials.password, runtime.secret)
        with runtime.read() as session:
            return principal_of_key(lambda: session, value=credentials.password,
                                    digest=digest, cache=runtime.authcache)
    except Unauthenticated as exc:
        runtime.attempts.record_failure(client, exc, action=METRICS_ATTEMPT)
        raise


MetricsReader = Annotated[Principal | None, Depends(get_metrics_reader)]


async def get_journal(request: Request, caller: CurrentPrincipal) -> ChangeJournal:
    """The journal of this admin call, which the domain functions write to; the call's
    audit event names `caller`. Only admin calls (`audit_middleware.MUTATING` under /v1)
    have one: a route that is none has nothing to record."""
    call = admin_call(request)
    if call is None:
        raise RuntimeError(f"{request.method} {request.url.path} is no audited admin call")
    call.caller = caller
    return call.journal


JournalDep = Annotated[ChangeJournal, Depends(get_journal)]


def client_of(request: Request) -> Client:
    """The client's address (forwarded headers only from `IAM_TRUSTED_PROXIES`) and agent."""
    runtime: Runtime = request.app.state.runtime
    peer = request.client.host if request.client else ""
    ip = client_address.from_headers(peer, request.scope["headers"],
                                     runtime.settings.trusted_networks)
    return Client(ip=ip, user_agent=request.headers.get("user-agent", "")[:256])


async def get_client(request: Request) -> Client:
    return client_of(request)


ClientDep = Annotated[Client, Depends(get_client)]
IfMatch = Annotated[str | None, Header(alias="If-Match")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size (1-1000)")]
PageStart = Annotated[str | None, Query(max_length=128, pattern=r"^[^\x00-\x1f\x7f]*$",
                                        description="Cursor from next_pagestart")]

#: The largest integer row id both backends hold: ids are INTEGER columns, 64 bits on
#: SQLite but 32 on PostgreSQL. Beyond it SQLite's driver overflows and PostgreSQL refuses
#: the comparison; refused up front instead, naming the parameter.
MAX_ROW_ID = 2**31 - 1


def _as_utc(value: datetime) -> datetime:
    """A query datetime without a time zone is UTC; one that leaves the years 1-9999 once
    in UTC (`9999-12-31T23:00:00-14:00`) cannot be compared on either backend."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC (years 1-9999)") from None


#: A datetime query value: ISO 8601; without a time zone it is taken as UTC.
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
