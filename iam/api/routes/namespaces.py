"""`/v1/namespaces`: the account's registry namespaces (unique per region across accounts).

Listing with counts and deleting wait on registries: they run in the content operations'
thread pool (`iam.api.offload.content_operation`), never in the admin API's worker threads.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from iam.access import guard, namespaces
from iam.api.deps import CurrentPrincipal, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.offload import content_operation
from iam.api.policy_schemas import NamespaceListed, NamespacePublic, NamespaceRemovalPublic
from iam.api.schemas import Page, page_of
from iam.registry import namespace_listing

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"])
Region = Annotated[str | None, Query(
    max_length=64, description="Region; omitted: the one region every known registry serves "
                               "(400 when they serve several)")]
Counts = Annotated[bool, Query(description="Count repositories, images and size in the "
                                           "registries (false: a fast list)")]


@router.put("/{name}", status_code=201, responses={200: {
    "model": NamespacePublic, "description": "The account already holds it"}})
def create_namespace(name: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                     journal: JournalDep, response: Response,
                     region: Region = None) -> NamespacePublic:
    """Create (201); 200 if the account already holds it; 409 if another account does, or
    while a namespace of that name is being deleted; 400 for a region no known registry
    serves."""
    namespaces.check_name(name)
    region = runtime.registries.namespace_region(region, new=True)
    namespaces.check_region(region)
    with runtime.write() as session:
        guard.require_to_create_namespace(session, runtime.roles, caller, region=region, name=name)
        row, created = namespaces.create_namespace(session, journal=journal,
                                                   account_id=caller.account_id,
                                                   region=region, name=name)
    if not created:
        response.status_code = 200
    return NamespacePublic.of(row)


@router.get("")
async def list_namespaces(request: Request, caller: CurrentPrincipal, runtime: RuntimeDep,
                          region: Annotated[str | None, Query(max_length=64)] = None,
                          counts: Counts = True, limit: Limit = 100,
                          pagestart: PageStart = None) -> Page[NamespaceListed]:
    """The account's namespaces on which the caller holds any action, `limit` at a time in
    (region, name) order, with their state and (`counts`) what the registries of their
    region hold of the page's namespaces, as the caller may list it
    (`container-registry.image.list`); a registry that cannot be read leaves the counts
    null with a `counts_note`."""
    if region is not None:
        namespaces.check_region(region)
    found = await content_operation(request.app.state.content_limiter, partial(
        namespace_listing.list_namespaces, runtime.content, caller, region=region,
        counts=counts, limit=limit, start=pagestart))
    return page_of(found, NamespaceListed.listed, limit=limit)


@router.get("/{name}")
async def get_namespace(request: Request, name: str, caller: CurrentPrincipal,
                        runtime: RuntimeDep, region: Region = None,
                        counts: Counts = True) -> NamespaceListed:
    """One namespace, as the list shows it (what `iam namespace-rm` asks about)."""
    region = runtime.registries.namespace_region(region, new=False)
    namespaces.check_region(region)
    found = await content_operation(request.app.state.content_limiter, partial(
        namespace_listing.show_namespace, runtime.content, caller, region=region, name=name,
        counts=counts))
    return NamespaceListed.listed(found)


@router.delete("/{name}", responses={202: {
    "model": NamespaceRemovalPublic,
    "description": "Removal under way: the namespace is `deleting` (a registry could not be "
                   "reached, or its name waits out the registry tokens granted before)"}})
async def delete_namespace(request: Request, name: str, caller: CurrentPrincipal,
                           runtime: RuntimeDep, journal: JournalDep, response: Response,
                           region: Region = None) -> NamespaceRemovalPublic:
    """Delete the namespace with its images (IBM's `namespace-rm`): push is withheld from
    it at once, its repositories are removed from every registry of its region, and its
    name is released once they are all empty and no registry token granted before can
    push. 200 when that ended within a few seconds (`deleted`; `reserved` when a registry
    could not be emptied for good: the name then stays the account's); 202 while
    `deleting` (it resumes by itself; `GET /v1/namespaces` shows its state). Asked again
    while deleting: one more attempt now."""
    region = runtime.registries.namespace_region(region, new=False)
    status = await content_operation(request.app.state.content_limiter, partial(
        runtime.namespace_removals.remove, caller, journal=journal, region=region, name=name))
    if not status.done:
        response.status_code = 202
    return NamespaceRemovalPublic.of(status)
