"""`/v1/namespaces`: the account's registry namespaces (unique per region across accounts)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from iam.access import authz, guard, namespaces
from iam.api.deps import CurrentPrincipal, JournalDep, RuntimeDep
from iam.api.policy_schemas import NamespaceList, NamespacePublic

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"])
Region = Annotated[str | None, Query(
    max_length=64, description="Region; omitted: the one region every known registry serves "
                               "(400 when they serve several)")]


@router.put("/{name}", status_code=201)
def create_namespace(name: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                     journal: JournalDep, response: Response,
                     region: Region = None) -> NamespacePublic:
    """Create (201); 200 if the account already holds it; 409 if another account does; 400
    for a region no known registry serves."""
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
def list_namespaces(caller: CurrentPrincipal, runtime: RuntimeDep,
                    region: Annotated[str | None, Query(max_length=64)] = None) -> NamespaceList:
    """The account's namespaces on which the caller holds any action."""
    with runtime.read() as session:
        rows = namespaces.list_namespaces(session, account_id=caller.account_id, region=region)
        rows = authz.visible_namespaces(session, runtime.roles, caller, rows)
    return NamespaceList(data=[NamespacePublic.of(r) for r in rows], count=len(rows))


@router.delete("/{name}", status_code=204)
def delete_namespace(name: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                     journal: JournalDep, region: Region = None) -> None:
    region = runtime.registries.namespace_region(region, new=False)
    with runtime.write() as session:
        namespaces.get_namespace(session, account_id=caller.account_id, region=region,
                                 name=name)
        guard.require(session, runtime.roles, caller, "container-registry.namespace.delete",
                      {"region": region, "namespace": name})
        namespaces.delete_namespace(session, journal=journal, account_id=caller.account_id,
                                    region=region, name=name)
