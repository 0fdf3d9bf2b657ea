"""Small data helpers shared by the entity modules: account-scoped reads, and writes that
each record their change in the caller's journal (`iam.store.journal`): insert, guarded
update, change without If-Match, delete."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, NamedTuple, TypeVar

from sqlalchemy import delete, func, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from iam.errors import Conflict, LockedEntity, NotFound, PreconditionFailed, PreconditionRequired
from iam.names import name_key
from iam.store.journal import ChangeJournal, Recorded
from iam.store.models import ApiKey, GroupMember, Policy, new_tag, utcnow

M = TypeVar("M", bound=SQLModel)
R = TypeVar("R", bound=Recorded)
T = TypeVar("T")


def get_in_account(session: Session, model: type[M], key: str, *, account_id: str,
                   kind: str, key_column: str = "id") -> M:
    """The entity, or NotFound when absent *or in another account* (never say which)."""
    if "\x00" in key:  # cannot exist, and PostgreSQL refuses to search for it
        raise NotFound(f"{kind} {key} not found", target=kind)
    column = getattr(model, key_column)
    row = session.exec(
        select(model).where(column == key, model.account_id == account_id)  # type: ignore[attr-defined]
    ).first()
    if row is None:
        raise NotFound(f"{kind} {key} not found", target=kind)
    return row


@contextmanager
def unique_or(conflict: Callable[[], Conflict], session: Session) -> Iterator[None]:
    """Run the writes inside in a savepoint; a unique index refusing them is `conflict()`,
    and the rest of the transaction goes on (the database, not a prior read, decides)."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError:
        raise conflict() from None


def insert(session: Session, row: R, *, kind: str, journal: ChangeJournal,
           conflict: Callable[[], Conflict] | None = None, secrets: tuple[str, ...] = ()) -> R:
    """Insert `row` and record it; a unique index refusing it is `conflict()`. `secrets`:
    see `ChangeJournal.created`."""
    if conflict is None:
        session.add(row)
        session.flush()
    else:
        with unique_or(conflict, session):
            session.add(row)
    journal.created(row, kind=kind, secrets=secrets)
    return row


def guarded_update(session: Session, row: Recorded, *, journal: ChangeJournal,
                   if_match: str | None, kind: str, values: dict[str, Any],
                   key_column: str = "id", respect_lock: bool = True,
                   conflict: Callable[[], Conflict] | None = None) -> None:
    """Apply `values` only if the row still carries the tag the caller read (no lost
    update), and record it; a unique index refusing them is `conflict()`."""
    if if_match is None:
        raise PreconditionRequired(f"updating a {kind} needs an If-Match header with its "
                                   "entity_tag")
    if respect_lock and getattr(row, "locked", False):
        raise LockedEntity(f"{kind} is locked; unlock it first", target=kind)
    model: Any = type(row)
    key = getattr(row, key_column)
    values = {**values, "modified_at": utcnow(), "entity_tag": new_tag()}
    statement = (update(model)
                 .where(getattr(model, key_column) == key,
                        model.entity_tag == if_match.strip('"'))
                 .values(**values))
    with journal.updating(row, kind=kind):  # before the UPDATE, which refreshes the row
        if conflict is None:
            result = session.execute(statement)
        else:
            with unique_or(conflict, session):
                result = session.execute(statement)
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise PreconditionFailed(f"{kind} was changed since it was read; fetch it again "
                                     "and retry with its new entity_tag")
        for field, value in values.items():
            set_committed_value(row, field, value)


def change(session: Session, row: Recorded, *, kind: str, journal: ChangeJournal,
           values: dict[str, Any]) -> None:
    """Set `values`, with a new `modified_at` and `entity_tag`, unless the row holds them
    already; no If-Match (a flag, a password: the new value does not depend on the old)."""
    if all(getattr(row, name) == value for name, value in values.items()):
        return
    with journal.updating(row, kind=kind):
        for name, value in {"modified_at": utcnow(), **values, "entity_tag": new_tag()}.items():
            setattr(row, name, value)
        session.add(row)
        session.flush()


def require_unlocked(row: Any, *, kind: str, doing: str) -> None:
    """LockedEntity unless the row is unlocked (`doing`: "deleting", "disabling"...)."""
    if row.locked:
        raise LockedEntity(f"{kind} is locked; unlock it before {doing} it", target=kind)


def delete_row(session: Session, row: Recorded, *, kind: str, journal: ChangeJournal) -> None:
    journal.deleted(row, kind=kind)
    session.delete(row)
    session.flush()


class Paged(NamedTuple, Generic[T]):
    """One page: its rows, how many rows the whole list has, the cursor of the next page
    (None on the last one)."""

    rows: list[T]
    total: int
    next_start: str | None


def page(session: Session, query: SelectOfScalar[M], *, key: Any, limit: int,
         start: str | None) -> Paged[M]:
    """One page of `query` in `key` order after the cursor `start`, and the total count.

    `query` must already hold every visibility condition: the count and the cursor describe
    exactly its rows. One row more than asked is read, so a full last page says it is last.
    """
    count = session.exec(select(func.count()).select_from(query.subquery())).one()
    if start:
        query = query.where(key > start)
    rows = list(session.exec(query.order_by(key).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return Paged(rows, int(count), str(getattr(rows[-1], key.key)) if more else None)


def page_in_account(session: Session, model: type[M], *, account_id: str, limit: int,
                    start: str | None, name: str | None = None) -> Paged[M]:
    """`page` of an account's named entities (id order), only the one of that name when
    `name` is given, compared by its key: `CI-Robot` finds `ci-robot`."""
    columns = model.__table__.c  # type: ignore[attr-defined]
    query = select(model).where(columns.account_id == account_id)
    if name is not None:
        if "\x00" in name:  # no name holds it, and PostgreSQL refuses to search for it
            return Paged([], 0, None)
        query = query.where(columns.name_key == name_key(name.strip()))
    return page(session, query, key=columns.id, limit=limit, start=start)


def page_of(rows: Sequence[T], *, key: Callable[[T], str], limit: int,
            start: str | None) -> Paged[T]:
    """`page` for rows already read and filtered in Python (a visibility rule SQL cannot
    express); `rows` must be in `key` order."""
    after = [r for r in rows if not start or key(r) > start]
    more = len(after) > limit
    return Paged(after[:limit], len(rows), key(after[limit - 1]) if more else None)


def delete_journalled(session: Session, model: type[Recorded], where: Any, *, kind: str,
                      journal: ChangeJournal) -> None:
    """Delete the rows of `model` that `where` selects, each in the journal: the audit event
    of what took them with it names every one (a key, a policy), not only the deleted
    identity or group."""
    for row in session.exec(select(model).where(where)).all():
        journal.deleted(row, kind=kind)
    session.execute(delete(model).where(where))


def delete_identity_dependents(session: Session, iam_id: str, *,
                               journal: ChangeJournal) -> None:
    """An identity's API keys, group memberships and policies die with it."""
    delete_journalled(session, ApiKey, col(ApiKey.iam_id) == iam_id, kind="API key",
                      journal=journal)
    delete_journalled(session, GroupMember, col(GroupMember.iam_id) == iam_id,
                      kind="group member", journal=journal)
    delete_journalled(session, Policy, col(Policy.subject_iam_id) == iam_id, kind="policy",
                      journal=journal)
