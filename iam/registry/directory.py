"""The registries this service knows: the one list the token path, the content operations
and the CLI read (`runtime.registries`).

The list lives in the database (`iam.registry.registries`). A running service holds it in
memory, in this object, and reloads it when the authorization generation changes (the
poller of `iam.store.generation_cache` calls `reload`, before it trusts the new generation):
the token path reads it without touching the database, and a change made through any
process is seen by every other within one poll. Until a first load has succeeded every
read raises Unavailable (503), retrying the load at most once per `RETRY_S`.

`RegistryDirectory(registries)` is a fixed list (tests, tools).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence

from iam.config import Registry
from iam.errors import InvalidInput, Unavailable, Unsupported

log = logging.getLogger("iam.registries")
RETRY_S = 1.0

Loader = Callable[[], Sequence[Registry]]


class _Snapshot:
    """One list, and its index by service: replaced whole, never changed."""

    __slots__ = ("by_service", "registries")

    def __init__(self, registries: Iterable[Registry]) -> None:
        self.registries = tuple(registries)
        self.by_service = {r.service: r for r in self.registries}


class RegistryDirectory:
    def __init__(self, registries: Iterable[Registry] | None = None, *,
                 loader: Loader | None = None) -> None:
        self._loader = loader
        self._snapshot = _Snapshot(registries) if registries is not None else None
        self._loading = threading.Lock()
        self._tried = float("-inf")

    @classmethod
    def loading(cls, loader: Loader) -> RegistryDirectory:
        """A directory read by `loader` (from the database), not loaded yet."""
        return cls(loader=loader)

    # -- loading ------------------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    def reload(self) -> None:
        """Read the list again; an error propagates and the previous list stays."""
        if self._loader is None:
            return
        with self._loading:
            self._snapshot = _Snapshot(self._loader())

    def _current(self) -> _Snapshot:
        snapshot = self._snapshot
        if snapshot is not None:
            return snapshot
        now = time.monotonic()
        if (self._loader is not None and now - self._tried >= RETRY_S
                and self._loading.acquire(blocking=False)):
            self._tried = now
            try:
                self._snapshot = _Snapshot(self._loader())
            except Exception as exc:  # the database: answered 503 below, retried later
                log.warning("cannot read the list of registries (%s)", type(exc).__name__)
            finally:
                self._loading.release()
        if self._snapshot is None:
            raise Unavailable("the list of registries could not be read from the database "
                              "yet; retry shortly")
        return self._snapshot

    # -- reading ------------------------------------------------------------------------------

    @property
    def registries(self) -> tuple[Registry, ...]:
        return self._current().registries

    def all(self) -> list[Registry]:
        return list(self._current().registries)

    def get(self, service: str) -> Registry | None:
        return self._current().by_service.get(service)

    def in_region(self, region: str) -> list[Registry]:
        return [r for r in self._current().registries if r.region == region]

    def names(self) -> str:
        """The known services, for an error message."""
        return ", ".join(r.service for r in self._current().registries) or "(none)"

    def require(self, service: str) -> Registry:
        """The registry named `service`, or Unsupported naming the known ones."""
        registry = self.get(service)
        if registry is None:
            raise Unsupported(f"unknown registry {service[:100]!r}; the known registries "
                              f"are: {self.names()}")
        return registry

    def regions(self) -> list[str]:
        """The regions the known registries serve, each once, in their order."""
        return list(dict.fromkeys(r.region for r in self._current().registries))

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
