"""The grant: asked actions intersected with held ones, `*` expanded, deny by default."""

from __future__ import annotations

import pytest

from iam.registry.grant import access_entries, granted_actions, repositories, split_repository
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


def test_access_entries_list_every_scope_even_when_denied() -> None:
    held = {("ns1", "app"): WRITER}
    scopes = parse_scopes(["repository:ns1/app:pull,push repository:ns2/app:pull"])
    assert access_entries(scopes, held=held, operator=False) == [
        {"type": "repository", "name": "ns1/app", "actions": ["pull", "push"]},
        {"type": "repository", "name": "ns2/app", "actions": []},
    ]


def test_access_entries_ask_the_namespace_and_repository() -> None:
    scopes = parse_scopes(["repository:ns1/app/web:pull"])
    assert repositories(scopes) == [("ns1", "app/web")]
    assert access_entries(scopes, held={("ns1", "app/web"): READER},
                          operator=False)[0]["actions"] == ["pull"]


def test_repositories_name_each_place_once_in_asked_order() -> None:
    scopes = parse_scopes(["repository:ns2/b:pull repository:ns1/a:pull registry:catalog:*",
                           "repository:ns2/b:push"])
    assert repositories(scopes) == [("ns2", "b"), ("ns1", "a")]


def test_access_entries_deny_a_name_with_a_host_prefix() -> None:
    held = {("ns1", "app"): WRITER}
    scopes = parse_scopes(["repository:127.0.0.1:5000/ns1/app:pull"])
    assert access_entries(scopes, held=held, operator=False)[0]["actions"] == []


def test_access_entries_give_the_catalog_to_an_operator_only() -> None:
    scopes = parse_scopes(["registry:catalog:*"])
    assert access_entries(scopes, held={}, operator=False)[0]["actions"] == []
    assert access_entries(scopes, held={}, operator=True)[0]["actions"] == ["*"]


def test_access_entries_deny_unknown_resource_types() -> None:
    scopes = parse_scopes(["plugin:ns1/x:pull"])
    got = access_entries(scopes, held={("ns1", "x"): WRITER}, operator=True)
    assert got == [{"type": "plugin", "name": "ns1/x", "actions": []}]
    assert repositories(scopes) == []
