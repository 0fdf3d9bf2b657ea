"""The registries this service knows: the one list the token path, the content operations
and the CLI read (`runtime.registries`).

Today the list is the settings' `registries`; it is read through this one object so that
where it comes from can change without touching its readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from iam.config import Registry
from iam.errors import InvalidInput, Unsupported


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

    def regions(self) -> list[str]:
        """The regions the known registries serve, each once, in their order."""
        return list(dict.fromkeys(r.region for r in self.registries))

    def namespace_region(self, requested: str | None, *, new: bool) -> str:
        """The region a namespace request means: the one asked for, or when none is, the
        region every known registry serves. A new namespace must be in a region some
        registry serves (no registry would use it otherwise, even its owner's push would be
        denied); an existing one may outlive its registry and be deleted still."""
        regions = self.regions()
        if requested is None:
            if len(regions) == 1:
                return regions[0]
            raise InvalidInput("give the namespace's region (--region, ?region=): the "
                               f"registries serve {_listed(regions)}", target="region")
        if new and requested not in regions:
            raise InvalidInput(f"no registry serves the region {requested[:64]!r}; the "
                               f"registries serve {_listed(regions)}", target="region")
        return requested


def _listed(regions: list[str]) -> str:
    """The regions for a message; a registry without one shows as `""`."""
    if not regions:
        return "no region: no registry is known yet"
    return ", ".join(repr(r) if r else '"" (no region)' for r in regions)
