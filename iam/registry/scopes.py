"""The docker registry scope grammar: `type[(class)]:name:action[,action...]`.

A name may carry a `host:port/` prefix and so a `:`, hence a scope is split on its first
and last `:` only. Several scopes may arrive in one value, separated by spaces. Pure
functions, no I/O.

Scopes arrive before any authentication, so every bound is checked before a value is split,
parsed or memoised, and the memo holds only small requests (see `parse_scopes`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from iam.errors import InvalidInput

#: Per request: real clients send one to a handful of scopes (docker: one value per scope,
#: containerd: one space-separated value); these bounds are generous but small.
MAX_SCOPE_VALUES = 32  # `scope` parameters
MAX_SCOPE_VALUE = 4096  # characters in one of them
MAX_SCOPE_TEXT = 8192  # characters in all of them
MAX_SCOPES = 32  # distinct (type, name) pairs
MAX_ACTIONS = 16  # actions of one scope
MAX_NAME = 255
#: The memo of parsed requests: at most MEMO_ENTRIES requests of at most MEMO_MAX_TEXT
#: characters and MEMO_MAX_SCOPES scopes each, so its size is bounded whoever sends them
#: (about 12 MiB at worst: 11.5 MiB measured, 4,096 entries of two scopes with 16 distinct
#: actions each). 4,096 keeps a fleet of a few thousand repositories memoised, as the
#: lru_cache(4096) before it did: the benchmark's 2,000 keys, each on its own namespace,
#: missed a 1,024-entry memo on every request (a parse is ~12 us, a hit ~0.5 us).
MEMO_ENTRIES = 4096
MEMO_MAX_TEXT = 256
MEMO_MAX_SCOPES = 2  # docker asks one scope, two for a cross-repository mount
_TYPE = re.compile(r"^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$")
_NAME = re.compile(r"^[A-Za-z0-9._\-/:]+$")
_BAD_COMPONENTS = frozenset({"", ".", ".."})
_ACTION = re.compile(r"^(?:\*|[a-z][a-z0-9_-]*)$")


class InvalidScope(InvalidInput):
    """Raised when a `scope` value does not follow `type:name:actions`."""

    code = "invalid_scope"


@dataclass(frozen=True, slots=True)
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
    listed = actions.split(",")
    if len(listed) > MAX_ACTIONS and sum(1 for a in listed if a) > MAX_ACTIONS:
        raise InvalidScope(f"scope {value[:80]!r} has more than {MAX_ACTIONS} actions")
    for action in listed:
        if not action:
            continue
        if _ACTION.match(action) is None:
            raise InvalidScope(f"scope {value[:80]!r} has an invalid action {action[:20]!r}")
        if action not in wanted:
            wanted.append(action)
    return Scope(type=typed.group(1), name=name, actions=tuple(wanted))


def check_bounds(values: tuple[str, ...]) -> None:
    """Refuse a request over the count and length bounds, before anything is split."""
    if len(values) > MAX_SCOPE_VALUES:
        raise InvalidScope(f"more than {MAX_SCOPE_VALUES} scope parameters in one request")
    total = 0
    for value in values:
        if len(value) > MAX_SCOPE_VALUE:
            raise InvalidScope(f"a scope parameter is longer than {MAX_SCOPE_VALUE} characters")
        total += len(value)
    if total > MAX_SCOPE_TEXT:
        raise InvalidScope(f"scope parameters longer than {MAX_SCOPE_TEXT} characters in all")


_memo: dict[tuple[str, ...], tuple[Scope, ...]] = {}


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Every scope of repeated and space-separated values, in order, duplicates merged.

    A CI fleet asks for the same few scopes over and over, so small requests are memoised
    (by their raw text: a hit costs one dict look-up); a long or many-scoped one is parsed
    every time, so what an anonymous client sends can never grow the memo beyond
    MEMO_ENTRIES x MEMO_MAX_TEXT characters.
    """
    key = tuple(values)
    found = _memo.get(key)
    if found is not None:
        return list(found)
    check_bounds(key)
    parsed = _parse_scopes(key)
    if len(parsed) <= MEMO_MAX_SCOPES and sum(map(len, key)) <= MEMO_MAX_TEXT:
        while len(_memo) >= MEMO_ENTRIES:
            try:  # dicts keep insertion order: drop the oldest
                del _memo[next(iter(_memo))]
            except (StopIteration, KeyError, RuntimeError):  # another thread got there first
                break
        _memo[key] = parsed
    return list(parsed)


def _parse_scopes(values: tuple[str, ...]) -> tuple[Scope, ...]:
    merged: dict[tuple[str, str], list[str]] = {}
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            actions = merged.setdefault((scope.type, scope.name), [])
            actions.extend(a for a in scope.actions if a not in actions)
            if len(merged) > MAX_SCOPES:
                raise InvalidScope(f"more than {MAX_SCOPES} scopes in one request")
            if len(actions) > MAX_ACTIONS:
                raise InvalidScope(f"more than {MAX_ACTIONS} actions for {scope.type}:"
                                   f"{scope.name[:80]}")
    return tuple(Scope(type=t, name=n, actions=tuple(a)) for (t, n), a in merged.items())
