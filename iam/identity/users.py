"""Users: human identities with a password, unique by name within their account.

Unique by the name's key (`iam.names.name_key`): `RTAlice` or its full-width form cannot be
created beside `rtalice`, and log in as `rtalice` (`iam.identity.authn`).
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from iam.errors import Forbidden, InvalidInput
from iam.identity import passwords
from iam.names import clean_name, name_key, renamed, taken
from iam.store import rows
from iam.store.journal import ChangeJournal
from iam.store.models import User, new_tag, utcnow

KIND = "user"
CHANGE_OWN_PASSWORD = "iam-identity.user.password"  # noqa: S105 (an action name, in a 403)


def _checked_password(password: str) -> str:
    problem = passwords.check_strength(password)
    if problem:
        raise InvalidInput(problem, target="password")
    return passwords.hash_password(password)


def _checked_name(name: str) -> str:
    name = clean_name(name)
    if "@" in name_key(name):  # the key too: U+FF20 (full-width @) reads as one
        raise InvalidInput("name must not contain '@' (it separates name and account at login)",
                           target="name")
    return name


def create_user(session: Session, *, journal: ChangeJournal, account_id: str, name: str,
                password: str) -> User:
    name = _checked_name(name)
    now = utcnow()
    row = User(
        iam_id=f"iam-User-{uuid.uuid4()}", account_id=account_id, name=name,
        name_key=name_key(name), password_hash=_checked_password(password), created_at=now,
        modified_at=now, password_changed_at=now, entity_tag=new_tag(),
    )
    return rows.insert(session, row, kind=KIND, journal=journal,
                       conflict=lambda: taken("a user", name))


def get_user(session: Session, *, account_id: str, iam_id: str) -> User:
    return rows.get_in_account(session, User, iam_id, account_id=account_id, kind=KIND,
                               key_column="iam_id")


def list_users(session: Session, *, account_id: str, limit: int,
               start: str | None) -> rows.Paged[User]:
    query = select(User).where(User.account_id == account_id)
    return rows.page(session, query, key=col(User.iam_id), limit=limit, start=start)


def update_user(session: Session, *, journal: ChangeJournal, account_id: str, iam_id: str,
                if_match: str | None, name: str | None) -> User:
    row = get_user(session, account_id=account_id, iam_id=iam_id)
    values = renamed(name, clean=_checked_name)
    rows.guarded_update(session, row, journal=journal, if_match=if_match, kind=KIND,
                        values=values, key_column="iam_id",
                        conflict=lambda: taken("a user", values.get("name")))
    return row


def set_locked(session: Session, *, journal: ChangeJournal, account_id: str, iam_id: str,
               locked: bool) -> User:
    """Lock (protect from renaming and deletion; the user still signs in and its keys
    work) or unlock."""
    row = get_user(session, account_id=account_id, iam_id=iam_id)
    rows.change(session, row, kind=KIND, journal=journal, values={"locked": locked})
    return row


def set_password(session: Session, *, journal: ChangeJournal, account_id: str, iam_id: str,
                 password: str) -> User:
    """A new password set by an administrator; refresh tokens bound to the old one stop
    working (they carry its fingerprint)."""
    row = get_user(session, account_id=account_id, iam_id=iam_id)
    return _replace_password(session, journal, row, password)


def change_own_password(session: Session, *, journal: ChangeJournal, account_id: str,
                        iam_id: str, current_password: str | None, password: str) -> User:
    """A user's own change needs the current password: a stolen access token alone must
    not become a permanent login."""
    if not current_password:
        raise InvalidInput("current_password is needed to change one's own password",
                           target="current_password")
    row = get_user(session, account_id=account_id, iam_id=iam_id)
    if not passwords.verify_password(current_password, row.password_hash):
        raise Forbidden(CHANGE_OWN_PASSWORD, "current_password is not the current password")
    return _replace_password(session, journal, row, password)


def _replace_password(session: Session, journal: ChangeJournal, row: User,
                      password: str) -> User:
    password_hash = _checked_password(password)
    now = utcnow()
    rows.change(session, row, kind=KIND, journal=journal, values={
        "password_hash": password_hash, "password_changed_at": now, "modified_at": now})
    return row


def delete_user(session: Session, *, journal: ChangeJournal, account_id: str,
                iam_id: str) -> User:
    row = get_user(session, account_id=account_id, iam_id=iam_id)
    rows.require_unlocked(row, kind=KIND, doing="deleting")
    rows.delete_identity_dependents(session, row.iam_id, journal=journal)
    rows.delete_row(session, row, kind=KIND, journal=journal)
    return row
