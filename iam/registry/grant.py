"""What a registry token grants: the asked actions intersected with the held ones.

`pull`, `push` and `delete` on a repository map to `container-registry.image.pull`,
`.image.push` and `.image.delete` held on its namespace (the first path component). `*` is
expanded into the concrete actions held, never passed through. `registry:catalog:*` lists
every account's repositories, so only a configured registry operator gets it. Every
requested scope appears in the answer, with no actions when nothing is granted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from iam.registry.scopes import Scope

TOKEN_ACTIONS: dict[str, str] = {
    "pull": "container-registry.image.pull",
    "push": "container-registry.image.push",
    "delete": "container-registry.image.delete",
}

#: (namespace, repository within it) -> the IAM actions held there
HeldActions = Callable[[str, str], frozenset[str]]


def split_repository(name: str) -> tuple[str, str] | None:
    """`team-a/app/web` -> (`team-a`, `app/web`); None when there is no namespace part."""
    namespace, sep, rest = name.partition("/")
    if not sep or not namespace or not rest:
        return None
    return namespace, rest


def granted_actions(asked: Iterable[str], held: frozenset[str]) -> list[str]:
    """The asked token actions backed by a held IAM action, `*` expanded, in asked order."""
    concrete = [action for action, iam in TOKEN_ACTIONS.items() if iam in held]
    granted: list[str] = []
    for action in asked:
        candidates = concrete if action == "*" else [action] if action in concrete else []
        granted.extend(a for a in candidates if a not in granted)
    return granted


def _repository_actions(scope: Scope, held: HeldActions,
                        cache: dict[tuple[str, str], frozenset[str]]) -> list[str]:
    parts = split_repository(scope.name)
    if parts is None:
        return []
    if parts not in cache:
        cache[parts] = held(*parts)
    return granted_actions(scope.actions, cache[parts])


def access_entries(scopes: Iterable[Scope], *, held: HeldActions,
                   operator: bool) -> list[dict[str, Any]]:
    """The token's `access` claim: one entry per requested scope, deny by default."""
    cache: dict[tuple[str, str], frozenset[str]] = {}
    entries: list[dict[str, Any]] = []
    for scope in scopes:
        actions: list[str] = []
        if scope.type == "repository":
            actions = _repository_actions(scope, held, cache)
        elif scope.type == "registry" and scope.name == "catalog" and operator:
            actions = [a for a in scope.actions if a == "*"]
        entries.append({"type": scope.type, "name": scope.name, "actions": actions})
    return entries
