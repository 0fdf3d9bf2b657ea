"""API key records: create (the only moment the value exists), list, update, lock, disable."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlmodel import Session, col, select

from iam.errors import InvalidInput
from iam.identity import apikey_format
from iam.names import clean_description, clean_name, renamed
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import ApiKey, new_tag, utcnow

KIND = "API key"


def create_api_key(session: Session, *, journal: ChangeJournal, secret: bytes, account_id: str,
                   iam_id: str, name: str, description: str | None = None,
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """The new record and the key value; the value is never stored, recorded or shown
    again."""
    now = utcnow()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at must carry a time zone (e.g. 2027-01-01T00:00:00Z)",
                               target="expires_at")
        if expires_at <= now:
            raise InvalidInput("expires_at must be in the future", target="expires_at")
    value = apikey_format.generate()
    row = ApiKey(
        id=f"ApiKey-{uuid.uuid4()}", account_id=account_id, iam_id=iam_id,
        name=clean_name(name), description=clean_description(description),
        key_hash=apikey_format.digest(value, secret), created_at=now, modified_at=now,
        expires_at=expires_at, entity_tag=new_tag(),
    )
    return rows.insert(session, row, kind=KIND, journal=journal, secrets=("apikey",)), value


def get_api_key(session: Session, *, account_id: str, apikey_id: str) -> ApiKey:
    return rows.get_in_account(session, ApiKey, apikey_id, account_id=account_id, kind=KIND)


def list_api_keys(session: Session, *, account_id: str, iam_id: str | None, limit: int,
                  start: str | None) -> rows.Paged[ApiKey]:
    query = select(ApiKey).where(ApiKey.account_id == account_id)
    if iam_id is not None:
        query = query.where(ApiKey.iam_id == iam_id)
    return rows.page(session, query, key=col(ApiKey.id), limit=limit, start=start)


def update_api_key(session: Session, *, journal: ChangeJournal, account_id: str,
                   apikey_id: str, if_match: str | None, name: str | None,
                   description: str | None) -> ApiKey:
    row = get_api_key(session, account_id=account_id, apikey_id=apikey_id)
    rows.guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                        values=renamed(name, description, keyed=False))
    return row


Flag = Literal["locked", "disabled"]


def set_flag(session: Session, *, journal: ChangeJournal, account_id: str, apikey_id: str,
             flag: Flag, value: bool) -> ApiKey:
    """Lock (protect from change and deletion) or disable (stop authenticating), or undo
    it; a locked key is neither disabled nor enabled."""
    row = get_api_key(session, account_id=account_id, apikey_id=apikey_id)
    if flag == "disabled":
        rows.require_unlocked(row, kind=KIND, doing="disabling or enabling")
    rows.change(session, row, kind=KIND, journal=journal, values={flag: value})
    return row


def delete_api_key(session: Session, *, journal: ChangeJournal, account_id: str,
                   apikey_id: str) -> ApiKey:
    row = get_api_key(session, account_id=account_id, apikey_id=apikey_id)
    rows.require_unlocked(row, kind=KIND, doing="deleting")
    rows.delete_row(session, row, kind=KIND, journal=journal)
    return row
