"""`/v1/accounts`: the system operator creates further accounts (tenants)."""

from __future__ import annotations

from fastapi import APIRouter

from iam.api.deps import CurrentPrincipal, JournalDep, RuntimeDep
from iam.api.schemas import AccountCreate, AccountCreated
from iam.errors import Forbidden
from iam.identity import accounts

router = APIRouter(prefix="/v1/accounts", tags=["accounts"])


@router.post("", status_code=201)
def create_account(body: AccountCreate, caller: CurrentPrincipal, runtime: RuntimeDep,
                   journal: JournalDep) -> AccountCreated:
    """A new account with its own owner service ID; the owner's API key is shown once."""
    if not caller.is_operator:
        raise Forbidden("iam.account.create", "only the system operator may create accounts")
    with runtime.write() as session:
        new = accounts.create_account(session, journal=journal, secret=runtime.secret,
                                      name=body.name)
    return AccountCreated(id=new.account.id, name=new.account.name,
                          owner_iam_id=new.owner.iam_id, owner_service_id=new.owner.id,
                          apikey=new.apikey)
