"""The tokens this service shows a registry for a content operation, minted for itself.

As the caller: `sub` is the caller's `iam_id` and the `access` claim is what the token path
would grant the caller for those scopes (`grant.access_entries` over the actions the policy
engine holds for it, never a registry operator's catalog), signed by the token path's own
`claims.issue`, so that the registry's trust mode applies alike. A token lives
`TOKEN_TTL` seconds and never leaves this process except to that registry.

The exceptions, each for the service itself (`sub` = `SERVICE_SUBJECT`): reading the
catalog, which spans every account (its answer is filtered to the caller's namespaces before
anyone sees it), and finishing a namespace removal that was authorized when it was asked
(`for_removal`: pull and delete on that namespace's repositories only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iam.config import Registry
from iam.registry import claims, grant
from iam.registry.grant import Held
from iam.registry.scopes import Scope
from iam.tokens.signing import Keyring

SERVICE_SUBJECT = "registry-iam"
#: Short: minted just before the requests that use it.
TOKEN_TTL = 60


@dataclass(frozen=True)
class Credentials:
    keyring: Keyring
    issuer: str

    def _sign(self, registry: Registry, subject: str, access: list[dict[str, object]]) -> str:
        return claims.issue(keyring=self.keyring, issuer=self.issuer, subject=subject,
                            audience=registry.service, access=access, ttl=TOKEN_TTL,
                            trust=registry.trust).token

    def as_caller(self, registry: Registry, *, iam_id: str, held: Held,
                  scopes: Sequence[Scope]) -> str:
        """The caller's token for `scopes`: only the asked actions its policies hold."""
        access = grant.access_entries(scopes, held=held, operator=False)
        return self._sign(registry, iam_id, access)

    def for_catalog(self, registry: Registry) -> str:
        return self._sign(registry, SERVICE_SUBJECT,
                          [{"type": "registry", "name": "catalog", "actions": ["*"]}])

    def for_removal(self, registry: Registry, *, acting_for: str, repository: str) -> str:
        """Pull (to resolve tags) and delete on one repository of a namespace whose removal
        was authorized (`container-registry.namespace.delete`) when it was asked."""
        return self._sign(registry, acting_for or SERVICE_SUBJECT, [
            {"type": "repository", "name": repository, "actions": ["pull", "delete"]}])
