"""The system operator's pages: signing keys (list, rotate) and accounts (list, create, the
new owner's key shown once). Anyone else gets 403 and no link to them."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.routes import accounts as accounts_api
from iam.api.schemas import AccountCreate
from iam.console import pages
from iam.console.session import FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import Forbidden, IamError, InvalidInput
from iam.identity import accounts
from iam.runtime import Runtime
from iam.tokens import key_rotation

router = APIRouter(prefix="/console/operator", include_in_schema=False)
ONLY = "only the system operator may see this page"


def _operator(visitor: Visitor) -> None:
    if not visitor.principal.is_operator:
        raise Forbidden("iam.operator", ONLY)


def _keys_page(request: Request, visitor: Visitor, runtime: Runtime,
               problems: pages.Problems | None = None) -> HTMLResponse:
    return pages.render(request, "operator_keys.html", visitor, problems=problems,
                        keys=key_rotation.statuses(runtime.settings))


@router.get("/keys")
def read_signing_keys(request: Request, visitor: VisitorDep, runtime: RuntimeDep) -> HTMLResponse:
    """Every signing key: pending (published, not signing yet), active, retired."""
    try:
        _operator(visitor)
    except Forbidden as exc:
        return pages.message(request, "Signing keys", exc.message, status=403, visitor=visitor)
    return _keys_page(request, visitor, runtime)


@router.post("/keys/rotate", name="rotate_signing_key")
def rotate_signing_key(request: Request, visitor: VisitorDep, form: FormDep,
                       runtime: RuntimeDep, journal: JournalDep) -> Response:
    """A new key, published at once and signing after `activate_after` seconds (re-run
    `iam registry-config` for every registry meanwhile)."""
    try:
        _operator(visitor)
        text = form.get("activate_after") or "0"
        if not text.isdigit():
            raise InvalidInput("a number of seconds", target="activate_after")
        key = key_rotation.rotate(runtime.settings, activate_after=int(text))
    except IamError as exc:
        problems = pages.refused(request, exc, ("activate_after",))
        if problems.general and isinstance(exc, InvalidInput):
            problems.fields["activate_after"] = problems.general.pop()
        return _keys_page(request, visitor, runtime, problems)
    journal.record("signing_key", after={"kid": key.kid, "alg": key.alg,
                                         "activate_at": key.activate_at.isoformat()})
    return pages.see_other("/console/operator/keys")


def _accounts_page(request: Request, visitor: Visitor, runtime: Runtime, *,
                   pagestart: str | None = None, problems: pages.Problems | None = None,
                   form: dict[str, str] | None = None) -> HTMLResponse:
    with runtime.read() as session:
        found = accounts.list_accounts(session, limit=50, start=pagestart)
    return pages.render(request, "operator_accounts.html", visitor, found=found,
                        problems=problems, form=form)


@router.get("/accounts")
def read_accounts(request: Request, visitor: VisitorDep, runtime: RuntimeDep,
                  pagestart: str | None = None) -> HTMLResponse:
    try:
        _operator(visitor)
    except Forbidden as exc:
        return pages.message(request, "Accounts", exc.message, status=403, visitor=visitor)
    return _accounts_page(request, visitor, runtime, pagestart=pagestart)


@router.post("/accounts", name="create_account")
def create_account(request: Request, visitor: VisitorDep, form: FormDep, runtime: RuntimeDep,
                   journal: JournalDep) -> Response:
    """A new account and its owner service ID; the owner's key is shown once, here."""
    try:
        created = accounts_api.create_account(AccountCreate(name=form.get("name")),
                                              caller=visitor.principal, runtime=runtime,
                                              journal=journal)
    except (ValidationError, IamError) as exc:
        if not visitor.principal.is_operator:
            problems = pages.refused(request, exc)
            return pages.message(request, "Accounts", "; ".join(problems.general),
                                 status=problems.status, visitor=visitor)
        return _accounts_page(request, visitor, runtime, form=form.values(),
                              problems=pages.refused(request, exc, ("name",)))
    return pages.render(request, "account_created.html", visitor, account=created)
