"""`/v1/images` and `/v1/repositories`: the registry content of the caller's namespaces.

Each route parses, hands one content operation to its own thread pool (registries answer in
their own time; the admin API's worker threads are not held) and shapes the report.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request

from iam.api.content_schemas import (
    ImageList,
    ImageRemovalPublic,
    ImageRemovals,
    InspectionPublic,
    RepositoryRemovalPublic,
    TagBody,
    TaggedPublic,
    UntaggedPublic,
)
from iam.api.deps import CurrentPrincipal, JournalDep, Limit, RuntimeDep
from iam.api.offload import content_operation
from iam.registry.content import deletion, inspection, listing, tagging
from iam.registry.content.cache import MAX_AGE

router = APIRouter(tags=["images"])
V = TypeVar("V")
IMAGE = ("[registry host/]namespace/repository[:tag|@digest]; the host may be left out when "
         "only one registry is known; no tag means latest")
Image = Annotated[str, Query(min_length=1, max_length=512, description=IMAGE)]


async def _run(request: Request, work: Callable[[], V]) -> V:
    return await content_operation(request.app.state.content_limiter, work)


@router.get("/v1/images")
async def list_images(
    request: Request, caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
    namespace: Annotated[str | None, Query(max_length=64)] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    include_untagged: bool = False,
    pagestart: Annotated[str | None, Query(max_length=listing.MAX_CURSOR,
                                           description="next_pagestart of the previous "
                                                       "page")] = None,
    repository: Annotated[str | None, Query(
        max_length=256, description="only this repository (namespace/path), its tags read "
                                    "without the catalog")] = None,
    max_age: Annotated[float, Query(
        ge=0, le=MAX_AGE, description="accept a tag's digest the registry gave this service "
                                      "at most this many seconds ago instead of asking "
                                      "again (a HEAD per tag); 0: ask for every tag")] = 0,
) -> ImageList:
    """The images of the caller's namespaces (`container-registry.image.list`), a page of
    whole repositories at a time; repositories without tags hidden unless include_untagged."""
    page = await _run(request, partial(
        listing.list_images, runtime.content, caller, namespace=namespace, region=region,
        include_untagged=include_untagged, limit=limit, pagestart=pagestart,
        repository=repository, max_age=max_age))
    return ImageList.of(page, limit=limit)


@router.get("/v1/images/inspect")
async def inspect_image(request: Request, caller: CurrentPrincipal, runtime: RuntimeDep,
                        image: Image) -> InspectionPublic:
    """Manifest type, platforms, layers and config (`container-registry.image.inspect`)."""
    found = await _run(request, partial(inspection.inspect_image, runtime.content, caller,
                                        image=image))
    return InspectionPublic.of(found)


@router.post("/v1/images/tags", status_code=201)
async def tag_image(request: Request, body: TagBody, caller: CurrentPrincipal,
                    runtime: RuntimeDep, journal: JournalDep) -> TaggedPublic:
    """A new tag for an existing image, copied within its registry (blobs mounted, same
    digest): pull on the source, push on the target."""
    tagged = await _run(request, partial(tagging.tag_image, runtime.content, caller,
                                         source=body.source, target=body.target,
                                         journal=journal))
    return TaggedPublic.of(tagged)


@router.delete("/v1/images")
async def remove_images(
    request: Request, caller: CurrentPrincipal, runtime: RuntimeDep, journal: JournalDep,
    image: Annotated[list[str], Query(min_length=1, max_length=deletion.MAX_IMAGES,
                                      description=IMAGE)],
) -> ImageRemovals:
    """Delete each image's digest (`container-registry.image.delete`); every tag pointing to
    it goes too, and the answer names them."""
    removed = await _run(request, partial(deletion.remove_images, runtime.content, caller,
                                          images_=image, journal=journal))
    return ImageRemovals(data=[ImageRemovalPublic.of(r) for r in removed], count=len(removed))


@router.delete("/v1/images/tags")
async def untag_image(request: Request, caller: CurrentPrincipal, runtime: RuntimeDep,
                      journal: JournalDep, image: Image) -> UntaggedPublic:
    """Remove one tag, where the registry supports it (409 on distribution 2.8)."""
    untagged = await _run(request, partial(deletion.untag_image, runtime.content, caller,
                                           image=image, journal=journal))
    return UntaggedPublic.of(untagged)


@router.delete("/v1/repositories")
async def remove_repository(
    request: Request, caller: CurrentPrincipal, runtime: RuntimeDep, journal: JournalDep,
    repository: Annotated[str, Query(min_length=1, max_length=512,
                                     description="[registry host/]namespace/repository")],
) -> RepositoryRemovalPublic:
    """Delete every manifest of the repository; it is then hidden from listings."""
    removal = await _run(request, partial(deletion.remove_repository, runtime.content, caller,
                                          repository=repository, journal=journal))
    return RepositoryRemovalPublic.of(removal)
