"""Access groups: users, service IDs and trusted profiles of one account that share the
group's policies.

Members are identities only (a group never contains a group), so membership cannot be
circular; adding the same member twice is a Conflict. Names are unique in the account by
their key (`iam.names.name_key`).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from iam.errors import Conflict, InvalidInput, NotFound
from iam.names import clean_description, clean_name, name_key, renamed, taken
from iam.store.journal import ChangeJournal
from iam.store.models import (
    AccessGroup,
    GroupMember,
    Policy,
    ServiceId,
    TrustedProfile,
    User,
    new_id,
    new_tag,
    utcnow,
)
from iam.store.rows import (
    Paged,
    delete_journalled,
    delete_row,
    get_in_account,
    guarded_update,
    insert,
    page,
)

KIND = "access group"
MEMBER = "group member"


def create_group(session: Session, *, journal: ChangeJournal, account_id: str, name: str,
                 description: str | None = None) -> AccessGroup:
    name = clean_name(name)
    now = utcnow()
    row = AccessGroup(id=new_id("AccessGroup"), account_id=account_id, name=name,
                      name_key=name_key(name), description=clean_description(description),
                      created_at=now, modified_at=now, entity_tag=new_tag())
    return insert(session, row, kind=KIND, journal=journal,
                  conflict=lambda: taken("an access group", name))


def get_group(session: Session, *, account_id: str, group_id: str) -> AccessGroup:
    return get_in_account(session, AccessGroup, group_id, account_id=account_id, kind=KIND)


def list_groups(session: Session, *, account_id: str, limit: int,
                start: str | None, member: str | None = None) -> Paged[AccessGroup]:
    """The account's groups, or those `member` (an iam_id) belongs to."""
    query = select(AccessGroup).where(AccessGroup.account_id == account_id)
    if member is not None:
        query = query.where(col(AccessGroup.id).in_(
            select(GroupMember.group_id).where(GroupMember.iam_id == member,
                                               GroupMember.account_id == account_id)))
    return page(session, query, key=col(AccessGroup.id), limit=limit, start=start)


def update_group(session: Session, *, journal: ChangeJournal, account_id: str, group_id: str,
                 if_match: str | None, name: str | None,
                 description: str | None) -> AccessGroup:
    row = get_group(session, account_id=account_id, group_id=group_id)
    values = renamed(name, description)
    guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND, values=values,
                   conflict=lambda: taken("an access group", values.get("name")))
    return row


def delete_group(session: Session, *, journal: ChangeJournal, account_id: str,
                 group_id: str) -> None:
    """Delete the group with its memberships and its policies."""
    row = get_group(session, account_id=account_id, group_id=group_id)
    delete_journalled(session, GroupMember, col(GroupMember.group_id) == row.id, kind=MEMBER,
                      journal=journal)
    delete_journalled(session, Policy, col(Policy.subject_group_id) == row.id, kind="policy",
                      journal=journal)
    delete_row(session, row, kind=KIND, journal=journal)


def identity_exists(session: Session, *, account_id: str, iam_id: str) -> bool:
    if iam_id.startswith("iam-ServiceId-"):
        query = select(ServiceId.iam_id).where(ServiceId.iam_id == iam_id,
                                                ServiceId.account_id == account_id)
    elif iam_id.startswith("iam-User-"):
        query = select(User.iam_id).where(User.iam_id == iam_id, User.account_id == account_id)
    elif iam_id.startswith("iam-Profile-"):
        query = select(TrustedProfile.iam_id).where(TrustedProfile.iam_id == iam_id,
                                                    TrustedProfile.account_id == account_id)
    else:
        return False
    return session.exec(query).first() is not None


def add_member(session: Session, *, journal: ChangeJournal, account_id: str, group_id: str,
               iam_id: str) -> GroupMember:
    group = get_group(session, account_id=account_id, group_id=group_id)
    if not iam_id.startswith(("iam-ServiceId-", "iam-User-", "iam-Profile-")):
        raise InvalidInput("members are users, service IDs and trusted profiles (their "
                           "iam_id); a group cannot contain a group", target="iam_id")
    if not identity_exists(session, account_id=account_id, iam_id=iam_id):
        raise NotFound(f"identity {iam_id} not found", target="iam_id")
    if session.get(GroupMember, (group.id, iam_id)) is not None:
        raise _already_member(iam_id)
    row = GroupMember(group_id=group.id, iam_id=iam_id, account_id=account_id,
                      created_at=utcnow())
    return insert(session, row, kind=MEMBER, journal=journal,
                  conflict=lambda: _already_member(iam_id))


def _already_member(iam_id: str) -> Conflict:
    return Conflict(f"{iam_id} is already a member of this group", target="iam_id")


def remove_member(session: Session, *, journal: ChangeJournal, account_id: str, group_id: str,
                  iam_id: str) -> None:
    group = get_group(session, account_id=account_id, group_id=group_id)
    row = session.get(GroupMember, (group.id, iam_id))
    if row is None:
        raise NotFound(f"{iam_id} is not a member of this group", target="iam_id")
    delete_row(session, row, kind=MEMBER, journal=journal)


def list_members(session: Session, *, account_id: str, group_id: str, limit: int,
                 start: str | None) -> Paged[GroupMember]:
    """The group's members, `limit` at a time in iam_id order after the cursor `start`."""
    group = get_group(session, account_id=account_id, group_id=group_id)
    query = select(GroupMember).where(GroupMember.group_id == group.id)
    return page(session, query, key=col(GroupMember.iam_id), limit=limit, start=start)
