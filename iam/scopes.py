"""The docker registry scope grammar: `type[(class)]:name:action[,action...]`.

A name may carry a `host:port/` prefix and so a `:`, hence a scope is split on its first
and last `:` only. Several scopes may arrive in one value, separated by spaces. Pure
functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from iam.errors import InvalidInput

MAX_SCOPES = 32
MAX_NAME = 255
_TYPE = re.compile(r"^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$")
_NAME = re.compile(r"^[A-Za-z0-9._\-/:]+$")
_BAD_COMPONENTS = frozenset({"", ".", ".."})
_ACTION = re.compile(r"^(?:\*|[a-z][a-z0-9_-]*)$")


class InvalidScope(InvalidInput):
    """Raised when a `scope` value does not follow `type:name:actions`."""

    code = "invalid_scope"


@dataclass(frozen=True)
class Scope:
    """One requested resource: `repository`, `ns1/app`, `("pull", "push")`."""

    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"


def parse_scope(value: str) -> Scope:
    """One scope; the type's class (`repository(plugin)`) is dropped, actions deduplicated."""
    first, last = value.find(":"), value.rfind(":")
    if first <= 0 or last == first:
        raise InvalidScope(f"scope {value[:80]!r} is not type:name:actions")
    kind, name, actions = value[:first], value[first + 1:last], value[last + 1:]
    typed = _TYPE.match(kind)
    if typed is None:
        raise InvalidScope(f"scope {value[:80]!r} has an invalid resource type")
    if not name or len(name) > MAX_NAME or _NAME.match(name) is None:
        raise InvalidScope(f"scope {value[:80]!r} has an invalid resource name")
    if any(part in _BAD_COMPONENTS for part in name.split("/")):
        # `ns1/../ns2/app` must not be read as a name under `ns1` (nor `ns1//app`, `/ns1`).
        raise InvalidScope(f"scope {value[:80]!r} has an empty, '.' or '..' path component")
    wanted: list[str] = []
    for action in actions.split(","):
        if not action:
            continue
        if _ACTION.match(action) is None:
            raise InvalidScope(f"scope {value[:80]!r} has an invalid action {action[:20]!r}")
        if action not in wanted:
            wanted.append(action)
    return Scope(type=typed.group(1), name=name, actions=tuple(wanted))


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Every scope of repeated and space-separated values, in order, duplicates merged."""
    return list(_parse_scopes(tuple(values)))


@lru_cache(maxsize=4096)  # a CI fleet asks for the same few scopes over and over
def _parse_scopes(values: tuple[str, ...]) -> tuple[Scope, ...]:
    merged: dict[tuple[str, str], list[str]] = {}
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            actions = merged.setdefault((scope.type, scope.name), [])
            actions.extend(a for a in scope.actions if a not in actions)
            if len(merged) > MAX_SCOPES:
                raise InvalidScope(f"more than {MAX_SCOPES} scopes in one request")
    return tuple(Scope(type=t, name=n, actions=tuple(a)) for (t, n), a in merged.items())
