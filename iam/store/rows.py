"""Small data helpers shared by the entity modules: account-scoped reads, guarded updates."""

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
from iam.store.models import ApiKey, GroupMember, Policy, new_tag, utcnow

M = TypeVar("M", bound=SQLModel)


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


def insert_unique(session: Session, row: M, conflict: Callable[[], Conflict]) -> M:
    """Insert `row`; a unique index refusing it is `conflict()`."""
    with unique_or(conflict, session):
        session.add(row)
    return row


def guarded_update(session: Session, row: SQLModel, *, if_match: str | None, kind: str,
                   values: dict[str, Any], key_column: str = "id",
                   respect_lock: bool = True) -> None:
    """Apply `values` only if the row still carries the tag the caller read (no lost update)."""
    if if_match is None:
        raise PreconditionRequired(f"updating a {kind} needs an If-Match header with its "
                                   "entity_tag")
    if respect_lock and getattr(row, "locked", False):
        raise LockedEntity(f"{kind} is locked; unlock it first", target=kind)
    model = type(row)
    key = getattr(row, key_column)
    values = {**values, "modified_at": utcnow(), "entity_tag": new_tag()}
    result = session.execute(
        update(model)
        .where(getattr(model, key_column) == key, model.entity_tag == if_match.strip('"'))  # type: ignore[attr-defined]
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise PreconditionFailed(f"{kind} was changed since it was read; fetch it again and "
                                 "retry with its new entity_tag")
    for field, value in values.items():
        set_committed_value(row, field, value)


class Paged(NamedTuple, Generic[M]):
    """One page: its rows, how many rows the whole list has, the cursor of the next page
    (None on the last one)."""

    rows: list[M]
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


def page_of(rows: Sequence[M], *, key: Callable[[M], str], limit: int,
            start: str | None) -> Paged[M]:
    """`page` for rows already read and filtered in Python (a visibility rule SQL cannot
    express); `rows` must be in `key` order."""
    after = [r for r in rows if not start or key(r) > start]
    more = len(after) > limit
    return Paged(after[:limit], len(rows), key(after[limit - 1]) if more else None)


def delete_identity_dependents(session: Session, iam_id: str) -> None:
    """An identity's API keys, group memberships and policies die with it."""
    session.execute(delete(ApiKey).where(col(ApiKey.iam_id) == iam_id))
    session.execute(delete(GroupMember).where(col(GroupMember.iam_id) == iam_id))
    session.execute(delete(Policy).where(col(Policy.subject_iam_id) == iam_id))
