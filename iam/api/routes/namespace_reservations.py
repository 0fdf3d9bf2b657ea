"""`/v1/namespace-reservations`: names of deleted namespaces, kept for their account.

Only the system operator lists every account's reservations and releases one; another
caller sees its own account's, and is refused a release.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from iam.access import guard, namespaces
from iam.api.deps import CurrentPrincipal, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.offload import content_operation
from iam.api.policy_schemas import NamespaceRemovalPublic
from iam.api.schemas import NamespaceReservation, Page, page_of

router = APIRouter(prefix="/v1/namespace-reservations", tags=["namespaces"])


@router.get("")
def list_namespace_reservations(
    caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
    pagestart: PageStart = None,
) -> Page[NamespaceReservation]:
    """Every account's reserved names for the operator; the caller's account's otherwise."""
    with runtime.read() as session:
        if not caller.is_operator:
            guard.require(session, runtime.roles, caller, "container-registry.namespace.list")
        found = namespaces.list_reservations(
            session, account_id=None if caller.is_operator else caller.account_id,
            limit=limit, start=pagestart)
    return page_of(found, NamespaceReservation.of, limit=limit)


@router.delete("/{name}", responses={202: {
    "model": NamespaceRemovalPublic,
    "description": "Release under way: what the deleted namespace left in a registry is "
                   "being removed (one could not be reached)"}})
async def release_namespace_reservation(
    request: Request, name: str, caller: CurrentPrincipal, runtime: RuntimeDep,
    journal: JournalDep, response: Response,
    region: Annotated[str | None, Query(
        max_length=64, description="Region; omitted: the one region every known registry "
                                   "serves (400 when they serve several)")] = None,
) -> NamespaceRemovalPublic:
    """Release a reserved name (system operator only): whatever its deleted namespace left
    in the registries of its region is removed first, and the name is free for any account
    once they are all empty (200, state `deleted`); 202 while that goes on; 409 when a
    registry cannot be emptied by this service (no URL, deletes refused)."""
    region = runtime.registries.namespace_region(region, new=False)
    status = await content_operation(request.app.state.content_limiter, partial(
        runtime.namespace_removals.release, caller, journal=journal, region=region, name=name))
    if not status.done:
        response.status_code = 202
    return NamespaceRemovalPublic.of(status)
