"""The registry token service: resolve the registry, authenticate, grant, sign.

One direction: authenticate (the API key's digest computed once, the key of both the
decision memo and the key's look-up) -> the actions held on the repositories the scopes name
(read here, as data) -> `grant.access_entries` (pure) -> `claims.issue` (sign).

No write on the hot path: key activity and the audit trail go to batched recorders, and
the failure limit is `iam.identity.attempts`, shared with `/identity/token`. Reads go
through `iam.store.generation_cache` first; the database is opened (one read session) only
on a miss. A caller on the event loop passes `database=False` and gets `NeedsDatabase` on a
miss, to retry in a worker thread: a cache hit then costs no thread hop and no database round
trip.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from iam.access import authz
from iam.access.roles import RoleCatalog
from iam.config import Registry
from iam.errors import Unauthenticated, Unsupported
from iam.identity import apikey_format
from iam.identity.attempts import Attempts, Client
from iam.identity.authn import Principal
from iam.registry import basic_auth, claims, grant
from iam.registry.basic_auth import APIKEY_USER, BEARER_USER, BasicCredentials
from iam.registry.claims import RegistryToken
from iam.registry.directory import RegistryDirectory
from iam.registry.grant import Held
from iam.registry.scopes import Scope
from iam.store.generation_cache import AuthCache, SessionFor, lazy_session
from iam.tokens import access_tokens
from iam.tokens.parts import TokenParts

REGISTRY_SERVICE = "container-registry"
ATTEMPT_ACTION = "container-registry.token"

_Authenticate = Callable[[SessionFor], Principal]


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


def held_actions(session: SessionFor, catalog: RoleCatalog, principal: Principal, *,
                 region: str, repositories: Iterable[tuple[str, str]],
                 cache: AuthCache | None = None) -> Held:
    """What the policy engine says `principal` holds in `region` on each (namespace,
    repository), by the roles of `catalog` (the runtime's), read through the cache."""
    held: dict[tuple[str, str], frozenset[str]] = {}
    for namespace, repository in repositories:
        def read(namespace: str = namespace, repository: str = repository) -> frozenset[str]:
            return authz.held_actions(session(), catalog, principal, service=REGISTRY_SERVICE,
                                      region=region, resource_type="namespace",
                                      resource=namespace, repository=repository)

        if cache is None:
            held[namespace, repository] = read()
            continue
        # Keyed by everything the evaluation reads of the principal: no entry answers another.
        key = (principal.iam_id, principal.account_id, "owner" if principal.is_owner else "",
               region, namespace, repository)
        held[namespace, repository] = cache.through(cache.held, key, read)
    return held


@dataclass(frozen=True)
class TokenService(TokenParts):
    """The registry's token service with the parts it uses (built once by the runtime)."""

    attempts: Attempts
    roles: RoleCatalog
    registries: RegistryDirectory

    def registry(self, service: str | None) -> Registry:
        registry = self.registries.get(service) if service else None
        if registry is not None:
            return registry
        # Only a refusal names the known services: a token request does not build the list.
        known = self.registries.names()
        if not service:
            raise Unsupported(f"missing service; this token service issues tokens for: "
                              f"{known}")
        raise Unsupported(f"unknown service {service[:100]!r}; this token service "
                          f"issues tokens for: {known}")

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
            self.attempts.refuse(request.client, exc, action=ATTEMPT_ACTION,
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
        profile = basic_auth.profile_login(credentials.username)
        if profile is not None:
            return self.with_workload_token(request, credentials.password, profile=profile[0],
                                            account=profile[1], database=database)
        digest = None
        if credentials.username == APIKEY_USER:
            # Once, for the decision memo and the key's look-up. No shape check first: a
            # digest found among the decisions was a good key's.
            digest = apikey_format.digest(credentials.password, self.secret)

        def authenticate(session: SessionFor) -> Principal:
            return basic_auth.authenticate_basic(
                session, settings=self.settings, keyring=self.keyring,
                credentials=credentials, key_digest=digest or "", cache=self.cache)

        secret_like = credentials.username in (APIKEY_USER, BEARER_USER)
        return self._grant(request, registry, authenticate,
                           credential=credentials.password if secret_like else None,
                           username=None if secret_like else credentials.username,
                           database=database, digest=digest)

    def with_workload_token(self, request: TokenRequest, token: str, *, profile: str | None,
                            account: str | None, database: bool = True) -> TokenAnswer:
        """`iamprofile[/<profile>]` and a workload's OIDC token: the trusted profile its
        claim rules accept; the registry token ends no later than its session."""
        registry = self.registry(request.service)

        def authenticate(session: SessionFor) -> Principal:
            return self.federation.principal_of(session, token, profile=profile,
                                                account=account, database=database)

        # A repeated request (docker asks once per blob and manifest with one login) reuses
        # the decision while the authorization data is unchanged, until the session ends:
        # the token was verified when it was made. Keyed apart from API-key digests.
        memo = f"workload:{hashlib.sha256(token.encode()).hexdigest()}:{profile}@{account}"
        answer = self._grant(request, registry, authenticate, credential=None, username=None,
                             database=database, digest=memo)
        return TokenAnswer(answer.token)  # no refresh token outlives the workload's

    def with_refresh_token(self, request: TokenRequest, refresh_token: str, *,
                           database: bool = True) -> TokenAnswer:
        """docker's grant after `docker login`; `database=False` as for with_basic."""
        registry = self.registry(request.service)

        def authenticate(session: SessionFor) -> Principal:
            return access_tokens.principal_of_refresh(session, self.settings, self.keyring,
                                                      refresh_token, self.cache)

        answer = self._grant(request, registry, authenticate, credential=refresh_token,
                             username=None, database=database)
        return TokenAnswer(answer.token)  # the client keeps the refresh token it has

    def _grant(self, request: TokenRequest, registry: Registry, authenticate: _Authenticate,
               *, credential: str | None, username: str | None, database: bool = True,
               digest: str | None = None) -> TokenAnswer:
        """Authenticate under the failure limit, grant, and sign; audited either way."""
        scopes = [str(s) for s in request.scopes]
        with self.attempts.attempt(request.client, action=ATTEMPT_ACTION,
                                   credential=credential, username=username,
                                   service=registry.service, scopes=scopes) as current:
            if digest is None:
                decision = self._decide(request, registry, authenticate, database)
            else:  # a repeated request: the same while the authorization data is unchanged
                decision = self.cache.through(
                    self.cache.decisions, (digest, registry.service, *request.scopes),
                    lambda: self._decide(request, registry, authenticate, database),
                    lambda d: d.principal.expires_at)
            current.succeeded(decision.principal, granted=decision.granted)
        principal = decision.principal
        refresh = None
        if request.offline and principal.kind != "Profile":
            refresh = access_tokens.issue_refresh(self.settings, self.keyring, principal)
        ttl = access_tokens.session_ttl(principal, self.settings.token_ttl)
        return TokenAnswer(self._sign(registry, principal.iam_id, decision.access, ttl), refresh)

    def _decide(self, request: TokenRequest, registry: Registry, authenticate: _Authenticate,
                database: bool) -> Decision:
        """Who is asking, what they hold where the scopes point, and so what they get."""
        with lazy_session(self.read, database) as session:
            principal = authenticate(session)
            held = held_actions(session, self.roles, principal, region=registry.region,
                                repositories=grant.repositories(request.scopes),
                                cache=self.cache)
        access = grant.access_entries(
            request.scopes, held=held,
            operator=principal.iam_id in self.settings.registry_operators)
        return Decision(principal, access, [
            f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access])

    def _sign(self, registry: Registry, subject: str, access: list[dict[str, Any]],
              ttl: int | None = None) -> RegistryToken:
        return claims.issue(keyring=self.keyring, issuer=self.settings.issuer,
                            subject=subject, audience=registry.service, access=access,
                            ttl=self.settings.token_ttl if ttl is None else ttl,
                            trust=registry.trust)
