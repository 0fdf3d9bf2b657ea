"""The change journal: what one unit of work created, changed and deleted.

Every write helper of `iam.store.rows`, and so every domain function that changes an entity,
takes one (the keyword `journal`, never optional) and records the change it makes: the
entity's kind and its public fields before and after (`PUBLIC` on each table model: never a
key digest nor a password hash). The journal knows nothing of who asked or how: the api
layer keeps one per admin call and turns it into that call's audit event when the call ends;
`iam init` keeps its own and drops it. A change counts only if its transaction commits.

A function made of others (an account with its owner and its first key) records its own
change after theirs, so the last change is the one the unit of work made and the earlier
ones are its parts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

Fields = dict[str, Any]
REDACTED = "***"


class Recorded(Protocol):
    """A table model whose changes are journaled: it names the fields anyone may see."""

    PUBLIC: ClassVar[tuple[str, ...]]


def public_fields(row: Recorded) -> Fields:
    """A copy of the row's public fields (datetimes in ISO 8601): later changes don't show."""
    values: Fields = {}
    for name in row.PUBLIC:
        value = getattr(row, name)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


@dataclass(frozen=True)
class Change:
    """One entity created (no `before`), changed, or deleted (no `after`); or a fact that
    is no entity (an explained decision: `after` only)."""

    kind: str
    before: Fields | None = None
    after: Fields | None = None

    def states(self) -> Fields:
        return {k: v for k, v in (("before", self.before), ("after", self.after))
                if v is not None}


class ChangeJournal:
    def __init__(self) -> None:
        self._changes: list[Change] = []

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(self._changes)

    def record(self, kind: str, *, before: Fields | None = None,
               after: Fields | None = None) -> None:
        self._changes.append(Change(kind, before, after))

    def created(self, row: Recorded, *, kind: str, secrets: tuple[str, ...] = ()) -> None:
        """`secrets`: what was made beside the row and shown once (an API key's value),
        named with its value replaced by `***`."""
        self.record(kind, after={**public_fields(row), **dict.fromkeys(secrets, REDACTED)})

    def deleted(self, row: Recorded, *, kind: str) -> None:
        self.record(kind, before=public_fields(row))

    @contextmanager
    def updating(self, row: Recorded, *, kind: str) -> Iterator[None]:
        """Record what the block changes in the row's public fields: nothing if it changes
        none (a lock already held), nor if it raises."""
        before = public_fields(row)
        yield
        after = public_fields(row)
        if after != before:
            self.record(kind, before=before, after=after)

    def summary(self) -> Fields:
        """`before` and `after` of the last change, with the earlier ones as its parts
        (`also`: their kind, before and after); empty when nothing changed."""
        if not self._changes:
            return {}
        *parts, last = self._changes
        summary = last.states()
        if parts:
            summary["also"] = [{"kind": p.kind, **p.states()} for p in parts]
        return summary
