"""API key records: create (the only moment the value exists), list, update, lock, disable."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, col, select

from iam.errors import InvalidInput, LockedEntity
from iam.identity import apikey_format
from iam.names import clean_description, clean_name
from iam.store.models import ApiKey, new_tag, utcnow
from iam.store.rows import Paged, get_in_account, guarded_update, page

KIND = "API key"


def create_api_key(session: Session, *, secret: bytes, account_id: str, iam_id: str, name: str,
                   description: str | None = None,
                   expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """The new record and the key value; the value is never stored or shown again."""
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
    session.add(row)
    session.flush()
    return row, value


def get_api_key(session: Session, *, account_id: str, apikey_id: str) -> ApiKey:
    return get_in_account(session, ApiKey, apikey_id, account_id=account_id, kind=KIND)


def list_api_keys(session: Session, *, account_id: str, iam_id: str | None, limit: int,
                  start: str | None) -> Paged[ApiKey]:
    query = select(ApiKey).where(ApiKey.account_id == account_id)
    if iam_id is not None:
        query = query.where(ApiKey.iam_id == iam_id)
    return page(session, query, key=col(ApiKey.id), limit=limit, start=start)


def update_api_key(session: Session, *, account_id: str, apikey_id: str, if_match: str | None,
                   name: str | None, description: str | None) -> ApiKey:
    row = get_api_key(session, account_id=account_id, apikey_id=apikey_id)
    values: dict[str, str] = {}
    if name is not None:
        values["name"] = clean_name(name)
    if description is not None:
        values["description"] = clean_description(description)
    guarded_update(session, row, if_match=if_match, kind=KIND, values=values)
    return row


def _set_flag(session: Session, *, account_id: str, apikey_id: str, flag: str,
              value: bool) -> ApiKey:
    row = get_api_key(session, account_id=account_id, apikey_id=apikey_id)
    if flag == "disabled" and row.locked:
        raise LockedEntity("API key is locked; unlock it before disabling or enabling it",
                           target=KIND)
    if getattr(row, flag) != value:
        setattr(row, flag, value)
        row.modified_at = utcnow()
        row.entity_tag = new_tag()
        session.add(row)
        session.flush()
    return row


def set_locked(session: Session, *, account_id: str, apikey_id: str, locked: bool) -> ApiKey:
    return _set_flag(session, account_id=account_id, apikey_id=apikey_id, flag="locked",
                     value=locked)


def set_disabled(session: Session, *, account_id: str, apikey_id: str,
                 disabled: bool) -> ApiKey:
    return _set_flag(session, account_id=account_id, apikey_id=apikey_id, flag="disabled",
                     value=disabled)


def delete_api_key(session: Session, *, account_id: str, apikey_id: str) -> ApiKey:
    row = get_api_key(session, account_id=account_id, apikey_id=apikey_id)
    if row.locked:
        raise LockedEntity("API key is locked; unlock it before deleting it", target=KIND)
    session.delete(row)
    session.flush()
    return row
