"""Namespaces: the first component of a repository name, held by one account per region.

One registry serves every account, so a name is unique per region across all accounts;
taking a name another account holds is a Conflict that never says which account holds it.
"""

from __future__ import annotations

import re

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from iam.errors import Conflict, InvalidInput, NotFound
from iam.models import Namespace, new_id, utcnow

KIND = "namespace"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{3,29}", re.ASCII)
_REGION = re.compile(r"([a-z0-9][a-z0-9-]{0,63})?", re.ASCII)


def check_name(name: str) -> str:
    """IBM's rule: 4-30 characters, lowercase ASCII letters, digits, '-' and '_', starting
    with a letter or digit."""
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            "a namespace name has 4 to 30 characters: lowercase letters a-z, digits, '-' and "
            "'_', starting with a letter or digit", target="name")
    return name


def check_region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise InvalidInput("a region is lowercase letters, digits and '-' (e.g. us-south)",
                           target="region")
    return region


def create_namespace(session: Session, *, account_id: str, region: str,
                     name: str) -> tuple[Namespace, bool]:
    """The namespace and whether it was created (False: the account already holds it)."""
    check_name(name)
    check_region(region)
    existing = session.exec(select(Namespace).where(Namespace.region == region,
                                                    Namespace.name == name)).first()
    if existing is not None:
        if existing.account_id == account_id:
            return existing, False
        raise _taken(name)
    row = Namespace(id=new_id("Namespace"), account_id=account_id, region=region, name=name,
                    created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        raise _taken(name) from None
    return row, True


def _taken(name: str) -> Conflict:
    return Conflict(f"the namespace name {name} is already taken in this region; choose "
                    "another", target="name")


def list_namespaces(session: Session, *, account_id: str,
                    region: str | None = None) -> list[Namespace]:
    query = select(Namespace).where(Namespace.account_id == account_id)
    if region is not None:
        query = query.where(Namespace.region == check_region(region))
    return list(session.exec(query.order_by(Namespace.region, Namespace.name)).all())


def find_in_account(session: Session, *, account_id: str, name: str,
                    region: str | None = None) -> list[Namespace]:
    """The account's namespaces of that name: in one region, or in every region (None)."""
    query = select(Namespace).where(Namespace.name == name, Namespace.account_id == account_id)
    if region is not None:
        query = query.where(Namespace.region == region)
    return list(session.exec(query).all())


def get_namespace(session: Session, *, account_id: str, region: str, name: str) -> Namespace:
    rows = find_in_account(session, account_id=account_id, name=name, region=region)
    if not rows:
        raise NotFound(f"namespace {name} not found", target=KIND)
    return rows[0]


def delete_namespace(session: Session, *, account_id: str, region: str, name: str) -> None:
    """Delete it; policies naming it stay and apply again if the account re-creates it."""
    row = get_namespace(session, account_id=account_id, region=region, name=name)
    session.delete(row)
    session.flush()
