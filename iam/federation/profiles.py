"""Trusted profiles: identities without keys (`iam-Profile-<uuid>`), which hold policies and
join access groups like a service ID; a workload becomes one by a token its claim rules
accept (`iam.federation.exchange`). Names are unique in the account by their key.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col

from iam.names import clean_description, clean_name, name_key, renamed, taken
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import ClaimRule, TrustedProfile, new_tag, utcnow

KIND = "trusted profile"
IAM_PREFIX = "iam-Profile-"


def create_profile(session: Session, *, journal: ChangeJournal, account_id: str, name: str,
                   description: str | None = None) -> TrustedProfile:
    name = clean_name(name)
    now = utcnow()
    uid = uuid.uuid4()
    row = TrustedProfile(id=f"Profile-{uid}", iam_id=f"{IAM_PREFIX}{uid}",
                         account_id=account_id, name=name, name_key=name_key(name),
                         description=clean_description(description), created_at=now,
                         modified_at=now, entity_tag=new_tag())
    return rows.insert(session, row, kind=KIND, journal=journal,
                       conflict=lambda: taken("a trusted profile", name))


def get_profile(session: Session, *, account_id: str, profile_id: str) -> TrustedProfile:
    """By `Profile-...` id or its `iam-Profile-...` iam_id."""
    column = "iam_id" if profile_id.startswith(IAM_PREFIX) else "id"
    return rows.get_in_account(session, TrustedProfile, profile_id, account_id=account_id,
                               kind=KIND, key_column=column)


def list_profiles(session: Session, *, account_id: str, limit: int, start: str | None,
                  name: str | None = None) -> rows.Paged[TrustedProfile]:
    return rows.page_in_account(session, TrustedProfile, account_id=account_id, limit=limit,
                                start=start, name=name)


def update_profile(session: Session, *, journal: ChangeJournal, account_id: str,
                   profile_id: str, if_match: str | None, name: str | None,
                   description: str | None) -> TrustedProfile:
    row = get_profile(session, account_id=account_id, profile_id=profile_id)
    values = renamed(name, description)
    rows.guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                        values=values, respect_lock=False,
                        conflict=lambda: taken("a trusted profile", values.get("name")))
    return row


def delete_profile(session: Session, *, journal: ChangeJournal, account_id: str,
                   profile_id: str) -> TrustedProfile:
    """Delete with its claim rules, memberships and policies."""
    row = get_profile(session, account_id=account_id, profile_id=profile_id)
    rows.delete_journalled(session, ClaimRule, col(ClaimRule.profile_id) == row.id,
                           kind="claim rule", journal=journal)
    rows.delete_identity_dependents(session, row.iam_id, journal=journal)
    rows.delete_row(session, row, kind=KIND, journal=journal)
    return row
