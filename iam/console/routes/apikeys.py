"""API keys of service IDs and users: create (the key shown once, on the answer to the form
itself, never in a URL or a later page), disable, enable, lock, unlock, delete."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError

from iam.api.deps import RuntimeDep
from iam.api.routes import apikeys as api
from iam.api.schemas import ApiKeyCreate
from iam.console import identity_page, pages
from iam.console.session import FormDep, JournalDep, Visitor, VisitorDep
from iam.errors import IamError, InvalidInput
from iam.runtime import Runtime
from iam.store.journal import ChangeJournal

router = APIRouter(prefix="/console", include_in_schema=False)
FIELDS = {"name": "key_name", "description": "key_description", "expires_at": "expires_at"}


def _expiry(value: str) -> datetime | None:
    """A `datetime-local` value, read as UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput("not a date and time (YYYY-MM-DDTHH:MM)",
                           target="expires_at") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _create(request: Request, iam_id: str, visitor: Visitor, form: FormDep,
            runtime: Runtime, journal: ChangeJournal) -> Response:
    try:
        created = api.create_api_key(
            ApiKeyCreate(name=form.get("key_name"), iam_id=iam_id,
                         description=form.get("key_description") or None,
                         expires_at=_expiry(form.get("expires_at"))),
            caller=visitor.principal, runtime=runtime, journal=journal)
    except (ValidationError, IamError) as exc:
        problems = pages.refused(request, exc, FIELDS)
        problems.fields = {FIELDS.get(k, k): v for k, v in problems.fields.items()}
        return identity_page.render(request, visitor, runtime, iam_id, problems=problems,
                                    form=form.values())
    return pages.render(request, "key_created.html", visitor, key=created,
                        back=identity_page.url_of(iam_id),
                        docker_hosts=identity_page.registry_hosts(runtime))


@router.post("/serviceids/{iam_id}/keys", name="create_api_key")
def create_service_id_key(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                          runtime: RuntimeDep, journal: JournalDep) -> Response:
    return _create(request, iam_id, visitor, form, runtime, journal)


@router.post("/users/{iam_id}/keys", name="create_api_key")
def create_user_key(request: Request, iam_id: str, visitor: VisitorDep, form: FormDep,
                    runtime: RuntimeDep, journal: JournalDep) -> Response:
    return _create(request, iam_id, visitor, form, runtime, journal)


Change = Callable[..., object]
CHANGES: dict[str, tuple[str, Change]] = {
    "disable": ("disable_api_key", api.disable_api_key),
    "enable": ("enable_api_key", api.enable_api_key),
    "lock": ("lock_api_key", api.lock_api_key),
    "unlock": ("unlock_api_key", api.unlock_api_key),
    "delete": ("delete_api_key", api.delete_api_key),
}


def _change(request: Request, apikey_id: str, visitor: Visitor, runtime: Runtime,
            journal: ChangeJournal, change: Change) -> Response:
    try:
        key = api.read_api_key(apikey_id, caller=visitor.principal, runtime=runtime,
                               response=Response())
    except IamError as exc:
        return pages.not_available(request, exc, visitor)
    try:
        change(apikey_id, caller=visitor.principal, runtime=runtime, journal=journal)
    except IamError as exc:
        return identity_page.render(request, visitor, runtime, key.iam_id,
                                    problems=pages.refused(request, exc))
    return pages.see_other(identity_page.url_of(key.iam_id))


def _route(verb: str, name: str, change: Change) -> None:
    def endpoint(request: Request, apikey_id: str, visitor: VisitorDep, form: FormDep,
                 runtime: RuntimeDep, journal: JournalDep) -> Response:
        return _change(request, apikey_id, visitor, runtime, journal, change)

    endpoint.__name__ = name
    router.add_api_route(f"/apikeys/{{apikey_id}}/{verb}", endpoint, methods=["POST"],
                         name=name)


for _verb, (_name, _change_fn) in CHANGES.items():
    _route(_verb, _name, _change_fn)
