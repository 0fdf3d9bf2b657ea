"""Access groups: list, create, and one group's page (members added and removed by IAM ID,
its policies, deletion). Each form calls the API's route function for it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.policy_schemas import GroupCreate, MemberAdd
from iam.api.routes import groups as api
from iam.console import group_page, pages, permissions
from iam.console.session import FormDep, JournalDep, VisitorDep
from iam.errors import Forbidden, IamError

router = APIRouter(prefix="/console/groups", include_in_schema=False)
PAGE = 50
FIELDS = ("name", "description", "iam_id")


def _list_page(request: Request, visitor: VisitorDep, runtime: RuntimeDep, *,
               pagestart: str | None = None, before: pages.Before = None,
               problems: pages.Problems | None = None,
               form: dict[str, str] | None = None) -> HTMLResponse:
    may = permissions.allowed(runtime, visitor.principal, "iam-access-management.group.create")
    try:
        found = api.list_groups(caller=visitor.principal, runtime=runtime, limit=PAGE,
                                pagestart=pagestart)
    except Forbidden as exc:
        return pages.message(request, "Access groups", exc.message, status=403,
                             visitor=visitor)
    pager = pages.Pager.of("/console/groups", pagestart=pagestart, before=before,
                           next_start=found.next_pagestart)
    return pages.render(request, "groups.html", visitor, page=found, may=may, pager=pager,
                        problems=problems, form=form)


@router.get("")
def read_groups(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                pagestart: str | None = None,
                before: pages.Before = None) -> HTMLResponse:
    return _list_page(request, visitor, runtime, pagestart=pagestart, before=before)


@router.post("", name="create_group")
def create_group(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                 journal: JournalDep) -> Response:
    try:
        row = api.create_group(
            GroupCreate(name=form.get("name"), description=form.get("description")),
            caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        return _list_page(request, visitor, runtime, form=form.values(),
                          problems=pages.refused(request, exc, FIELDS))
    return pages.see_other(f"/console/groups/{row.id}")


@router.get("/{group_id}")
def read_group(request: Request, group_id: str, visitor: VisitorDep, runtime: RuntimeDep,
               pagestart: str | None = None, before: pages.Before = None) -> HTMLResponse:
    """The group, its members (`group_page.PAGE` at a time) and its policies."""
    return group_page.render(request, visitor, runtime, group_id, pagestart=pagestart,
                             before=before)


@router.post("/{group_id}/members", name="add_member")
def add_member(request: Request, group_id: str, visitor: VisitorDep, form: FormDep,
               runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.add_member(group_id, MemberAdd(iam_id=form.get("iam_id")),
                       caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        problems = pages.refused(request, exc, FIELDS)
        if problems.general and isinstance(exc, IamError) and exc.target in (
                "service ID", "user", "identity", "member"):
            problems.fields["iam_id"] = problems.general.pop()
        return group_page.render(request, visitor, runtime, group_id, form=form.values(),
                                 problems=problems)
    return pages.see_other(f"/console/groups/{group_id}")


@router.post("/{group_id}/members/{iam_id}/remove", name="remove_member")
def remove_member(request: Request, group_id: str, iam_id: str, visitor: VisitorDep,
                  form: FormDep, runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.remove_member(group_id, iam_id, caller=visitor.principal, runtime=runtime,
                          journal=journal)
    except IamError as exc:
        return group_page.render(request, visitor, runtime, group_id,
                                 problems=pages.refused(request, exc))
    return pages.see_other(f"/console/groups/{group_id}")


@router.post("/{group_id}/delete", name="delete_group")
def delete_group(request: Request, group_id: str, visitor: VisitorDep, form: FormDep,
                 runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.delete_group(group_id, caller=visitor.principal, runtime=runtime, journal=journal)
    except IamError as exc:
        return group_page.render(request, visitor, runtime, group_id,
                                 problems=pages.refused(request, exc))
    return pages.see_other("/console/groups")
