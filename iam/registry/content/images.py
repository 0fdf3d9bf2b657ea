"""Reading one image as the registry holds it now, through the digest cache.

Which digest a tag points to is asked every time (a `HEAD` when the cache holds that
digest's manifest, else one `GET` by tag), unless a listing accepts the registry's answer of
the last few seconds (`max_age`); what a digest names comes from the cache when it
is there. A digest the caller writes is confirmed in the repository (`HEAD`) before the
cache answers for it.
"""

from __future__ import annotations

from typing import Any

from iam.errors import RegistryBadAnswer
from iam.registry.content.manifests import DIGEST, Descriptor, Manifest, config_of
from iam.registry.content.service import Reach


def is_digest(reference: str) -> bool:
    return DIGEST.match(reference) is not None


def _fetch(reach: Reach, repository: str, reference: str, token: str) -> Manifest | None:
    found = reach.api.get_manifest(repository, reference, token=token)
    if found is not None:
        reach.cache.keep_manifest(found)
        if not is_digest(reference):
            reach.cache.keep_tag_hint(reach.name, repository, reference, found.digest)
    return found


def manifest(reach: Reach, repository: str, reference: str, *, token: str,
             max_age: float = 0.0) -> Manifest | None:
    """The manifest a tag or digest names in `repository` now (None: not there); with
    `max_age`, a tag's digest the registry gave at most that many seconds ago is taken
    from memory without asking again (listings only)."""
    cache = reach.cache
    if is_digest(reference):
        cached = cache.manifest(reference)
        if cached is None:
            return _fetch(reach, repository, reference, token)
        return cached if reach.api.head_manifest(repository, reference,
                                                 token=token) else None
    if max_age > 0:
        recent = cache.recent_tag(reach.name, repository, reference, within=max_age)
        remembered = cache.manifest(recent) if recent is not None else None
        if remembered is not None:
            return remembered
    hint = cache.tag_hint(reach.name, repository, reference)
    if hint is None or cache.manifest(hint) is None:
        return _fetch(reach, repository, reference, token)
    found = reach.api.head_manifest(repository, reference, token=token)
    if found is None:
        return None
    digest = found[0]
    cached = cache.manifest(digest)
    if cached is None:
        return _fetch(reach, repository, digest, token)
    cache.keep_tag_hint(reach.name, repository, reference, digest)  # said again, now
    return cached


def digest_of_tag(reach: Reach, repository: str, tag: str, *, token: str) -> str | None:
    """Which digest the tag points to now (one `HEAD`)."""
    found = reach.api.head_manifest(repository, tag, token=token)
    return found[0] if found else None


def child(reach: Reach, repository: str, descriptor: Descriptor, *, token: str) -> Manifest:
    """A manifest an index of `repository` names (the registry holds it with the index)."""
    cached = reach.cache.manifest(descriptor.digest)
    if cached is not None:
        return cached
    found = _fetch(reach, repository, descriptor.digest, token)
    if found is None:
        raise RegistryBadAnswer(f"registry {reach.name} holds an index in {repository} whose "
                                f"manifest {descriptor.digest} it does not hold",
                                registry=reach.name)
    return found


def config(reach: Reach, repository: str, descriptor: Descriptor, *, token: str
           ) -> dict[str, Any]:
    """An image's config blob, as JSON."""
    body = reach.cache.blob(descriptor.digest)
    if body is None:
        body = reach.api.get_blob(repository, descriptor.digest, token=token)
        if body is None:
            raise RegistryBadAnswer(f"registry {reach.name} holds an image in {repository} "
                                    f"whose config {descriptor.digest} it does not hold",
                                    registry=reach.name)
        reach.cache.keep_blob(descriptor.digest, body)
    return config_of(body, registry=reach.name)
