"""The registries this service knows: the one list the token path, the content operations
and the CLI read (`runtime.registries`).

Today the list is the settings' `registries`; it is read through this one object so that
where it comes from can change without touching its readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from iam.config import Registry
from iam.errors import Unsupported


@dataclass(frozen=True)
class RegistryDirectory:
    registries: Sequence[Registry]
    _by_service: dict[str, Registry] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_service", {r.service: r for r in self.registries})

    def all(self) -> list[Registry]:
        return list(self.registries)

    def get(self, service: str) -> Registry | None:
        return self._by_service.get(service)

    def in_region(self, region: str) -> list[Registry]:
        return [r for r in self.registries if r.region == region]

    def names(self) -> str:
        """The known services, for an error message."""
        return ", ".join(r.service for r in self.registries) or "(none)"

    def require(self, service: str) -> Registry:
        """The registry named `service`, or Unsupported naming the known ones."""
        registry = self.get(service)
        if registry is None:
            raise Unsupported(f"unknown registry {service[:100]!r}; the known registries "
                              f"are: {self.names()}")
        return registry
