"""Service IDs: robot identities (CI, clusters) that own API keys and hold policies.

A name is unique in its account by its key (`iam.names.name_key`), so a CLI or a
script can name a service ID instead of quoting its id.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session

from iam.errors import Conflict
from iam.names import clean_description, clean_name, name_key, renamed, taken
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import Account, ServiceId, new_tag, utcnow

KIND = "service ID"


def create_service_id(session: Session, *, journal: ChangeJournal, account_id: str, name: str,
                      description: str | None = None) -> ServiceId:
    name = clean_name(name)
    now = utcnow()
    uid = uuid.uuid4()
    row = ServiceId(
        id=f"ServiceId-{uid}", iam_id=f"iam-ServiceId-{uid}", account_id=account_id,
        name=name, name_key=name_key(name), description=clean_description(description),
        created_at=now, modified_at=now, entity_tag=new_tag(),
    )
    return rows.insert(session, row, kind=KIND, journal=journal,
                       conflict=lambda: taken("a service ID", name))


def get_service_id(session: Session, *, account_id: str, service_id: str) -> ServiceId:
    """By `ServiceId-...` id or by its `iam-ServiceId-...` iam_id."""
    column = "iam_id" if service_id.startswith("iam-") else "id"
    return rows.get_in_account(session, ServiceId, service_id, account_id=account_id,
                               kind=KIND, key_column=column)


def list_service_ids(session: Session, *, account_id: str, limit: int, start: str | None,
                     name: str | None = None) -> rows.Paged[ServiceId]:
    return rows.page_in_account(session, ServiceId, account_id=account_id, limit=limit,
                                start=start, name=name)


def update_service_id(session: Session, *, journal: ChangeJournal, account_id: str,
                      service_id: str, if_match: str | None, name: str | None,
                      description: str | None) -> ServiceId:
    row = get_service_id(session, account_id=account_id, service_id=service_id)
    values = renamed(name, description)
    rows.guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                        values=values, conflict=lambda: taken("a service ID", values.get("name")))
    return row


def set_locked(session: Session, *, journal: ChangeJournal, account_id: str, service_id: str,
               locked: bool) -> ServiceId:
    row = get_service_id(session, account_id=account_id, service_id=service_id)
    rows.change(session, row, kind=KIND, journal=journal, values={"locked": locked})
    return row


def delete_service_id(session: Session, *, journal: ChangeJournal, account_id: str,
                      service_id: str) -> ServiceId:
    """Delete the service ID with its keys, memberships and policies (they die with it)."""
    row = get_service_id(session, account_id=account_id, service_id=service_id)
    rows.require_unlocked(row, kind=KIND, doing="deleting")
    account = session.get(Account, account_id)
    if account is not None and account.owner_iam_id == row.iam_id:
        raise Conflict("the account owner's service ID cannot be deleted", target=KIND)
    rows.delete_identity_dependents(session, row.iam_id, journal=journal)
    rows.delete_row(session, row, kind=KIND, journal=journal)
    return row
