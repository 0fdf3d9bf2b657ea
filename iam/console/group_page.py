"""The page of one access group: its facts, members (a page at a time), policies and the
forms of what the signed-in identity may do with them."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse

from iam.api.errors import status_of
from iam.api.routes import groups as api
from iam.console import pages, permissions, policy_view
from iam.console.session import Visitor
from iam.errors import IamError
from iam.runtime import Runtime

ACTIONS = ("iam-access-management.group.update", "iam-access-management.group.delete")


#: Members shown a page at a time.
PAGE = 50


def render(request: Request, visitor: Visitor, runtime: Runtime, group_id: str, *,
           problems: pages.Problems | None = None, form: dict[str, str] | None = None,
           pagestart: str | None = None, before: pages.Before = None,
           **extra: Any) -> HTMLResponse:
    caller = visitor.principal
    try:
        group = api.read_group(group_id, caller, runtime, Response())
        members = api.list_members(group_id, caller, runtime, limit=PAGE,
                                   pagestart=pagestart or None)
    except IamError as exc:
        return pages.message(request, "Not available", exc.message, status=status_of(exc),
                             visitor=visitor)
    pager = pages.Pager.of(f"/console/groups/{group_id}", pagestart=pagestart, before=before,
                           next_start=members.next_pagestart)
    return pages.render(
        request, "group.html", visitor, problems=problems, form=form, group=group,
        members=members, pager=pager, may=permissions.allowed(runtime, caller, *ACTIONS),
        policies=policy_view.of_subject(runtime, caller, group_id=group_id),
        grantable=policy_view.grantable(runtime, caller),
        subject={"access_group_id": group_id}, **{"form_roles": {}, "edit_roles": {}, **extra})
