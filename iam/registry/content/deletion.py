"""image-rm, image-untag and repository-rm, as the caller.

- image-rm resolves each image's tag (default `latest`) to its digest and deletes the
  digest, which takes every other tag pointing to it along: the answer says which.
- image-untag removes one tag where the registry can (OCI distribution 1.1's tag deletion);
  distribution 2.8 cannot (it answers `DIGEST_INVALID` and changes nothing), and the refusal
  says so.
- repository-rm deletes every manifest its tags point to; the repository is then hidden
  from listings.

Each needs `container-registry.image.delete` (and `.image.pull` to read tags) on the
repository, and records every digest it deleted in the change journal.
"""

from __future__ import annotations

from dataclasses import dataclass

from iam.access.holdings import Holdings
from iam.errors import Forbidden, IamError, InvalidInput, NotFound, RegistryRefused
from iam.identity.authn import Principal
from iam.registry.content import images
from iam.registry.content.references import (
    ImageName,
    RepositoryName,
    parse_image,
    parse_repository,
)
from iam.registry.content.removal import (
    Progress,
    Removed,
    RepositoryRemoval,
    empty_repository,
    tags_by_digest,
)
from iam.registry.content.service import Reach, RegistryContent
from iam.registry.scopes import Scope
from iam.store.journal import ChangeJournal

DELETE = "container-registry.image.delete"
PULL = "container-registry.image.pull"
KIND = "image"
MAX_IMAGES = 100


@dataclass(frozen=True)
class ImageRemoval:
    image: str
    repository: str
    digest: str
    #: every tag that pointed to the digest and went with it (the asked one included)
    tags: list[str]
    #: those other than the asked one
    other_tags: list[str]


@dataclass(frozen=True)
class Untagged:
    image: str
    repository: str
    tag: str
    digest: str


def _allowed(holdings: Holdings, name: RepositoryName, *actions: str) -> frozenset[str]:
    region = name.registry.region
    held = holdings.held(region, name.namespace, name.path)
    for action in actions:
        if action not in held:
            raise Forbidden(action, f"missing action {action} on repository "
                                    f"{name.repository} in region {region or '(default)'}")
    return held


def _token(reach: Reach, principal: Principal, name: RepositoryName,
           held: frozenset[str]) -> str:
    return reach.credentials.as_caller(
        reach.registry, iam_id=principal.iam_id, held={(name.namespace, name.path): held},
        scopes=[Scope("repository", name.repository, ("pull", "delete"))])


def _journal(journal: ChangeJournal, registry: str, removed: Removed) -> None:
    journal.record(KIND, before={"registry": registry, "repository": removed.repository,
                                 "digest": removed.digest, "tags": list(removed.tags)})


def remove_images(content: RegistryContent, principal: Principal, *, images_: list[str],
                  journal: ChangeJournal) -> list[ImageRemoval]:
    """Resolve every image first (nothing is deleted if one is not there), then delete."""
    if not 1 <= len(images_) <= MAX_IMAGES:
        raise InvalidInput(f"name 1 to {MAX_IMAGES} images", target="image")
    known = content.registries.all()
    names = [parse_image(value, known) for value in images_]
    plans: list[tuple[ImageName, Reach, str, str, list[str]]] = []
    holdings: dict[str, Holdings] = {}
    reaches: dict[str, Reach] = {}
    for name in names:
        region = name.registry.region
        if region not in holdings:
            holdings[region] = content.holdings(principal, region=region)
        held = _allowed(holdings[region], name, DELETE, PULL)
        if name.registry.service not in reaches:
            reaches[name.registry.service] = content.reach(name.registry)
        reach = reaches[name.registry.service]
        reach.require_deletes()
        token = _token(reach, principal, name, held)
        digest = (images.digest_of_tag(reach, name.repository, name.reference, token=token)
                  if not name.digest else
                  name.digest if reach.api.head_manifest(name.repository, name.digest,
                                                         token=token) else None)
        if digest is None:
            raise NotFound(f"image {name} not found", target="image")
        tags = reach.api.tags(name.repository, token=token)
        pointing = tags_by_digest(reach, name.repository, tags, token=token).get(digest, [])
        plans.append((name, reach, token, digest, pointing))
    progress = Progress()
    answers: list[ImageRemoval] = []
    deleted: set[tuple[str, str, str]] = set()
    for index, (name, reach, token, digest, pointing) in enumerate(plans):
        key = (reach.name, name.repository, digest)
        if key not in deleted:  # two names of one image: deleted once
            try:
                gone = reach.api.delete_manifest(name.repository, digest, token=token)
            except IamError as exc:
                raise _stopped(progress, exc, plans[index:]) from None
            if not gone:  # deleted by someone else meanwhile: not by this call
                continue
            deleted.add(key)
            removed = Removed(name.repository, digest, tuple(pointing))
            progress.done.append(removed)
            _journal(journal, reach.name, removed)
        asked = None if name.digest else name.reference
        answers.append(ImageRemoval(str(name), name.repository, digest, pointing,
                                    [t for t in pointing if t != asked]))
    return answers


def _stopped(progress: Progress, cause: IamError,
             rest: list[tuple[ImageName, Reach, str, str, list[str]]]) -> IamError:
    not_done: list[dict[str, object]] = [
        {"image": str(n), "repository": n.repository, "digest": d, "tags": t}
        for n, _, _, d, t in rest]
    return progress.stopped(cause, not_done)


def untag_image(content: RegistryContent, principal: Principal, *, image: str,
                journal: ChangeJournal) -> Untagged:
    name = parse_image(image, content.registries.all())
    if name.digest:
        raise InvalidInput("image-untag removes a tag: name one (<repository>:<tag>)",
                           target="image")
    holdings = content.holdings(principal, region=name.registry.region)
    held = _allowed(holdings, name, DELETE, PULL)
    reach = content.reach(name.registry)
    reach.require_deletes()
    token = _token(reach, principal, name, held)
    digest = images.digest_of_tag(reach, name.repository, name.reference, token=token)
    if digest is None:
        raise NotFound(f"image {name} not found", target="image")
    outcome = reach.api.delete_tag(name.repository, name.reference, token=token)
    if outcome is None:
        raise RegistryRefused(
            f"registry {reach.name} cannot remove a tag alone: it has no tag deletion "
            "(distribution 2.8 answers DIGEST_INVALID to DELETE /v2/<name>/manifests/<tag>; "
            "OCI distribution 1.1 registries such as distribution 3.x have it). Nothing was "
            "changed: image-rm removes the image with every tag pointing to it, or push "
            "another image over the tag", target="registry")
    if not outcome:
        raise NotFound(f"image {name} not found", target="image")
    journal.record(KIND, before={"registry": reach.name, "repository": name.repository,
                                 "tag": name.reference, "digest": digest})
    return Untagged(str(name), name.repository, name.reference, digest)


def remove_repository(content: RegistryContent, principal: Principal, *, repository: str,
                      journal: ChangeJournal) -> RepositoryRemoval:
    name = parse_repository(repository, content.registries.all())
    holdings = content.holdings(principal, region=name.registry.region)
    held = _allowed(holdings, name, DELETE, PULL)
    reach = content.reach(name.registry)
    reach.require_deletes()
    token = _token(reach, principal, name, held)
    progress = Progress()
    try:
        removal = empty_repository(reach, name.repository, token=token, progress=progress)
    finally:
        for removed in progress.done:
            _journal(journal, reach.name, removed)
    if not removal.removed and not removal.remaining_tags:
        raise NotFound(f"repository {name} not found or already empty", target="repository")
    return removal
