"""`/v1/namespace-reservations`: names of deleted namespaces, kept for their account.

Only the system operator lists every account's reservations and releases one; another
caller sees its own account's, and is refused a release.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from iam.access import guard, namespaces
from iam.api.deps import CurrentPrincipal, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.schemas import NamespaceReservation, Page, page_of
from iam.errors import Forbidden

router = APIRouter(prefix="/v1/namespace-reservations", tags=["namespaces"])
RELEASE = "container-registry.namespace-reservation.release"


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


@router.delete("/{name}", status_code=204)
def release_namespace_reservation(
    name: str, caller: CurrentPrincipal, runtime: RuntimeDep, journal: JournalDep,
    region: Annotated[str | None, Query(
        max_length=64, description="Region; omitted: the one region every known registry "
                                   "serves (400 when they serve several)")] = None,
) -> None:
    """Release a reserved name (system operator only): any account may then take it."""
    if not caller.is_operator:
        raise Forbidden(RELEASE, "only the system operator may release a namespace "
                                 "reservation")
    region = runtime.registries.namespace_region(region, new=False)
    with runtime.write() as session:
        namespaces.release_reservation(session, journal=journal, region=region, name=name)
