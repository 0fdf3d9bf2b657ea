"""`/v1/policies`: who holds which roles on what, within the caller's account.

Creating, changing or deleting a policy needs Administrator on its service over the whole
scope it grants (or iam-access-management Administrator). Listing without a subject filter
needs iam-access-management Viewer; with `iam_id` or `access_group_id`, a caller sees its own
policies and those it may manage.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from iam.access import policies
from iam.access.guard import PolicyAccess
from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.policy_schemas import PolicyBody, PolicyPublic
from iam.api.schemas import Page, page_of
from iam.errors import Forbidden, NotFound

router = APIRouter(prefix="/v1/policies", tags=["policies"])
LIST_ALL = "iam-access-management.policy.list"


@router.post("", status_code=201)
def create_policy(body: PolicyBody, caller: CurrentPrincipal, runtime: RuntimeDep,
                  journal: JournalDep) -> PolicyPublic:
    """Grant roles to a subject; 409 names the existing policy for that subject and resource."""
    with runtime.write() as session:
        spec = policies.checked(session, runtime.roles, body.spec(),
                                account_id=caller.account_id)
        PolicyAccess.of(session, runtime.roles, caller).require_manage(spec.as_grant())
        row = policies.create_policy(session, journal=journal, account_id=caller.account_id,
                                     spec=spec, created_by=caller.iam_id)
    return PolicyPublic.of(row)


@router.get("")
def list_policies(caller: CurrentPrincipal, runtime: RuntimeDep,
                  iam_id: Annotated[str | None, Query(max_length=128)] = None,
                  access_group_id: Annotated[str | None, Query(max_length=128)] = None,
                  service: Annotated[str | None, Query(max_length=64)] = None,
                  limit: Limit = 100, pagestart: PageStart = None) -> Page[PolicyPublic]:
    """Policies of the account, of one identity (`iam_id`) or of one group."""
    with runtime.read() as session:
        access = PolicyAccess.of(session, runtime.roles, caller)
        everything = access.account_wide(LIST_ALL)
        if not everything and iam_id is None and access_group_id is None:
            raise Forbidden(LIST_ALL, f"missing action {LIST_ALL} (or filter by iam_id or "
                            "access_group_id)")
        found = policies.list_policies(
            session, account_id=caller.account_id, iam_id=iam_id, group_id=access_group_id,
            service=service, limit=limit, start=pagestart,
            visible=None if everything else access.may_read)
    return page_of(found, PolicyPublic.of, limit=limit)


@router.get("/{policy_id}")
def read_policy(policy_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                response: Response) -> PolicyPublic:
    with runtime.read() as session:
        row = policies.get_policy(session, account_id=caller.account_id, policy_id=policy_id)
        if not PolicyAccess.of(session, runtime.roles, caller).may_read(row):
            raise NotFound(f"policy {policy_id} not found", target="policy")
    response.headers["ETag"] = row.entity_tag
    return PolicyPublic.of(row)


@router.put("/{policy_id}")
def update_policy(policy_id: str, body: PolicyBody, caller: CurrentPrincipal,
                  runtime: RuntimeDep, journal: JournalDep,
                  if_match: IfMatch = None) -> PolicyPublic:
    """Replace roles and resource (not the subject); needs `If-Match: <entity_tag>`."""
    with runtime.write() as session:
        row = policies.get_policy(session, account_id=caller.account_id, policy_id=policy_id)
        access = PolicyAccess.of(session, runtime.roles, caller)
        access.require_manage(policies.spec_of(row).as_grant(row.id))
        spec = policies.checked(session, runtime.roles, body.spec(),
                                account_id=caller.account_id)
        access.require_manage(spec.as_grant(row.id))
        row = policies.update_policy(session, journal=journal, account_id=caller.account_id,
                                     policy_id=policy_id, if_match=if_match, spec=spec)
    return PolicyPublic.of(row)


@router.delete("/{policy_id}", status_code=204)
def delete_policy(policy_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                  journal: JournalDep) -> None:
    with runtime.write() as session:
        row = policies.get_policy(session, account_id=caller.account_id, policy_id=policy_id)
        access = PolicyAccess.of(session, runtime.roles, caller)
        access.require_manage(policies.spec_of(row).as_grant(row.id))
        policies.delete_policy(session, journal=journal, account_id=caller.account_id,
                               policy_id=policy_id)
