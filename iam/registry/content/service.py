"""The content operations' parts, held once per process (`runtime.content`).

`RegistryContent` is what every content operation is handed: the registries, the role
catalog and a read session (for the policy engine), the tokens (`credentials`), one pooled
connection per registry and the digest cache. `reach` opens one operation's way into one
registry, under one deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlmodel import Session

from iam.access.holdings import Holdings
from iam.access.roles import RoleCatalog
from iam.config import Registry, Settings
from iam.errors import RegistryRefused
from iam.identity.authn import Principal
from iam.registry.content.cache import DigestCache
from iam.registry.content.connection import Connections, Deadline
from iam.registry.content.credentials import Credentials
from iam.registry.content.distribution import Distribution
from iam.registry.directory import RegistryDirectory


@dataclass(frozen=True)
class Reach:
    """One operation's way into one registry: its API under the operation's deadline, the
    tokens, the digest cache and the concurrency bound."""

    registry: Registry
    api: Distribution
    credentials: Credentials
    cache: DigestCache
    concurrency: int

    @property
    def name(self) -> str:
        return self.registry.service

    def require_deletes(self) -> None:
        if not self.registry.delete_enabled:
            raise RegistryRefused(f"registry {self.name} is set up without deletes "
                                  "(delete_enabled is false): nothing was removed",
                                  target="registry")


@dataclass(frozen=True)
class RegistryContent:
    settings: Settings
    roles: RoleCatalog
    read: Callable[[], AbstractContextManager[Session]]
    registries: RegistryDirectory
    credentials: Credentials
    connections: Connections
    cache: DigestCache

    def reach(self, registry: Registry, deadline: Deadline | None = None) -> Reach:
        """Raises Unsupported when the registry has no url."""
        deadline = deadline or Deadline.after(self.settings.registry_deadline)
        return Reach(registry, Distribution(self.connections.to(registry), deadline),
                     self.credentials, self.cache, self.settings.registry_concurrency)

    def holdings(self, principal: Principal, *, region: str | None = None,
                 namespace: str | None = None) -> Holdings:
        """What the caller holds (in `namespace` only, when the operation is on that one),
        read once for the whole operation (one short session: no database connection is
        held while the registry answers)."""
        with self.read() as session:
            return Holdings.read(session, self.roles, principal, region=region,
                                 namespace=namespace)
