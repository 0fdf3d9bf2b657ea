"""`/v1/users`: human identities with a password."""

from __future__ import annotations

from fastapi import APIRouter, Response

from iam.access import guard
from iam.api.deps import (
    ClientDep,
    CurrentPrincipal,
    IfMatch,
    JournalDep,
    Limit,
    PageStart,
    RuntimeDep,
)
from iam.api.identity_change import identity_change
from iam.api.schemas import Page, PasswordChange, UserCreate, UserPublic, UserUpdate, page_of
from iam.identity import users

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.post("", status_code=201)
def create_user(body: UserCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                journal: JournalDep) -> UserPublic:
    with runtime.write() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.user.create")
        row = users.create_user(session, journal=journal, account_id=caller.account_id,
                                name=body.name, password=body.password)
    return UserPublic.of(row)


@router.get("")
def list_users(caller: CurrentPrincipal, runtime: RuntimeDep, limit: Limit = 100,
               pagestart: PageStart = None) -> Page[UserPublic]:
    with runtime.read() as session:
        guard.require(session, runtime.roles, caller, "iam-identity.user.list")
        found = users.list_users(session, account_id=caller.account_id, limit=limit,
                                 start=pagestart)
    return page_of(found, UserPublic.of, limit=limit)


@router.get("/{iam_id}")
def read_user(iam_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
              response: Response) -> UserPublic:
    with runtime.read() as session:
        if iam_id != caller.iam_id:
            guard.require(session, runtime.roles, caller, "iam-identity.user.get")
        row = users.get_user(session, account_id=caller.account_id, iam_id=iam_id)
    response.headers["ETag"] = row.entity_tag
    return UserPublic.of(row)


@router.put("/{iam_id}")
def update_user(iam_id: str, body: UserUpdate, caller: CurrentPrincipal, runtime: RuntimeDep,
                journal: JournalDep, if_match: IfMatch = None) -> UserPublic:
    with identity_change(runtime, caller, "iam-identity.user.update", iam_id) as session:
        row = users.update_user(session, journal=journal, account_id=caller.account_id,
                                iam_id=iam_id, if_match=if_match, name=body.name)
    return UserPublic.of(row)


def _set_lock(iam_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
              journal: JournalDep, locked: bool) -> UserPublic:
    with identity_change(runtime, caller, "iam-identity.user.update", iam_id) as session:
        row = users.set_locked(session, journal=journal, account_id=caller.account_id,
                               iam_id=iam_id, locked=locked)
    return UserPublic.of(row)


@router.post("/{iam_id}/lock")
def lock_user(iam_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
              journal: JournalDep) -> UserPublic:
    """Protect from renaming and deletion (it still signs in; its keys keep working);
    needs iam-identity.user.update."""
    return _set_lock(iam_id, caller, runtime, journal, True)


@router.delete("/{iam_id}/lock")
def unlock_user(iam_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                journal: JournalDep) -> UserPublic:
    return _set_lock(iam_id, caller, runtime, journal, False)


@router.put("/{iam_id}/password", status_code=204)
def change_password(iam_id: str, body: PasswordChange, caller: CurrentPrincipal,
                    runtime: RuntimeDep, client: ClientDep, journal: JournalDep) -> None:
    """Set a new password: one's own with `current_password`; another user's with
    iam-identity.user.update over everything that user holds. Either way the user's
    refresh tokens stop working at once."""
    if iam_id == caller.iam_id:
        with runtime.write() as session, runtime.attempts.own_password_change(client, caller):
            users.change_own_password(session, journal=journal, account_id=caller.account_id,
                                      iam_id=iam_id, current_password=body.current_password,
                                      password=body.password)
        return
    with identity_change(runtime, caller, "iam-identity.user.update", iam_id) as session:
        users.set_password(session, journal=journal, account_id=caller.account_id,
                           iam_id=iam_id, password=body.password)


@router.delete("/{iam_id}", status_code=204)
def delete_user(iam_id: str, caller: CurrentPrincipal, runtime: RuntimeDep,
                journal: JournalDep) -> None:
    with identity_change(runtime, caller, "iam-identity.user.delete", iam_id) as session:
        users.delete_user(session, journal=journal, account_id=caller.account_id,
                          iam_id=iam_id)
