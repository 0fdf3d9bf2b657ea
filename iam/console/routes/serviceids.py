"""Service IDs: list, create, and one service ID's page (rename, lock, unlock, delete, its
API keys and its policies). Each form calls the API's route function for it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.routes import serviceids as api
from iam.api.schemas import ServiceIdCreate, ServiceIdUpdate
from iam.console import identity_page, pages, permissions
from iam.console.session import FormDep, JournalDep, VisitorDep
from iam.errors import Forbidden, IamError

router = APIRouter(prefix="/console/serviceids", include_in_schema=False)
PAGE = 50
FIELDS = ("name", "description")


def _list_page(request: Request, visitor: VisitorDep, runtime: RuntimeDep, *,
               pagestart: str | None = None, before: pages.Before = None,
               problems: pages.Problems | None = None,
               form: dict[str, str] | None = None) -> HTMLResponse:
    may = permissions.allowed(runtime, visitor.principal, "iam-identity.serviceid.create")
    try:
        found = api.list_service_ids(caller=visitor.principal, runtime=runtime, limit=PAGE,
                                     pagestart=pagestart)
    except Forbidden as exc:
        return pages.message(request, "Service IDs", exc.message, status=403, visitor=visitor)
    pager = pages.Pager.of("/console/serviceids", pagestart=pagestart, before=before,
                           next_start=found.next_pagestart)
    return pages.render(request, "serviceids.html", visitor, page=found, may=may, pager=pager,
                        problems=problems, form=form)


@router.get("")
def read_service_ids(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                     pagestart: str | None = None,
                     before: pages.Before = None) -> HTMLResponse:
    """The account's service IDs, a page at a time, and the form that creates one."""
    return _list_page(request, visitor, runtime, pagestart=pagestart, before=before)


@router.post("", name="create_service_id")
def create_service_id(request: Request, visitor: VisitorDep, form: FormDep,
                      runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        row = api.create_service_id(
            ServiceIdCreate(name=form.get("name"), description=form.get("description")),
            caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        return _list_page(request, visitor, runtime, form=form.values(),
                          problems=pages.refused(request, exc, FIELDS))
    return pages.see_other(f"/console/serviceids/{row.iam_id}")


@router.get("/{iam_id}")
def read_service_id(request: Request, iam_id: str, visitor: VisitorDep,
                    runtime: RuntimeDep) -> HTMLResponse:
    """One service ID: its facts, keys, policies and what may be done with them."""
    return identity_page.render(request, visitor, runtime, iam_id)


@router.post("/{iam_id}/update", name="update_service_id")
def update_service_id(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                      runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.update_service_id(
            iam_id, ServiceIdUpdate(name=form.get("name"), description=form.get("description")),
            caller=visitor.principal, runtime=runtime, journal=journal,
            if_match=form.get("entity_tag") or None)
    except (ValidationError, IamError) as exc:
        return identity_page.render(request, visitor, runtime, iam_id, form=form.values(),
                                    problems=pages.refused(request, exc, FIELDS))
    return pages.see_other(f"/console/serviceids/{iam_id}")


def _lock(request: Request, iam_id: str, visitor: VisitorDep, runtime: RuntimeDep,
          journal: JournalDep, locked: bool) -> Response:
    change = api.lock_service_id if locked else api.unlock_service_id
    return identity_page.act(request, visitor, runtime, iam_id, lambda: change(
        iam_id, caller=visitor.principal, runtime=runtime, journal=journal))


@router.post("/{iam_id}/lock", name="lock_service_id")
def lock_service_id(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                    runtime: RuntimeDep, journal: JournalDep) -> Response:
    return _lock(request, iam_id, visitor, runtime, journal, True)


@router.post("/{iam_id}/unlock", name="unlock_service_id")
def unlock_service_id(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                      runtime: RuntimeDep, journal: JournalDep) -> Response:
    return _lock(request, iam_id, visitor, runtime, journal, False)


@router.post("/{iam_id}/delete", name="delete_service_id")
def delete_service_id(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                      runtime: RuntimeDep, journal: JournalDep) -> Response:
    return identity_page.act(request, visitor, runtime, iam_id, lambda: api.delete_service_id(
        iam_id, caller=visitor.principal, runtime=runtime, journal=journal),
        then="/console/serviceids")
