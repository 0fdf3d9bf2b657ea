"""The registry token service: resolve the registry, authenticate, grant, sign.

No write on the hot path: key activity and the audit trail go to batched recorders, and
the failure limit is `iam.identity.attempts`, shared with `/identity/token`. Reads go
through `iam.store.generation_cache` first; the database is opened (one read session) only
on a miss. A caller on the event loop passes `database=False` and gets `NeedsDatabase` on a
miss, to retry in a worker thread: a cache hit then costs no thread hop and no database round
trip.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from iam.config import Registry
from iam.errors import InvalidInput, Unauthenticated
from iam.identity import apikey_format
from iam.identity.attempts import Client
from iam.identity.authn import Principal
from iam.registry import basic_auth, claims
from iam.registry.basic_auth import APIKEY_USER, BEARER_USER, BasicCredentials
from iam.registry.claims import RegistryToken
from iam.registry.grant import HeldActions, access_entries
from iam.registry.scopes import Scope
from iam.store.generation_cache import AuthCache, SessionFor, lazy_session
from iam.tokens import access_tokens

if TYPE_CHECKING:  # handed in by the caller; the runtime wires this package
    from iam.access.roles import RoleCatalog
    from iam.runtime import Runtime

REGISTRY_SERVICE = "container-registry"
ATTEMPT_ACTION = "container-registry.token"

_Authenticate = Callable[[SessionFor], Principal]


class UnknownService(InvalidInput):
    """Raised when a token is asked for a registry this service does not issue tokens for."""

    code = "unknown_service"


@dataclass(frozen=True)
class TokenRequest:
    """What a client asks: for which registry, which scopes, and whether offline."""

    service: str | None
    scopes: list[Scope]
    offline: bool = False
    client: Client = field(default_factory=Client)  # where it comes from, for limits and audit


@dataclass(frozen=True)
class Decision:
    """What one principal gets for one request: the `access` claim (shared by every token
    made from a cached decision: never modified) and the granted scopes, for the audit."""

    principal: Principal
    access: list[dict[str, Any]]
    granted: list[str]


@dataclass(frozen=True)
class TokenAnswer:
    token: RegistryToken
    refresh_token: str | None = field(default=None, repr=False)


def held_actions(session: SessionFor, catalog: RoleCatalog, principal: Principal, region: str,
                 cache: AuthCache | None = None) -> HeldActions:
    """The policy engine's view of one principal in one region, per namespace, by the roles
    of `catalog` (the runtime's: a reference, nothing is loaded)."""
    from iam.access import authz

    def held(namespace: str, repository: str) -> frozenset[str]:
        def read() -> frozenset[str]:
            return authz.held_actions(session(), catalog, principal, service=REGISTRY_SERVICE,
                                      region=region, resource_type="namespace",
                                      resource=namespace, repository=repository)

        if cache is None:
            return read()
        # Keyed by everything the evaluation reads of the principal: no entry answers another.
        key = (principal.iam_id, principal.account_id, "owner" if principal.is_owner else "",
               region, namespace, repository)
        return cache.through(cache.held, key, read)

    return held


class TokenService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def registry(self, service: str | None) -> Registry:
        settings = self.runtime.settings
        known = ", ".join(r.service for r in settings.registries)
        if not service:
            raise UnknownService(f"missing service; this token service issues tokens for: "
                                 f"{known}")
        registry = settings.registry(service)
        if registry is None:
            raise UnknownService(f"unknown service {service[:100]!r}; this token service "
                                 f"issues tokens for: {known}")
        return registry

    def anonymous(self, request: TokenRequest) -> TokenAnswer:
        """No credentials: a token that grants nothing, so the registry challenges again."""
        registry = self.registry(request.service)
        access = [{"type": s.type, "name": s.name, "actions": []} for s in request.scopes]
        return TokenAnswer(self._sign(registry, "", access))

    def with_authorization(self, request: TokenRequest, header: str | None, *,
                           database: bool = True) -> TokenAnswer:
        """GET /token's `Authorization`: none is anonymous; one that is not valid Basic is a
        failed attempt like any other (counted against the address, audited)."""
        try:
            credentials = basic_auth.parse_basic(header)
        except Unauthenticated as exc:
            registry = self.registry(request.service)
            self.runtime.attempts.refuse(request.client, exc, action=ATTEMPT_ACTION,
                                         service=registry.service,
                                         scopes=[str(s) for s in request.scopes])
            raise
        if credentials is None:
            return self.anonymous(request)
        return self.with_basic(request, credentials, database=database)

    def with_basic(self, request: TokenRequest, credentials: BasicCredentials, *,
                   database: bool = True) -> TokenAnswer:
        """`database=False`: answer from the cache or raise NeedsDatabase."""
        registry = self.registry(request.service)
        rt = self.runtime
        secret_like = credentials.username in (APIKEY_USER, BEARER_USER)
        memo_key = None
        if credentials.username == APIKEY_USER:
            def memo_key() -> str:
                # No shape check first: a digest found among the decisions was a good key's.
                return apikey_format.digest(credentials.password, rt.secret)
        return self._grant(
            request, registry, lambda session: basic_auth.authenticate_basic(
                session, settings=rt.settings, keyring=rt.keyring, secret=rt.secret,
                credentials=credentials, cache=rt.authcache),
            credential=credentials.password if secret_like else None,
            username=None if secret_like else credentials.username, database=database,
            memo_key=memo_key)

    def with_refresh_token(self, request: TokenRequest, refresh_token: str, *,
                           database: bool = True) -> TokenAnswer:
        """docker's grant after `docker login`; `database=False` as for with_basic."""
        registry = self.registry(request.service)
        rt = self.runtime
        answer = self._grant(
            request, registry, lambda session: access_tokens.principal_of_refresh(
                session, rt.settings, rt.keyring, refresh_token, rt.authcache),
            credential=refresh_token, username=None, database=database)
        return TokenAnswer(answer.token)  # the client keeps the refresh token it has

    def _grant(self, request: TokenRequest, registry: Registry, authenticate: _Authenticate,
               *, credential: str | None, username: str | None, database: bool = True,
               memo_key: Callable[[], str] | None = None) -> TokenAnswer:
        """Authenticate under the failure limit, grant, and sign; audited either way."""
        scopes = [str(s) for s in request.scopes]
        with self.runtime.attempts.attempt(request.client, action=ATTEMPT_ACTION,
                                           credential=credential, username=username,
                                           service=registry.service, scopes=scopes) as current:
            decision = self._decide(request, registry, authenticate, database=database,
                                    memo_key=memo_key)
            current.succeeded(decision.principal, granted=decision.granted)
        principal = decision.principal
        refresh = None
        if request.offline:
            refresh = access_tokens.issue_refresh(self.runtime.settings, self.runtime.keyring,
                                                  principal)
        return TokenAnswer(self._sign(registry, principal.iam_id, decision.access), refresh)

    def _decide(self, request: TokenRequest, registry: Registry, authenticate: _Authenticate,
                *, database: bool, memo_key: Callable[[], str] | None) -> Decision:
        """Who is asking and what they get; a repeated request (same key digest, registry
        and scopes) is answered from the cache while the authorization data is unchanged."""
        cache = self.runtime.authcache

        def decide() -> Decision:
            with lazy_session(self.runtime.read, database) as session:
                principal = authenticate(session)
                access = access_entries(
                    request.scopes,
                    held=held_actions(session, self.runtime.roles, principal, registry.region,
                                      cache),
                    operator=principal.iam_id in self.runtime.settings.registry_operators)
            return Decision(principal, access, [
                f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access])

        if memo_key is None:
            return decide()
        decision: Decision = cache.through(
            cache.decisions, (memo_key(), registry.service, *request.scopes), decide,
            lambda d: d.principal.expires_at)
        return decision

    def _sign(self, registry: Registry, subject: str, access: list[dict[str, Any]]
              ) -> RegistryToken:
        settings = self.runtime.settings
        return claims.issue(keyring=self.runtime.keyring, issuer=settings.issuer,
                                    subject=subject, audience=registry.service, access=access,
                                    ttl=settings.token_ttl)
