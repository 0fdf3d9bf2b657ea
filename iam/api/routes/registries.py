"""`/v1/registries`: the registries this service issues tokens for.

The system operator adds, changes and removes them; any authenticated caller reads them
(without the CA file's path). Every process reloads the list within one poll of the
authorization generation (`iam.registry.directory`).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.registry_schemas import (
    RegistryCreate,
    RegistryDetail,
    RegistryPage,
    RegistryPublic,
    RegistryUpdate,
    registry_view,
)
from iam.api.schemas import Page
from iam.errors import Forbidden, InvalidInput
from iam.identity.authn import Principal
from iam.registry import registries
from iam.store.rows import page_of

router = APIRouter(prefix="/v1/registries", tags=["registries"])
MANAGE = "container-registry.registry.manage"


def _require_operator(caller: Principal) -> None:
    if not caller.is_operator:
        raise Forbidden(MANAGE, "only the system operator may add, change or remove "
                                "registries")


@router.post("", status_code=201)
def create_registry(body: RegistryCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                    journal: JournalDep) -> RegistryDetail:
    """Add a registry (system operator only); 409 if one of that service exists."""
    _require_operator(caller)
    with runtime.write() as session:
        row = registries.add_registry(session, journal=journal, **body.model_dump())
    return RegistryDetail.of(row)


@router.get("")
def list_registries(caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
                    pagestart: PageStart = None) -> RegistryPage:
    """Every registry in use, by service name, `limit` at a time."""
    with runtime.read() as session:
        rows = registries.list_registries(session)
    found = page_of(rows, key=lambda r: r.service, limit=limit, start=pagestart)
    if caller.is_operator:
        return Page[RegistryDetail](data=[RegistryDetail.of(r) for r in found.rows],
                                    count=found.total, limit=limit,
                                    next_pagestart=found.next_start)
    return Page[RegistryPublic](data=[RegistryPublic.of(r) for r in found.rows],
                                count=found.total, limit=limit,
                                next_pagestart=found.next_start)


@router.get("/{service}")
def read_registry(service: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                  response: Response) -> RegistryDetail | RegistryPublic:
    with runtime.read() as session:
        row = registries.get_registry(session, service=service)
    response.headers["ETag"] = row.entity_tag
    return registry_view(row, operator=caller.is_operator)


@router.patch("/{service}")
def update_registry(service: str, body: RegistryUpdate, caller: CurrentPrincipal,
                    runtime: RuntimeDep, journal: JournalDep,
                    if_match: IfMatch = None) -> RegistryDetail:
    """Change some of its settings (system operator only); needs `If-Match: <entity_tag>`.
    409 when the region changes while that region has namespaces."""
    _require_operator(caller)
    values = body.model_dump(exclude_unset=True)
    for name, value in values.items():
        if value is None and name != "ca_file":
            raise InvalidInput(f"{name} cannot be null", target=name)
    with runtime.write() as session:
        row = registries.update_registry(session, journal=journal, service=service,
                                         if_match=if_match, values=values)
    return RegistryDetail.of(row)


@router.delete("/{service}", status_code=204)
def delete_registry(service: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                    journal: JournalDep) -> None:
    """Stop issuing tokens for it (system operator only). 409 for the last registry, and
    for the last registry of a region that has namespaces."""
    _require_operator(caller)
    with runtime.write() as session:
        registries.remove_registry(session, journal=journal, service=service)
