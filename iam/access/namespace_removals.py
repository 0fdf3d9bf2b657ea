"""Namespace removals in progress: the records, their leases and how one ends.

Deleting a namespace marks it `deleting` (authorization then withholds push from it) and
records its removal, keyed like its name (region, name key). The images are removed from
the registries elsewhere (`iam.registry.namespace_removal`); here is only the state:

- a removal is run by one process at a time: it holds a lease (`claim`, `renew`) that a
  conditional update gives to one claimer only, whatever the number of replicas;
- each attempt is recorded (`record_attempt`): an error and when to try again, or the
  time every registry was found empty;
- it ends (`complete`) by deleting the namespace and either releasing its name (no row left
  in `namespace_names`: any account may take it) or, when some registry could not be
  emptied for good, keeping the name reserved to its account, as before removals existed.

The operator's release of such a reservation is a removal too (`start_release`, no
namespace), so a released name never carries images of its old owner.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, update
from sqlmodel import Session, col, select

from iam.access.authz import DELETING
from iam.errors import NotFound
from iam.store.journal import ChangeJournal
from iam.store.models import Namespace, NamespaceName, NamespaceRemoval

KIND = "namespace removal"
ACTIVE = "active"
#: how a removal ended
RELEASED = "released"
RESERVED = "reserved"

Key = tuple[str, str]  # (region, name key)


def key_of(removal: NamespaceRemoval) -> Key:
    return removal.region, removal.name_key


def get(session: Session, key: Key) -> NamespaceRemoval | None:
    return session.get(NamespaceRemoval, key, populate_existing=True)


def of_account(session: Session, *, account_id: str) -> dict[Key, NamespaceRemoval]:
    rows = session.exec(select(NamespaceRemoval).where(
        NamespaceRemoval.account_id == account_id)).all()
    return {key_of(r): r for r in rows}


def _lease(removal: NamespaceRemoval, holder: str, now: datetime, seconds: float) -> None:
    removal.lease_holder = holder
    removal.lease_until = now + timedelta(seconds=seconds)


def _recorded(session: Session, journal: ChangeJournal, removal: NamespaceRemoval,
              holder: str, now: datetime, lease_seconds: float) -> NamespaceRemoval:
    """A new removal, leased to `holder` for its first attempt, written and journalled."""
    _lease(removal, holder, now, lease_seconds)
    session.add(removal)
    session.flush()
    journal.created(removal, kind=KIND)
    return removal


def start(session: Session, *, journal: ChangeJournal, namespace: Namespace, started_by: str,
          now: datetime, release_after: datetime, holder: str,
          lease_seconds: float) -> tuple[NamespaceRemoval, bool]:
    """Mark the namespace deleting and record its removal, leased to `holder` so that it
    runs its first attempt at once; (the removal, True). A namespace already deleting:
    (its removal, False), unchanged."""
    if namespace.state == DELETING:
        existing = get(session, (namespace.region, namespace.name_key))
        if existing is not None:
            return existing, False
    with journal.updating(namespace, kind="namespace"):
        namespace.state = DELETING
        session.add(namespace)
        session.flush()
    removal = NamespaceRemoval(
        region=namespace.region, name_key=namespace.name_key, name=namespace.name,
        account_id=namespace.account_id, namespace_id=namespace.id, started_by=started_by,
        started_at=now, release_after=release_after, next_attempt_at=now)
    return _recorded(session, journal, removal, holder, now, lease_seconds), True


def start_release(session: Session, *, journal: ChangeJournal, reservation: NamespaceName,
                  started_by: str, now: datetime, release_after: datetime, holder: str,
                  lease_seconds: float) -> tuple[NamespaceRemoval, bool]:
    """The removal that releases a reserved name: whatever its deleted namespace left in
    the registries goes first. (the removal, whether it was started now)"""
    existing = get(session, (reservation.region, reservation.name_key))
    if existing is not None:
        return existing, False
    # Lock the name's row, still reserved: its account re-adding it meanwhile waits for
    # this to commit, then finds the removal (iam.access.namespaces.create_namespace).
    held = session.execute(
        update(NamespaceName)
        .where(col(NamespaceName.region) == reservation.region,
               col(NamespaceName.name_key) == reservation.name_key,
               col(NamespaceName.deleted_at).is_not(None))
        .values(deleted_at=col(NamespaceName.deleted_at)))
    if held.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"no reservation of the namespace name {reservation.name} in this "
                       "region", target="namespace reservation")
    removal = NamespaceRemoval(
        region=reservation.region, name_key=reservation.name_key, name=reservation.name,
        account_id=reservation.account_id, namespace_id=None, started_by=started_by,
        started_at=now, release_after=release_after, next_attempt_at=now)
    return _recorded(session, journal, removal, holder, now, lease_seconds), True


def due(session: Session, *, now: datetime, limit: int = 20) -> list[Key]:
    """Removals whose next attempt is due and whose lease is free, oldest first."""
    rows = session.exec(
        select(NamespaceRemoval.region, NamespaceRemoval.name_key)
        .where(col(NamespaceRemoval.next_attempt_at) <= now,
               or_(col(NamespaceRemoval.lease_until).is_(None),
                   col(NamespaceRemoval.lease_until) < now))
        .order_by(col(NamespaceRemoval.next_attempt_at)).limit(limit)).all()
    return [(region, key) for region, key in rows]


def claim(session: Session, key: Key, *, holder: str, now: datetime,
          lease_seconds: float) -> NamespaceRemoval | None:
    """Take the removal's lease if it is free (or already ours): the removal, or None when
    another process holds it or it is gone. One conditional update: of several claimers,
    the database lets exactly one through."""
    taken = session.execute(
        update(NamespaceRemoval)
        .where(col(NamespaceRemoval.region) == key[0],
               col(NamespaceRemoval.name_key) == key[1],
               or_(col(NamespaceRemoval.lease_until).is_(None),
                   col(NamespaceRemoval.lease_until) < now,
                   col(NamespaceRemoval.lease_holder) == holder))
        .values(lease_holder=holder, lease_until=now + timedelta(seconds=lease_seconds)))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return get(session, key)


def renew(session: Session, key: Key, *, holder: str, now: datetime,
          lease_seconds: float) -> bool:
    """Extend our lease; False if it is no longer ours (it expired and was taken)."""
    kept = session.execute(
        update(NamespaceRemoval)
        .where(col(NamespaceRemoval.region) == key[0],
               col(NamespaceRemoval.name_key) == key[1],
               col(NamespaceRemoval.lease_holder) == holder)
        .values(lease_until=now + timedelta(seconds=lease_seconds)))
    return bool(kept.rowcount == 1)  # type: ignore[attr-defined]


def record_attempt(session: Session, key: Key, *, holder: str, error: str,
                   confirmed_at: datetime | None, next_attempt_at: datetime) -> bool:
    """After an attempt: its error ("" when none), the time the registries were all found
    empty (None: they were not), when to try next; the lease is given back. False when the
    lease was no longer ours (nothing is written then)."""
    values: dict[str, object] = {
        "last_error": error[:1024], "next_attempt_at": next_attempt_at,
        "lease_holder": "", "lease_until": None,
        "attempts": col(NamespaceRemoval.attempts) + 1}
    if confirmed_at is not None:
        values["confirmed_at"] = confirmed_at
    done = session.execute(
        update(NamespaceRemoval)
        .where(col(NamespaceRemoval.region) == key[0],
               col(NamespaceRemoval.name_key) == key[1],
               col(NamespaceRemoval.lease_holder) == holder)
        .values(**values))
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def complete(session: Session, key: Key, *, journal: ChangeJournal, holder: str,
             now: datetime, reserve: bool) -> str | None:
    """End the removal we hold: the namespace goes, its name is released (or, `reserve`,
    kept reserved to its account). RELEASED or RESERVED; None when the lease was no longer
    ours (nothing changes then)."""
    removal = get(session, key)
    if removal is None or removal.lease_holder != holder:
        return None
    region, name_key = key
    if removal.namespace_id is not None:
        namespace = session.get(Namespace, removal.namespace_id)
        if namespace is not None:
            journal.deleted(namespace, kind="namespace")
            session.execute(delete(Namespace).where(col(Namespace.id) == namespace.id))
    name = session.get(NamespaceName, key, populate_existing=True)
    outcome = RELEASED
    if name is not None and name.account_id == removal.account_id:
        if reserve:
            with journal.updating(name, kind="namespace reservation"):
                name.deleted_at = name.deleted_at or now
                session.add(name)
            outcome = RESERVED
        else:
            journal.deleted(name, kind="namespace name")
            session.execute(delete(NamespaceName).where(
                col(NamespaceName.region) == region, col(NamespaceName.name_key) == name_key))
    journal.deleted(removal, kind=KIND)
    session.execute(delete(NamespaceRemoval).where(
        col(NamespaceRemoval.region) == region, col(NamespaceRemoval.name_key) == name_key))
    session.flush()
    return outcome
