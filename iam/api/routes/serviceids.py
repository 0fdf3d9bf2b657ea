"""`/v1/serviceids`: robot identities."""

from __future__ import annotations

from fastapi import APIRouter, Response

from iam.access import guard
from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.identity_change import identity_change
from iam.api.schemas import Page, ServiceIdCreate, ServiceIdPublic, ServiceIdUpdate, page_of
from iam.identity import serviceids

router = APIRouter(prefix="/v1/serviceids", tags=["service IDs"])


@router.post("", status_code=201)
def create_service_id(body: ServiceIdCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                      journal: JournalDep) -> ServiceIdPublic:
    """Create a service ID in the caller's account."""
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.serviceid.create")
        row = serviceids.create_service_id(session, journal=journal,
                                           account_id=caller.account_id, name=body.name,
                                           description=body.description)
    return ServiceIdPublic.of(row)


@router.get("")
def list_service_ids(caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
                     pagestart: PageStart = None,
                     name: str | None = None) -> Page[ServiceIdPublic]:
    """List the account's service IDs, `limit` at a time."""
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.serviceid.list")
        found = serviceids.list_service_ids(session, account_id=caller.account_id,
                                            limit=limit, start=pagestart, name=name)
    return page_of(found, ServiceIdPublic.of, limit=limit)


@router.get("/{service_id}")
def read_service_id(service_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                    response: Response) -> ServiceIdPublic:
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.serviceid.get")
        row = serviceids.get_service_id(session, account_id=caller.account_id,
                                        service_id=service_id)
    response.headers["ETag"] = row.entity_tag
    return ServiceIdPublic.of(row)


@router.put("/{service_id}")
def update_service_id(service_id: str, body: ServiceIdUpdate, caller: CurrentPrincipal,
                      runtime: RuntimeDep, journal: JournalDep,
                      if_match: IfMatch = None) -> ServiceIdPublic:
    """Rename or re-describe; needs `If-Match: <entity_tag>`."""
    with identity_change(runtime, caller, "iam-identity.serviceid.update", service_id) as session:
        row = serviceids.update_service_id(session, journal=journal,
                                           account_id=caller.account_id,
                                           service_id=service_id, if_match=if_match,
                                           name=body.name, description=body.description)
    return ServiceIdPublic.of(row)


@router.delete("/{service_id}", status_code=204)
def delete_service_id(service_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                      journal: JournalDep) -> None:
    """Delete with its API keys and policies; a locked service ID must be unlocked first."""
    with identity_change(runtime, caller, "iam-identity.serviceid.delete", service_id) as session:
        serviceids.delete_service_id(session, journal=journal, account_id=caller.account_id,
                                     service_id=service_id)


def _set_lock(service_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
              journal: JournalDep, locked: bool) -> ServiceIdPublic:
    with identity_change(runtime, caller, "iam-identity.serviceid.lock", service_id) as session:
        row = serviceids.set_locked(session, journal=journal, account_id=caller.account_id,
                                    service_id=service_id, locked=locked)
    return ServiceIdPublic.of(row)


@router.post("/{service_id}/lock")
def lock_service_id(service_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                    journal: JournalDep) -> ServiceIdPublic:
    """Protect from change and deletion (its keys keep working)."""
    return _set_lock(service_id, caller, runtime, journal, True)


@router.delete("/{service_id}/lock")
def unlock_service_id(service_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                      journal: JournalDep) -> ServiceIdPublic:
    return _set_lock(service_id, caller, runtime, journal, False)
