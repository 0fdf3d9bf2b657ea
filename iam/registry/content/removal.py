"""Removing images: every manifest of a repository, every repository of a namespace.

Distribution deletes a manifest by digest, and with it every tag that points to it; a
repository whose manifests are all deleted stays in the catalog with no tags (listings hide
it). Untagged manifests cannot be enumerated through the API, and deleted blobs stay on
disk, until the operator runs the registry's `garbage-collect`.

A removal reports exactly what it deleted (`Removed`: repository, digest, the tags that
went with it) and what remains (tags found after the deletes, pushed meanwhile). When a
registry fails part way, `Incomplete` says what was deleted before it stopped and what was
not; when it fails before anything was deleted, the registry's own error (unreachable 503,
slow 504, nonsense 502) is raised.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from iam.config import Registry
from iam.errors import IamError, Incomplete
from iam.registry.content import catalog, images
from iam.registry.content.parallel import each
from iam.registry.content.service import Reach, RegistryContent


@dataclass(frozen=True)
class Removed:
    """One manifest deleted, and the tags that pointed to it."""

    repository: str
    digest: str
    tags: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"repository": self.repository, "digest": self.digest, "tags": list(self.tags)}


@dataclass(frozen=True)
class RepositoryRemoval:
    registry: str
    repository: str
    removed: tuple[Removed, ...]
    #: tags the repository had once its manifests were deleted (pushed meanwhile)
    remaining_tags: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.remaining_tags


@dataclass(frozen=True)
class NamespaceRemoval:
    """What one registry deleted of one namespace, and what it still holds."""

    registry: str
    namespace: str
    repositories: tuple[RepositoryRemoval, ...]

    @property
    def removed(self) -> list[Removed]:
        return [r for repository in self.repositories for r in repository.removed]

    @property
    def remaining(self) -> list[str]:
        """Repositories still holding tags."""
        return [r.repository for r in self.repositories if not r.complete]

    @property
    def complete(self) -> bool:
        return not self.remaining


@dataclass
class Progress:
    """What a removal has deleted so far (for `Incomplete` if it stops)."""

    done: list[Removed] = field(default_factory=list)

    def stopped(self, cause: IamError, not_done: list[dict[str, object]]) -> IamError:
        if not self.done:
            return cause
        return Incomplete(cause, done=[r.as_dict() for r in self.done], not_done=not_done)


def tags_by_digest(reach: Reach, repository: str, tags: list[str], *, token: str
                   ) -> dict[str, list[str]]:
    """Which digest each tag points to now (one HEAD each), grouped by digest."""
    digests = each(lambda tag: images.digest_of_tag(reach, repository, tag, token=token),
                   tags, concurrency=reach.concurrency)
    grouped: dict[str, list[str]] = defaultdict(list)
    for tag, digest in zip(tags, digests, strict=True):
        if digest is not None:
            grouped[digest].append(tag)
    return {d: sorted(t) for d, t in grouped.items()}


def delete_digests(reach: Reach, repository: str, grouped: dict[str, list[str]], *,
                   token: str, progress: Progress) -> list[Removed]:
    """Delete each digest (its tags go with it); what was really deleted."""
    removed: list[Removed] = []
    for digest, tags in grouped.items():
        try:
            deleted = reach.api.delete_manifest(repository, digest, token=token)
        except IamError as exc:
            rest: list[dict[str, object]] = [
                {"repository": repository, "digest": d, "tags": t}
                for d, t in grouped.items() if d not in {r.digest for r in removed}]
            raise progress.stopped(exc, rest) from None
        if deleted:  # not there any more: someone else deleted it, nothing done here
            entry = Removed(repository, digest, tuple(tags))
            removed.append(entry)
            progress.done.append(entry)
    return removed


def empty_repository(reach: Reach, repository: str, *, token: str,
                     progress: Progress | None = None) -> RepositoryRemoval:
    """Delete every manifest the repository's tags point to; then look again."""
    progress = progress or Progress()
    try:
        tags = reach.api.tags(repository, token=token)
        grouped = tags_by_digest(reach, repository, tags, token=token)
    except IamError as exc:
        raise progress.stopped(exc, [{"repository": repository}]) from None
    removed = delete_digests(reach, repository, grouped, token=token, progress=progress)
    try:
        left = reach.api.tags(repository, token=token)
    except IamError as exc:
        raise progress.stopped(exc, [{"repository": repository, "checked": False}]) from None
    return RepositoryRemoval(reach.name, repository, tuple(removed), tuple(sorted(left)))


def remove_namespace(content: RegistryContent, *, registry: Registry, namespace: str,
                     acting_for: str) -> NamespaceRemoval:
    """Delete every manifest of every repository of `namespace` in `registry`.

    For the namespace removal (`iam namespace-rm`), whose caller has been authorized
    (`container-registry.namespace.delete`) when it was asked: the tokens are the service's
    (`Credentials.for_removal`, `sub` = `acting_for`), pull and delete on that namespace's
    repositories only. Raises Unsupported (no url), RegistryRefused (deletes disabled), the
    registry's errors when nothing was deleted, Incomplete when something was.
    """
    reach = content.reach(registry)
    reach.require_deletes()
    progress = Progress()
    try:
        names = list(catalog.repositories(reach, namespace))
    except IamError as exc:
        raise progress.stopped(exc, [{"namespace": namespace}]) from None
    done: list[RepositoryRemoval] = []
    for index, name in enumerate(names):
        token = reach.credentials.for_removal(registry, acting_for=acting_for,
                                              repository=name)
        try:
            done.append(empty_repository(reach, name, token=token, progress=progress))
        except Incomplete as exc:
            later: list[dict[str, object]] = [{"repository": n} for n in names[index + 1:]]
            raise Incomplete(exc.cause, done=exc.done,
                             not_done=[*exc.not_done, *later]) from None
        except IamError as exc:
            raise progress.stopped(exc, [{"repository": n} for n in names[index:]]) from None
    return NamespaceRemoval(registry.service, namespace, tuple(done))
