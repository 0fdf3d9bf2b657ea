"""The docker scope grammar, as a table of what real clients send."""

from __future__ import annotations

import pytest

from iam.registry.scopes import InvalidScope, Scope, parse_scope, parse_scopes

CASES = [
    ("repository:ns1/app:pull", Scope("repository", "ns1/app", ("pull",))),
    ("repository:ns1/app:pull,push", Scope("repository", "ns1/app", ("pull", "push"))),
    ("repository:ns1/app:*", Scope("repository", "ns1/app", ("*",))),
    ("repository:ns1/app/web:delete", Scope("repository", "ns1/app/web", ("delete",))),
    ("repository:127.0.0.1:5000/ns1/app:pull",
     Scope("repository", "127.0.0.1:5000/ns1/app", ("pull",))),
    ("repository:registry.example.com:443/a/b:pull,push",
     Scope("repository", "registry.example.com:443/a/b", ("pull", "push"))),
    ("repository(plugin):ns1/plugin:pull", Scope("repository", "ns1/plugin", ("pull",))),
    ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
    ("repository:ns1/app:pull,pull,push", Scope("repository", "ns1/app", ("pull", "push"))),
    ("repository:ns1/app:", Scope("repository", "ns1/app", ())),
    ("repository:ns1/app:pull,,push", Scope("repository", "ns1/app", ("pull", "push"))),
    ("repository:ns1/my_app-1.0:pull", Scope("repository", "ns1/my_app-1.0", ("pull",))),
]

BAD = [
    "repository",
    "repository:ns1/app",
    ":ns1/app:pull",
    "repository::pull",
    "Repo Sitory:ns1/app:pull",
    "repository(:ns1/app:pull",
    "repository:ns1/app:PULL",
    "repository:ns1/app:pull;rm",
    "repository:ns1/a pp:pull",
    "repository:" + "a/" * 200 + "b:pull",
]


@pytest.mark.parametrize(("value", "expected"), CASES, ids=[c[0][:40] for c in CASES])
def test_parse_scope_reads_the_table(value: str, expected: Scope) -> None:
    assert parse_scope(value) == expected


@pytest.mark.parametrize("value", BAD, ids=[b[:30] for b in BAD])
def test_parse_scope_refuses_malformed_values(value: str) -> None:
    with pytest.raises(InvalidScope):
        parse_scope(value)


def test_parse_scopes_splits_space_separated_values() -> None:
    assert parse_scopes(["repository:a/b:pull repository:c/d:pull,push"]) == [
        Scope("repository", "a/b", ("pull",)), Scope("repository", "c/d", ("pull", "push"))]


def test_parse_scopes_reads_repeated_values_in_order() -> None:
    got = parse_scopes(["repository:c/d:pull,push", "repository:a/b:pull"])
    assert [s.name for s in got] == ["c/d", "a/b"]


def test_parse_scopes_merges_the_same_resource() -> None:
    assert parse_scopes(["repository:a/b:pull", "repository:a/b:push"]) == [
        Scope("repository", "a/b", ("pull", "push"))]


def test_parse_scopes_of_nothing_is_a_login() -> None:
    assert parse_scopes([]) == []
    assert parse_scopes(["  "]) == []


def test_parse_scopes_refuses_too_many_scopes() -> None:
    with pytest.raises(InvalidScope):
        parse_scopes([" ".join(f"repository:a/r{i}:pull" for i in range(40))])


def test_scope_prints_back_its_grammar() -> None:
    assert str(parse_scope("repository(plugin):a/b:pull,push")) == "repository:a/b:pull,push"
