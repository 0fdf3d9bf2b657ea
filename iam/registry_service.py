"""The registry token service: resolve the registry, authenticate, grant, sign.

One read session per request (key lookup plus the policy look-ups of the asked namespaces);
no write on the hot path: key activity and the audit trail go to batched recorders, and
the failure limit is `iam.attempts`, shared with `/identity/token`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from iam import access_tokens, registry_auth, registry_token
from iam.attempts import Client, attempt
from iam.authn import Principal
from iam.config import Registry
from iam.errors import InvalidInput
from iam.registry_auth import APIKEY_USER, BEARER_USER, BasicCredentials
from iam.registry_grant import HeldActions, access_entries
from iam.registry_token import RegistryToken
from iam.runtime import Runtime
from iam.scopes import Scope

REGISTRY_SERVICE = "container-registry"

_Authenticate = Callable[[Session], Principal]


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
class TokenAnswer:
    token: RegistryToken
    refresh_token: str | None = field(default=None, repr=False)


def held_actions(session: Session, principal: Principal, region: str) -> HeldActions:
    """The policy engine's view of one principal in one region, per namespace."""
    from iam import authz

    def held(namespace: str, repository: str) -> frozenset[str]:
        return authz.held_actions(session, principal, service=REGISTRY_SERVICE, region=region,
                                  resource_type="namespace", resource=namespace,
                                  repository=repository)

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

    def with_basic(self, request: TokenRequest,
                   credentials: BasicCredentials) -> TokenAnswer:
        registry = self.registry(request.service)
        rt = self.runtime
        secret_like = credentials.username in (APIKEY_USER, BEARER_USER)
        return self._grant(
            request, registry, lambda session: registry_auth.authenticate_basic(
                session, settings=rt.settings, keyring=rt.keyring, secret=rt.secret,
                credentials=credentials),
            credential=credentials.password if secret_like else None,
            username=None if secret_like else credentials.username)

    def with_refresh_token(self, request: TokenRequest, refresh_token: str) -> TokenAnswer:
        registry = self.registry(request.service)
        rt = self.runtime
        answer = self._grant(
            request, registry, lambda session: registry_auth.authenticate_refresh(
                session, settings=rt.settings, keyring=rt.keyring, refresh_token=refresh_token),
            credential=refresh_token, username=None)
        return TokenAnswer(answer.token)  # the client keeps the refresh token it has

    def _grant(self, request: TokenRequest, registry: Registry, authenticate: _Authenticate,
               *, credential: str | None, username: str | None) -> TokenAnswer:
        """Authenticate under the failure limit, grant, and sign; audited either way."""
        scopes = [str(s) for s in request.scopes]
        with attempt(self.runtime, request.client, action="container-registry.token",
                     credential=credential, username=username, service=registry.service,
                     scopes=scopes) as current:
            with self.runtime.read() as session:
                principal = authenticate(session)
                access = access_entries(
                    request.scopes, held=held_actions(session, principal, registry.region),
                    operator=principal.iam_id in self.runtime.settings.registry_operators)
            current.succeeded(principal, granted=[
                f"{a['type']}:{a['name']}:{','.join(a['actions'])}" for a in access])
        refresh = None
        if request.offline:
            refresh = access_tokens.issue_refresh(self.runtime.settings, self.runtime.keyring,
                                                  principal)
        return TokenAnswer(self._sign(registry, principal.iam_id, access), refresh)

    def _sign(self, registry: Registry, subject: str, access: list[dict[str, Any]]
              ) -> RegistryToken:
        settings = self.runtime.settings
        return registry_token.issue(keyring=self.runtime.keyring, issuer=settings.issuer,
                                    subject=subject, audience=registry.service, access=access,
                                    ttl=settings.token_ttl)
