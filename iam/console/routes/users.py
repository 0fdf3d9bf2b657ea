"""Users: list, create (name and password), and one user's page (rename, set a password,
lock, unlock, delete, its API keys and policies). Each form calls the API's route function
for it."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.routes import users as api
from iam.api.schemas import PasswordChange, UserCreate, UserUpdate
from iam.console import identity_page, pages, permissions
from iam.console.session import FormDep, JournalDep, Visitor, VisitorDep, client_of
from iam.errors import Forbidden, IamError
from iam.runtime import Runtime

router = APIRouter(prefix="/console/users", include_in_schema=False)
PAGE = 50
FIELDS = ("name", "password", "current_password")


def _list_page(request: Request, visitor: VisitorDep, runtime: RuntimeDep, *,
               pagestart: str | None = None, before: pages.Before = None,
               problems: pages.Problems | None = None,
               form: dict[str, str] | None = None) -> HTMLResponse:
    may = permissions.allowed(runtime, visitor.principal, "iam-identity.user.create")
    try:
        found = api.list_users(caller=visitor.principal, runtime=runtime, limit=PAGE,
                               pagestart=pagestart)
    except Forbidden as exc:
        return pages.message(request, "Users", exc.message, status=403, visitor=visitor)
    pager = pages.Pager.of("/console/users", pagestart=pagestart, before=before,
                           next_start=found.next_pagestart)
    return pages.render(request, "users.html", visitor, page=found, may=may, pager=pager,
                        problems=problems, form=form)


@router.get("")
def read_users(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
               pagestart: str | None = None,
               before: pages.Before = None) -> HTMLResponse:
    return _list_page(request, visitor, runtime, pagestart=pagestart, before=before)


@router.post("", name="create_user")
def create_user(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                journal: JournalDep) -> Response:
    try:
        row = api.create_user(UserCreate(name=form.get("name"), password=form.raw("password")),
                              caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        return _list_page(request, visitor, runtime, form=form.values(),
                          problems=pages.refused(request, exc, FIELDS))
    return pages.see_other(f"/console/users/{row.iam_id}")


@router.get("/{iam_id}")
def read_user(request: Request, iam_id: str, visitor: VisitorDep,
              runtime: RuntimeDep) -> HTMLResponse:
    return identity_page.render(request, visitor, runtime, iam_id)


@router.post("/{iam_id}/update", name="update_user")
def update_user(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                runtime: RuntimeDep, journal: JournalDep) -> Response:
    try:
        api.update_user(iam_id, UserUpdate(name=form.get("name")), caller=visitor.principal,
                        runtime=runtime, journal=journal,
                        if_match=form.get("entity_tag") or None)
    except (ValidationError, IamError) as exc:
        return identity_page.render(request, visitor, runtime, iam_id, form=form.values(),
                                    problems=pages.refused(request, exc, FIELDS))
    return pages.see_other(f"/console/users/{iam_id}")


@router.post("/{iam_id}/password", name="change_password")
def change_password(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                    runtime: RuntimeDep, journal: JournalDep) -> Response:
    """Another user's password (with user.update), or one's own with the current one; the
    user's tokens and other console sessions stop at once (the fingerprint changed)."""
    try:
        api.change_password(
            iam_id, PasswordChange(password=form.raw("password"),
                                   current_password=form.raw("current_password") or None),
            caller=visitor.principal, runtime=runtime, client=client_of(request, runtime),
            journal=journal)
    except (ValidationError, IamError) as exc:
        problems = pages.refused(request, exc, FIELDS)
        if visitor.principal.iam_id == iam_id and isinstance(exc, Forbidden):
            problems.fields["current_password"] = exc.message
            problems.general = []
        return identity_page.render(request, visitor, runtime, iam_id, problems=problems)
    if visitor.principal.iam_id == iam_id:  # this session was opened with the old password
        return pages.see_other("/console/signin?ended=1")
    return pages.see_other(f"/console/users/{iam_id}")


@router.post("/{iam_id}/delete", name="delete_user")
def delete_user(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                runtime: RuntimeDep, journal: JournalDep) -> Response:
    return identity_page.act(request, visitor, runtime, iam_id, lambda: api.delete_user(
        iam_id, caller=visitor.principal, runtime=runtime, journal=journal),
        then="/console/users")


def _lock(request: Request, iam_id: str, visitor: Visitor, runtime: Runtime,
          journal: JournalDep, locked: bool) -> Response:
    change = api.lock_user if locked else api.unlock_user
    return identity_page.act(request, visitor, runtime, iam_id, lambda: change(
        iam_id, caller=visitor.principal, runtime=runtime, journal=journal))


@router.post("/{iam_id}/lock", name="lock_user")
def lock_user(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
              runtime: RuntimeDep, journal: JournalDep) -> Response:
    """Protect the user from renaming and deletion (the API's lock)."""
    return _lock(request, iam_id, visitor, runtime, journal, True)


@router.post("/{iam_id}/unlock", name="unlock_user")
def unlock_user(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                runtime: RuntimeDep, journal: JournalDep) -> Response:
    return _lock(request, iam_id, visitor, runtime, journal, False)
