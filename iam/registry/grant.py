"""What a registry token grants: the asked actions intersected with the held ones.

`pull`, `push` and `delete` on a repository map to `container-registry.image.pull`,
`.image.push` and `.image.delete` held on its namespace (the first path component). `*` is
expanded into the concrete actions held, never passed through. `registry:catalog:*` lists
every account's repositories, so only a configured registry operator gets it. Every
requested scope appears in the answer, with no actions when nothing is granted.

Pure functions: the token service reads what is held on the repositories the scopes name
(`repositories`) and hands it in as data (`Held`); nothing here reads or calls back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from iam.registry.scopes import Scope

TOKEN_ACTIONS: dict[str, str] = {
    "pull": "container-registry.image.pull",
    "push": "container-registry.image.push",
    "delete": "container-registry.image.delete",
}

#: (namespace, repository within it) -> the IAM actions held there; a missing entry holds
#: nothing
Held = Mapping[tuple[str, str], frozenset[str]]
_NOTHING: frozenset[str] = frozenset()


def split_repository(name: str) -> tuple[str, str] | None:
    """`team-a/app/web` -> (`team-a`, `app/web`); None when there is no namespace part."""
    namespace, sep, rest = name.partition("/")
    if not sep or not namespace or not rest:
        return None
    return namespace, rest


def repositories(scopes: Iterable[Scope]) -> list[tuple[str, str]]:
    """The (namespace, repository) each repository scope names, once each, in asked order:
    where the held actions are needed."""
    found: dict[tuple[str, str], None] = {}
    for scope in scopes:
        if scope.type == "repository" and (parts := split_repository(scope.name)):
            found[parts] = None
    return list(found)


def granted_actions(asked: Iterable[str], held: frozenset[str]) -> list[str]:
    """The asked token actions backed by a held IAM action, `*` expanded, in asked order."""
    concrete = [action for action, iam in TOKEN_ACTIONS.items() if iam in held]
    granted: list[str] = []
    for action in asked:
        candidates = concrete if action == "*" else [action] if action in concrete else []
        granted.extend(a for a in candidates if a not in granted)
    return granted


def access_entries(scopes: Iterable[Scope], *, held: Held,
                   operator: bool) -> list[dict[str, Any]]:
    """The token's `access` claim: one entry per requested scope, deny by default."""
    entries: list[dict[str, Any]] = []
    for scope in scopes:
        actions: list[str] = []
        if scope.type == "repository":
            parts = split_repository(scope.name)
            if parts is not None:
                actions = granted_actions(scope.actions, held.get(parts, _NOTHING))
        elif scope.type == "registry" and scope.name == "catalog" and operator:
            actions = [a for a in scope.actions if a == "*"]
        entries.append({"type": scope.type, "name": scope.name, "actions": actions})
    return entries
