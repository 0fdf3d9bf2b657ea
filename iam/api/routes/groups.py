"""`/v1/groups`: access groups, their members (users and service IDs) and, through
`/v1/policies` with an `access_group_id` subject, their policies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from iam.access import groups, guard
from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.policy_schemas import (
    GroupCreate,
    GroupPublic,
    GroupUpdate,
    MemberAdd,
    MemberPublic,
)
from iam.api.schemas import Page, page_of

router = APIRouter(prefix="/v1/groups", tags=["access groups"])
UPDATE = "iam-access-management.group.update"


@router.post("", status_code=201)
def create_group(body: GroupCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                 journal: JournalDep) -> GroupPublic:
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, "iam-access-management.group.create")
        row = groups.create_group(session, journal=journal, account_id=caller.account_id,
                                  name=body.name, description=body.description)
    return GroupPublic.of(row)


@router.get("")
def list_groups(caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
                pagestart: PageStart = None,
                iam_id: Annotated[str | None, Query(max_length=128)] = None,
                ) -> Page[GroupPublic]:
    """The account's access groups; with `iam_id`, the groups that identity is a member of
    (as IBM's `GET /groups?iam_id=`)."""
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-access-management.group.list")
        found = groups.list_groups(session, account_id=caller.account_id, limit=limit,
                                   start=pagestart, member=iam_id)
    return page_of(found, GroupPublic.of, limit=limit)


@router.get("/{group_id}")
def read_group(group_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
               response: Response) -> GroupPublic:
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-access-management.group.get")
        row = groups.get_group(session, account_id=caller.account_id, group_id=group_id)
    response.headers["ETag"] = row.entity_tag
    return GroupPublic.of(row)


@router.put("/{group_id}")
def update_group(group_id: str, body: GroupUpdate, caller: CurrentPrincipal,
                 runtime: RuntimeDep, journal: JournalDep,
                 if_match: IfMatch = None) -> GroupPublic:
    """Rename or re-describe; needs `If-Match: <entity_tag>`."""
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, UPDATE)
        row = groups.update_group(session, journal=journal, account_id=caller.account_id,
                                  group_id=group_id, if_match=if_match, name=body.name,
                                  description=body.description)
    return GroupPublic.of(row)


@router.delete("/{group_id}", status_code=204)
def delete_group(group_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                 journal: JournalDep) -> None:
    """Delete with its memberships and its policies."""
    with runtime.write() as session:
        guard.require_group_change(session, runtime.roles, caller,
                                   "iam-access-management.group.delete", group_id)
        groups.delete_group(session, journal=journal, account_id=caller.account_id,
                            group_id=group_id)


@router.get("/{group_id}/members")
def list_members(group_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                 limit: Limit = 100, pagestart: PageStart = None) -> Page[MemberPublic]:
    """The group's members, `limit` at a time in iam_id order."""
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-access-management.group.get")
        found = groups.list_members(session, account_id=caller.account_id, group_id=group_id,
                                    limit=limit, start=pagestart)
    return page_of(found, MemberPublic.of, limit=limit)


@router.post("/{group_id}/members", status_code=201)
def add_member(group_id: str, body: MemberAdd, caller: CurrentPrincipal, runtime: RuntimeDep,
               journal: JournalDep) -> MemberPublic:
    """Add a user or service ID of the account; 409 if it is already a member."""
    with runtime.write() as session:
        guard.require_group_change(session, runtime.roles, caller, UPDATE, group_id)
        row = groups.add_member(session, journal=journal, account_id=caller.account_id,
                                group_id=group_id, iam_id=body.iam_id)
    return MemberPublic.of(row)


@router.delete("/{group_id}/members/{iam_id}", status_code=204)
def remove_member(group_id: str, iam_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                  journal: JournalDep) -> None:
    with runtime.write() as session:
        guard.require_group_change(session, runtime.roles, caller, UPDATE, group_id)
        groups.remove_member(session, journal=journal, account_id=caller.account_id,
                             group_id=group_id, iam_id=iam_id)
