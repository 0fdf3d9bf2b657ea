"""`/v1/apikeys`: keys of service IDs (for CI robots) and of users (their own)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlmodel import Session

from iam.access import guard
from iam.api.deps import CurrentPrincipal, IfMatch, JournalDep, Limit, PageStart, RuntimeDep
from iam.api.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    ApiKeyUpdate,
    Page,
    page_of,
)
from iam.errors import InvalidInput
from iam.identity import apikeys, serviceids, users
from iam.identity.authn import Principal
from iam.runtime import Runtime
from iam.store.journal import ChangeJournal
from iam.store.models import ApiKey

router = APIRouter(prefix="/v1/apikeys", tags=["API keys"])


def _owner_must_exist(session: Session, caller: Principal, iam_id: str) -> None:
    if iam_id.startswith("iam-Profile-"):
        raise InvalidInput("a trusted profile has no API keys: its workloads exchange their "
                           "own OIDC tokens", target="iam_id")
    if iam_id.startswith("iam-ServiceId-"):
        serviceids.get_service_id(session, account_id=caller.account_id, service_id=iam_id)
    else:
        users.get_user(session, account_id=caller.account_id, iam_id=iam_id)


def _key_for(session: Session, caller: Principal, runtime: Runtime, apikey_id: str,
             action: str) -> ApiKey:
    row = apikeys.get_api_key(session, account_id=caller.account_id, apikey_id=apikey_id)
    guard.require_key_access(session, runtime.roles, caller, action, row.iam_id)
    return row


def _key_to_change(session: Session, caller: Principal, runtime: Runtime, apikey_id: str,
                   action: str) -> ApiKey:
    row = apikeys.get_api_key(session, account_id=caller.account_id, apikey_id=apikey_id)
    guard.require_key_change(session, runtime.roles, caller, action, row.iam_id,
                             registry_operators=runtime.settings.registry_operators)
    return row


@router.post("", status_code=201)
def create_api_key(body: ApiKeyCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> ApiKeyCreated:
    """Create a key; the answer carries the key itself, the only time it is ever shown."""
    owner = body.iam_id or caller.iam_id
    with runtime.write() as session:
        _owner_must_exist(session, caller, owner)
        guard.require_key_change(session, runtime.roles, caller, "iam-identity.apikey.create",
                                 owner, registry_operators=runtime.settings.registry_operators)
        row, value = apikeys.create_api_key(
            session, journal=journal, secret=runtime.secret, account_id=caller.account_id,
            iam_id=owner, name=body.name, description=body.description,
            expires_at=body.expires_at)
    return ApiKeyCreated(**ApiKeyPublic.of(row).model_dump(), apikey=value)


@router.get("")
def list_api_keys(caller: CurrentPrincipal, runtime: RuntimeDep, iam_id: str | None = None,
                  limit: Limit = 100, pagestart: PageStart = None) -> Page[ApiKeyPublic]:
    """Keys of one owner (`iam_id`), or of the whole account."""
    with runtime.read() as session:
        if iam_id is None:
            guard.require(session, runtime.roles, caller, "iam-identity.apikey.list")
        else:
            guard.require_key_access(session, runtime.roles, caller, "iam-identity.apikey.list",
                                     iam_id)
        found = apikeys.list_api_keys(session, account_id=caller.account_id, iam_id=iam_id,
                                      limit=limit, start=pagestart)
    return page_of(found, ApiKeyPublic.of, limit=limit)


@router.get("/{apikey_id}")
def read_api_key(apikey_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                 response: Response) -> ApiKeyPublic:
    """Metadata only: the key value is never returned after creation."""
    with runtime.read() as session:
        row = _key_for(session, caller, runtime, apikey_id, "iam-identity.apikey.get")
    response.headers["ETag"] = row.entity_tag
    return ApiKeyPublic.of(row)


@router.put("/{apikey_id}")
def update_api_key(apikey_id: str, body: ApiKeyUpdate, caller: CurrentPrincipal,
                   runtime: RuntimeDep, journal: JournalDep,
                   if_match: IfMatch = None) -> ApiKeyPublic:
    with runtime.write() as session:
        _key_to_change(session, caller, runtime, apikey_id, "iam-identity.apikey.update")
        row = apikeys.update_api_key(session, journal=journal, account_id=caller.account_id,
                                     apikey_id=apikey_id, if_match=if_match, name=body.name,
                                     description=body.description)
    return ApiKeyPublic.of(row)


@router.delete("/{apikey_id}", status_code=204)
def delete_api_key(apikey_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> None:
    """Delete; it stops authenticating at once. A locked key must be unlocked first."""
    with runtime.write() as session:
        _key_to_change(session, caller, runtime, apikey_id, "iam-identity.apikey.delete")
        apikeys.delete_api_key(session, journal=journal, account_id=caller.account_id,
                               apikey_id=apikey_id)


def _flag(apikey_id: str, caller: Principal, runtime: Runtime, journal: ChangeJournal,
          flag: apikeys.Flag, value: bool) -> ApiKeyPublic:
    action = "iam-identity.apikey.lock" if flag == "locked" else "iam-identity.apikey.update"
    with runtime.write() as session:
        _key_to_change(session, caller, runtime, apikey_id, action)
        row = apikeys.set_flag(session, journal=journal, account_id=caller.account_id,
                               apikey_id=apikey_id, flag=flag, value=value)
    return ApiKeyPublic.of(row)


@router.post("/{apikey_id}/lock")
def lock_api_key(apikey_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                 journal: JournalDep) -> ApiKeyPublic:
    """Protect from change and deletion; the key keeps working."""
    return _flag(apikey_id, caller, runtime, journal, "locked", True)


@router.delete("/{apikey_id}/lock")
def unlock_api_key(apikey_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> ApiKeyPublic:
    return _flag(apikey_id, caller, runtime, journal, "locked", False)


@router.post("/{apikey_id}/disable")
def disable_api_key(apikey_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                    journal: JournalDep) -> ApiKeyPublic:
    """Stop the key from authenticating, without deleting it."""
    return _flag(apikey_id, caller, runtime, journal, "disabled", True)


@router.delete("/{apikey_id}/disable")
def enable_api_key(apikey_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> ApiKeyPublic:
    return _flag(apikey_id, caller, runtime, journal, "disabled", False)
