"""One registry's sweep of a namespace being removed, by the content code
(`iam.registry.content.removal.remove_namespace`), told as a `RegistrySweep`: what was
deleted (digests and the tags that went with them), what remains, and whether trying again
can help.

- The registry could not be reached, was too slow or answered nonsense, before or part way
  through: an error to retry, with what was deleted before it stopped.
- Tags found once the deletes were done (pushed meanwhile): remaining, to retry.
- The registry has no URL, or refuses deletes while the namespace has images in it: a
  permanent failure (a registry that refuses deletes but holds nothing of the namespace
  counts as empty).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from iam.config import Registry
from iam.errors import IamError, Incomplete, RegistryRefused, Unsupported
from iam.registry.content import catalog, removal
from iam.registry.content.service import RegistryContent


@dataclass(frozen=True)
class DeletedImage:
    repository: str
    digest: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegistrySweep:
    """What one registry's sweep of a namespace did: the images deleted, the repositories
    that still hold images, and why ("" when nothing went wrong); `permanent` when trying
    again cannot help (no URL known, deletes refused)."""

    registry: str
    deleted: tuple[DeletedImage, ...] = ()
    remaining: tuple[str, ...] = ()
    error: str = ""
    permanent: bool = False

    @property
    def empty(self) -> bool:
        return not self.error and not self.remaining


class NamespaceSweeper(Protocol):
    """Removes every image of `namespace` from `registry` with tokens naming `subject`."""

    def __call__(self, registry: Registry, *, namespace: str,
                 subject: str) -> RegistrySweep: ...



def _deleted(done: list[dict[str, object]]) -> tuple[DeletedImage, ...]:
    images = []
    for entry in done:
        tags = entry.get("tags")
        images.append(DeletedImage(str(entry.get("repository", "")), str(entry.get("digest", "")),
                                   tuple(str(t) for t in tags) if isinstance(tags, list) else ()))
    return tuple(images)


def _not_done(not_done: list[dict[str, object]]) -> tuple[str, ...]:
    names = (str(e.get("repository") or e.get("namespace") or "") for e in not_done)
    return tuple(dict.fromkeys(n for n in names if n))


def tagged_repositories(content: RegistryContent, registry: Registry, *, namespace: str,
                        subject: str) -> tuple[str, ...]:
    """The namespace's repositories in `registry` that hold tags (read only)."""
    reach = content.reach(registry)
    found = []
    for name in catalog.repositories(reach, namespace):
        token = reach.credentials.for_removal(registry, acting_for=subject, repository=name)
        if reach.api.tags(name, token=token):
            found.append(name)
    return tuple(found)


def sweep_by(content: RegistryContent) -> NamespaceSweeper:
    """The sweeper that removes through `content` (the runtime's)."""

    def sweep(registry: Registry, *, namespace: str, subject: str) -> RegistrySweep:
        try:
            done = removal.remove_namespace(content, registry=registry, namespace=namespace,
                                            acting_for=subject)
        except Incomplete as exc:
            return RegistrySweep(registry.service, _deleted(exc.done), _not_done(exc.not_done),
                                 error=exc.cause.message)
        except Unsupported as exc:
            return RegistrySweep(registry.service, error=exc.message, permanent=True)
        except RegistryRefused as exc:  # deletes disabled: permanent only if it holds some
            try:
                left = tagged_repositories(content, registry, namespace=namespace,
                                           subject=subject)
            except IamError as reading:
                return RegistrySweep(registry.service, error=reading.message)
            if not left:
                return RegistrySweep(registry.service)
            return RegistrySweep(registry.service, remaining=left, error=exc.message,
                                 permanent=True)
        except IamError as exc:  # unreachable (503), slow (504), nonsense (502)
            return RegistrySweep(registry.service, error=exc.message)
        deleted = tuple(DeletedImage(r.repository, r.digest, r.tags) for r in done.removed)
        remaining = tuple(done.remaining)
        error = (f"registry {registry.service}: {len(remaining)} repositories got new tags "
                 "while they were emptied" if remaining else "")
        return RegistrySweep(registry.service, deleted, remaining, error=error)

    return sweep
