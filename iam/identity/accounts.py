"""Accounts: the first one (`iam.bootstrap`) and the operator's `account-create`.

Each account gets an owner service ID that holds everything in its account; the first
account is the system account, whose owner is also the registry-wide operator.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlmodel import Session, col, select

from iam.identity import serviceids
from iam.identity.apikeys import create_api_key
from iam.names import MAX_NAME, clean_name
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import Account, ServiceId, utcnow

KIND = "account"


@dataclass(frozen=True)
class NewAccount:
    account: Account
    owner: ServiceId
    apikey: str  # shown once

    def __repr__(self) -> str:
        return f"NewAccount(account={self.account.id!r}, owner={self.owner.iam_id!r})"


def create_account(session: Session, *, journal: ChangeJournal, secret: bytes, name: str,
                   system: bool = False) -> NewAccount:
    """The account, its owner service ID and the owner's first key; the journal gets the
    owner and the key, then the account (made of them: recorded last, with its owner)."""
    account = Account(id=secrets.token_hex(16), name=clean_name(name), owner_iam_id="",
                      is_system=system, created_at=utcnow())
    session.add(account)
    session.flush()
    owner = serviceids.create_service_id(
        session, journal=journal, account_id=account.id,
        name=f"{account.name[:MAX_NAME - 6]} owner",
        description="Owner of the account; holds every action in it.",
    )
    account.owner_iam_id = owner.iam_id
    session.add(account)
    _, value = create_api_key(session, journal=journal, secret=secret, account_id=account.id,
                              iam_id=owner.iam_id, name="bootstrap",
                              description="Created by iam init / account-create")
    session.flush()
    journal.created(account, kind=KIND)
    return NewAccount(account=account, owner=owner, apikey=value)


def system_account(session: Session) -> Account | None:
    return session.exec(select(Account).where(Account.is_system)).first()



def list_accounts(session: Session, *, limit: int, start: str | None) -> rows.Paged[Account]:
    """Every account (the system operator's view), in id order."""
    return rows.page(session, select(Account), key=col(Account.id), limit=limit, start=start)
