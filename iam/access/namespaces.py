"""Namespaces: the first component of a repository name, held by one account per region.

One registry serves every account, so a name is unique per region across all accounts;
taking a name another account holds is a Conflict that never says which account holds it.

Who holds a name is one `namespace_names` row keyed by (region, name key): every create
claims that row first, so the database decides races. Deleting a namespace is a removal
(`iam.access.namespace_removals`, run by `iam.registry.namespace_removal`): the namespace is
`deleting` (no create of that name succeeds meanwhile, whoever asks) until its images are
gone from every registry of its region; then its name is released. A name stays *reserved*
to its account (`deleted_at` set: the account may add it again, any other gets a Conflict)
only when its images could not be removed for good (a registry whose URL is unknown), or
for namespaces deleted before removals existed; the operator's release of a reservation is
a removal as well.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, tuple_, update
from sqlalchemy import select as select_columns
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from iam.access import namespace_removals
from iam.access.authz import DELETING
from iam.errors import Conflict, InvalidInput, NotFound
from iam.names import name_key
from iam.store.journal import ChangeJournal
from iam.store.models import Namespace, NamespaceName, new_id, utcnow
from iam.store.rows import Paged, insert, page_of

KIND = "namespace"
RESERVATION = "namespace reservation"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{3,29}", re.ASCII)
_REGION = re.compile(r"([a-z0-9][a-z0-9-]{0,63})?", re.ASCII)


def check_name(name: str) -> str:
    """IBM's rule: 4-30 characters, lowercase ASCII letters, digits, '-' and '_', starting
    with a letter or digit."""
    if not _NAME.fullmatch(name):
        key = name_key(name)
        hint = f" (did you mean {key}?)" if _NAME.fullmatch(key) else ""
        raise InvalidInput(
            "a namespace name has 4 to 30 characters: lowercase letters a-z, digits, '-' and "
            f"'_', starting with a letter or digit{hint}", target="name")
    return name


def check_region(region: str) -> str:
    if not _REGION.fullmatch(region):
        raise InvalidInput("a region is lowercase letters, digits and '-' (e.g. us-south)",
                           target="region")
    return region


def create_namespace(session: Session, *, journal: ChangeJournal, account_id: str, region: str,
                     name: str) -> tuple[Namespace, bool]:
    """The namespace and whether it was created (False: the account already holds it)."""
    check_name(name)
    check_region(region)
    key = name_key(name)
    _claim(session, account_id=account_id, region=region, key=key, name=name)
    # After the claim, which waits for a removal starting beside it to commit: a name
    # being removed is nobody's to take, not even its own account's.
    if namespace_removals.get(session, (region, key)) is not None:
        raise _being_deleted(name)
    existing = session.exec(select(Namespace).where(Namespace.region == region,
                                                    Namespace.name_key == key)).first()
    if existing is not None:
        if existing.account_id == account_id:
            if existing.state == DELETING:
                raise _being_deleted(name)
            return existing, False
        raise _taken(name)  # a namespace without a claim (seeded by SQL): still not ours
    row = Namespace(id=new_id("Namespace"), account_id=account_id, region=region, name=name,
                    name_key=key, created_at=utcnow())
    return insert(session, row, kind=KIND, journal=journal, conflict=lambda: _taken(name)), True


def _claim(session: Session, *, account_id: str, region: str, key: str, name: str) -> None:
    """Hold the name for the account (live again if it was reserved to it), or Conflict."""
    for _ in range(2):  # a claim released or taken between our two statements: look again
        mine = session.execute(
            update(NamespaceName)
            .where(col(NamespaceName.region) == region, col(NamespaceName.name_key) == key,
                   col(NamespaceName.account_id) == account_id)
            .values(deleted_at=None))
        if mine.rowcount == 1:  # type: ignore[attr-defined]
            return
        try:
            with session.begin_nested():
                session.add(NamespaceName(region=region, name_key=key, name=name,
                                          account_id=account_id, deleted_at=None))
                session.flush()
            return
        except IntegrityError:
            pass
        holder = session.get(NamespaceName, (region, key), populate_existing=True)
        if holder is not None and holder.account_id != account_id:
            if namespace_removals.get(session, (region, key)) is not None:
                raise _being_deleted(name)
            if holder.deleted_at is not None:
                raise Conflict(f"the namespace name {name} is reserved in this region (it "
                               "belonged to a deleted namespace); choose another",
                               target="name")
            raise _taken(name)
    raise _taken(name)


def _being_deleted(name: str) -> Conflict:
    return Conflict(f"the namespace {name} is being deleted in this region: its images are "
                    "being removed from the registries, and the name can be taken only once "
                    "that is complete (iam namespace-list shows its state)", target="name")


def _taken(name: str) -> Conflict:
    return Conflict(f"the namespace name {name} is already taken in this region; choose "
                    "another", target="name")


class NamespaceRow(NamedTuple):
    """A namespace as lists read it: its public fields and name key as plain values. A list
    of a thousand namespaces is a thousand tuples, not a thousand model objects (whose
    construction was half of the namespaces page's time, BENCHMARKS.md)."""

    region: str
    name: str
    name_key: str
    account_id: str
    state: str
    created_at: datetime


_ROW = (col(Namespace.region), col(Namespace.name), col(Namespace.name_key),
        col(Namespace.account_id), col(Namespace.state), col(Namespace.created_at))


def list_namespaces(session: Session, *, account_id: str, region: str | None = None,
                    name: str | None = None) -> list[NamespaceRow]:
    """The account's namespaces (of `region`, and of that `name`, when given), in (region,
    name) order."""
    query = select_columns(*_ROW).where(col(Namespace.account_id) == account_id)
    if region is not None:
        query = query.where(col(Namespace.region) == check_region(region))
    if name is not None:
        query = query.where(col(Namespace.name) == name)
    ordered = query.order_by(col(Namespace.region), col(Namespace.name))
    return [NamespaceRow(*values) for values in session.execute(ordered).all()]


def position(row: NamespaceRow) -> str:
    """Where a namespace stands in a paged list, and the cursor after it: `region,name`.
    ',' sorts before every character of a region or a name, so these strings sort as the
    (region, name) pairs do, and the same on every backend (compared here, not in SQL)."""
    return f"{row.region},{row.name}"


def page_namespaces(found: Sequence[NamespaceRow], *, limit: int,
                    start: str | None) -> Paged[NamespaceRow]:
    """`limit` of `found` after the cursor `start` (a previous page's next cursor)."""
    return page_of(sorted(found, key=position), key=position, limit=limit, start=start)


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


def list_reservations(session: Session, *, account_id: str | None, limit: int,
                      start: str | None) -> Paged[NamespaceName]:
    """Reserved names (of one account, or of all: None), `limit` at a time in (region, name)
    order after the cursor `start`; the rows, their total and the next cursor."""
    query = select(NamespaceName).where(col(NamespaceName.deleted_at).is_not(None))
    if account_id is not None:
        query = query.where(NamespaceName.account_id == account_id)
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    if start:
        region, _, key = start.partition("/")
        query = query.where(tuple_(col(NamespaceName.region), col(NamespaceName.name_key))
                            > tuple_(region, key))
    rows = list(session.exec(query.order_by(col(NamespaceName.region),
                                            col(NamespaceName.name_key)).limit(limit)).all())
    after = f"{rows[-1].region}/{rows[-1].name_key}" if len(rows) == limit else None
    return Paged(rows, int(count), after)


def get_reservation(session: Session, *, region: str, name: str) -> NamespaceName:
    """A reserved name (of a deleted namespace), or NotFound."""
    check_region(region)
    check_name(name)
    row = session.get(NamespaceName, (region, name_key(name)), populate_existing=True)
    if row is None or row.deleted_at is None:
        raise NotFound(f"no reservation of the namespace name {name} in this region",
                       target=RESERVATION)
    return row


def reserved(session: Session, key: tuple[str, str]) -> bool:
    """Is the name (region, name key) reserved to the account of a deleted namespace?"""
    row = session.get(NamespaceName, key, populate_existing=True)
    return row is not None and row.deleted_at is not None


def reserved_at(row: NamespaceName) -> datetime:
    """When the reserved name's namespace was deleted."""
    assert row.deleted_at is not None
    return row.deleted_at
