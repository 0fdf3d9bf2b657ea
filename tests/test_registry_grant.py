"""The grant: asked actions intersected with held ones, `*` expanded, deny by default."""

from __future__ import annotations

import pytest

from iam.registry.grant import access_entries, granted_actions, split_repository
from iam.registry.scopes import parse_scopes

PULL = "container-registry.image.pull"
PUSH = "container-registry.image.push"
DELETE = "container-registry.image.delete"
READER = frozenset({PULL, "container-registry.image.list"})
WRITER = frozenset({PULL, PUSH, DELETE})

TABLE = [
    (["pull"], READER, ["pull"]),
    (["pull", "push"], READER, ["pull"]),
    (["pull", "push"], WRITER, ["pull", "push"]),
    (["push"], frozenset({PUSH}), ["push"]),
    (["*"], READER, ["pull"]),
    (["*"], WRITER, ["pull", "push", "delete"]),
    (["*"], frozenset(), []),
    (["delete"], READER, []),
    (["pull", "*"], WRITER, ["pull", "push", "delete"]),
    (["unknown"], WRITER, []),
    ([], WRITER, []),
]


@pytest.mark.parametrize(("asked", "held", "expected"), TABLE)
def test_granted_actions_reads_the_table(asked: list[str], held: frozenset[str],
                                         expected: list[str]) -> None:
    assert granted_actions(asked, held) == expected


def test_split_repository_takes_the_first_component_as_namespace() -> None:
    assert split_repository("team-a/app/web") == ("team-a", "app/web")


@pytest.mark.parametrize("name", ["app", "ns/", "/app"])
def test_split_repository_without_namespace_is_none(name: str) -> None:
    assert split_repository(name) is None


def _held(table: dict[str, frozenset[str]]):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, str]] = []

    def held(namespace: str, repository: str) -> frozenset[str]:
        calls.append((namespace, repository))
        return table.get(namespace, frozenset())

    return held, calls


def test_access_entries_list_every_scope_even_when_denied() -> None:
    held, _ = _held({"ns1": WRITER})
    scopes = parse_scopes(["repository:ns1/app:pull,push repository:ns2/app:pull"])
    assert access_entries(scopes, held=held, operator=False) == [
        {"type": "repository", "name": "ns1/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "ns2/app", "actions": []},
    ]


def test_access_entries_ask_the_namespace_and_repository() -> None:
    held, calls = _held({"ns1": READER})
    access_entries(parse_scopes(["repository:ns1/app/web:pull"]), held=held, operator=False)
    assert calls == [("ns1", "app/web")]


def test_access_entries_deny_a_name_with_a_host_prefix() -> None:
    held, _ = _held({"ns1": WRITER})
    scopes = parse_scopes(["repository:127.0.0.1:5000/ns1/app:pull"])
    assert access_entries(scopes, held=held, operator=False)[0]["actions"] == []


def test_access_entries_give_the_catalog_to_an_operator_only() -> None:
    held, _ = _held({})
    scopes = parse_scopes(["registry:catalog:*"])
    assert access_entries(scopes, held=held, operator=False)[0]["actions"] == []
    assert access_entries(scopes, held=held, operator=True)[0]["actions"] == ["*"]


def test_access_entries_deny_unknown_resource_types() -> None:
    held, calls = _held({"ns1": WRITER})
    got = access_entries(parse_scopes(["plugin:ns1/x:pull"]), held=held, operator=True)
    assert got == [{"type": "plugin", "name": "ns1/x", "actions": []}]
    assert calls == []
