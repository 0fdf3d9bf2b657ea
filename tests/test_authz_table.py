"""The engine, by one table: every role of every service, regions, namespaces, repository
globs, groups, the owner, and attempts across accounts (pure: no database)."""

from __future__ import annotations

import pytest

from iam.access import roles
from iam.access.authz import Grant, Target, can_administer, covers, evaluate

CATALOG = roles.load_dir(roles.DEFAULT_DIR)
CR = "container-registry"
PULL, PUSH, DELETE = (f"{CR}.image.{a}" for a in ("pull", "push", "delete"))
LIST, INSPECT, NS_LIST = f"{CR}.image.list", f"{CR}.image.inspect", f"{CR}.namespace.list"
NS_CREATE, NS_DELETE = f"{CR}.namespace.create", f"{CR}.namespace.delete"
SETTINGS, QUOTA, CR_ADMIN = f"{CR}.settings.set", f"{CR}.quota.set", f"{CR}.policy.manage"
ID = "iam-identity"
AM = "iam-access-management"
FEDERATION_READ = {f"{ID}.profile.get", f"{ID}.profile.list", f"{ID}.issuer.get"}


def g(roles_: str, service: str = CR, region: str = "", ns: str = "", repo: str = "",
      group: str | None = None, pid: str = "p") -> Grant:
    return Grant(policy_id=pid, roles=tuple(roles_.split(",")), service=service, region=region,
                 resource_type="namespace" if ns else "", resource=ns, repository=repo,
                 group_id=group)


def t(service: str = CR, region: str = "us-south", ns: str = "team-a",
      repo: str = "app") -> Target:
    return Target(service=service, region=region, resource_type="namespace" if ns else "",
                  resource=ns, repository=repo)


ROLE_TABLE = [
    # container-registry, IBM's table
    (CR, "Reader", {PULL, LIST, INSPECT, NS_LIST}),
    (CR, "Writer", {PULL, PUSH, DELETE}),
    (CR, "Manager", {PULL, PUSH, DELETE, LIST, INSPECT, NS_LIST, NS_CREATE, NS_DELETE,
                     SETTINGS, QUOTA}),
    (CR, "Administrator", {CR_ADMIN}),
    # iam-identity (every role reads trusted profiles and issuers; Administrator manages them)
    (ID, "Viewer", {f"{ID}.serviceid.get", f"{ID}.serviceid.list", f"{ID}.apikey.get",
                    f"{ID}.apikey.list"} | FEDERATION_READ),
    (ID, "Operator", {f"{ID}.serviceid.get", f"{ID}.serviceid.list", f"{ID}.apikey.get",
                      f"{ID}.apikey.list", f"{ID}.apikey.create", f"{ID}.apikey.update",
                      f"{ID}.apikey.delete", f"{ID}.apikey.lock"} | FEDERATION_READ),
    (ID, "Editor", {f"{ID}.serviceid.{a}" for a in ("get", "list", "create", "update",
                                                     "delete", "lock")}
     | {f"{ID}.apikey.{a}" for a in ("get", "list", "create", "update", "delete", "lock")}
     | FEDERATION_READ),
    (ID, "Administrator", {f"{ID}.serviceid.{a}" for a in ("get", "list", "create", "update",
                                                            "delete", "lock")}
     | {f"{ID}.apikey.{a}" for a in ("get", "list", "create", "update", "delete", "lock")}
     | {f"{ID}.user.{a}" for a in ("create", "get", "list", "update", "delete")}
     | {f"{ID}.profile.{a}" for a in ("get", "list", "create", "update", "delete")}
     | {f"{ID}.issuer.get", f"{ID}.issuer.manage"}
     | {f"{ID}.account.settings", f"{ID}.policy.manage"}),
    # iam-access-management
    (AM, "Viewer", {f"{AM}.group.get", f"{AM}.group.list", f"{AM}.policy.get",
                    f"{AM}.policy.list", f"{AM}.audit.list"}),
    (AM, "Editor", {f"{AM}.group.{a}" for a in ("get", "list", "create", "update", "delete")}
     | {f"{AM}.policy.get", f"{AM}.policy.list"}),
    (AM, "Administrator", {f"{AM}.group.{a}" for a in ("get", "list", "create", "update",
                                                        "delete")}
     | {f"{AM}.policy.get", f"{AM}.policy.list", f"{AM}.policy.manage", f"{AM}.audit.list"}),
    (AM, "MetricsReader", {f"{AM}.metrics.read"}),
]


@pytest.mark.parametrize(("service", "role", "expected"), ROLE_TABLE,
                         ids=[f"{s}-{r}" for s, r, _ in ROLE_TABLE])
def test_every_role_of_every_service_holds_exactly_its_actions(service: str, role: str,
                                                               expected: set[str]) -> None:
    target = t(service) if service == CR else Target(service=service)
    assert evaluate([g(role, service)], CATALOG, target).actions == expected


def test_every_role_of_every_service_is_in_the_table() -> None:
    listed = {(s, r) for s, r, _ in ROLE_TABLE}
    assert listed == {(s, r) for s, svc in CATALOG.services.items() for r in svc.roles}


SCOPE_TABLE: list[tuple[str, list[Grant], Target, set[str]]] = [
    ("no policy: deny by default", [], t(), set()),
    ("region: empty = every region", [g("Reader")], t(region="eu-de"), {PULL, LIST, INSPECT,
                                                                        NS_LIST}),
    ("region: same region", [g("Writer", region="us-south")], t(), {PULL, PUSH, DELETE}),
    ("region: other region", [g("Writer", region="eu-de")], t(), set()),
    ("region policy does not reach the default region", [g("Writer", region="eu-de")],
     t(region=""), set()),
    ("namespace: empty = every namespace", [g("Writer")], t(ns="team-z"), {PULL, PUSH, DELETE}),
    ("namespace: same", [g("Writer", ns="team-a")], t(), {PULL, PUSH, DELETE}),
    ("namespace: other", [g("Writer", ns="team-b")], t(), set()),
    ("namespace: a prefix is not a match", [g("Writer", ns="team")], t(), set()),
    ("repository glob matches", [g("Writer", ns="team-a", repo="web-*")], t(repo="web-ui"),
     {PULL, PUSH, DELETE}),
    ("repository glob matches nested path", [g("Writer", repo="web-*")], t(repo="web-a/b"),
     {PULL, PUSH, DELETE}),
    ("repository glob does not match", [g("Writer", ns="team-a", repo="web-*")],
     t(repo="api"), set()),
    ("repository glob is case-sensitive", [g("Writer", repo="web-*")], t(repo="WEB-ui"), set()),
    ("repository glob needs a repository", [g("Manager", repo="web-*")], t(repo=""), set()),
    ("exact repository", [g("Reader", repo="app")], t(repo="app"), {PULL, LIST, INSPECT,
                                                                   NS_LIST}),
    ("union of two policies", [g("Reader", pid="a"), g("Writer", ns="team-a", pid="b")], t(),
     {PULL, PUSH, DELETE, LIST, INSPECT, NS_LIST}),
    ("union ignores policies elsewhere", [g("Reader", ns="team-a"), g("Manager", ns="team-b")],
     t(), {PULL, LIST, INSPECT, NS_LIST}),
    ("group policy applies like an own one", [g("Writer", group="AccessGroup-1")], t(),
     {PULL, PUSH, DELETE}),
    ("own Reader + group Writer", [g("Reader"), g("Writer", group="AccessGroup-1", ns="team-a")],
     t(), {PULL, PUSH, DELETE, LIST, INSPECT, NS_LIST}),
    ("policy of another service holds nothing here", [g("Administrator", ID)], t(), set()),
    ("unknown role holds nothing", [g("Boss")], t(), set()),
    ("Administrator alone grants no image action", [g("Administrator")], t(), {CR_ADMIN}),
    ("unknown service holds nothing", [g("Reader")], Target(service="nope"), set()),
    ("account-wide identity policy", [g("Viewer", ID)], Target(service=ID),
     {f"{ID}.serviceid.get", f"{ID}.serviceid.list", f"{ID}.apikey.get", f"{ID}.apikey.list"}
     | FEDERATION_READ),
]


@pytest.mark.parametrize(("grants", "target", "expected"),
                         [(gr, tg, ex) for _, gr, tg, ex in SCOPE_TABLE],
                         ids=[name for name, *_ in SCOPE_TABLE])
def test_scoping(grants: list[Grant], target: Target, expected: set[str]) -> None:
    assert evaluate(grants, CATALOG, target).actions == expected


def test_granted_by_names_the_policies_that_gave_each_action() -> None:
    result = evaluate([g("Reader", pid="a"), g("Writer", pid="b"), g("Writer", ns="x", pid="c")],
                      CATALOG, t())
    assert [(gr.policy_id, acts) for gr, acts in result.granted_by] == [
        ("a", CATALOG.services[CR].roles["Reader"].actions),
        ("b", CATALOG.services[CR].roles["Writer"].actions)]


def test_owner_holds_every_action_of_the_service() -> None:
    for service, svc in CATALOG.services.items():
        assert evaluate([], CATALOG, Target(service=service), owner=True).actions == set(
            svc.actions)


COVER_TABLE = [
    ("every namespace covers one", g("Administrator"), g("Reader", ns="team-a"), True),
    ("same namespace", g("Administrator", ns="team-a"), g("Reader", ns="team-a"), True),
    ("other namespace", g("Administrator", ns="team-a"), g("Reader", ns="team-b"), False),
    ("one namespace does not cover all", g("Administrator", ns="team-a"), g("Reader"), False),
    ("region covers same region", g("Administrator", region="us-south"),
     g("Reader", region="us-south"), True),
    ("region does not cover every region", g("Administrator", region="us-south"),
     g("Reader"), False),
    ("repo glob covers itself", g("Administrator", repo="web-*"), g("Reader", repo="web-*"),
     True),
    ("repo glob covers a literal match", g("Administrator", repo="web-*"),
     g("Reader", repo="web-ui"), True),
    ("repo glob does not cover a wider glob", g("Administrator", repo="web-*"),
     g("Reader", repo="w*"), False),
    ("repo glob does not cover every repo", g("Administrator", repo="web-*"), g("Reader"),
     False),
    ("other service", g("Administrator", ID), g("Reader"), False),
]


@pytest.mark.parametrize(("outer", "inner", "expected"),
                         [(o, i, e) for _, o, i, e in COVER_TABLE],
                         ids=[name for name, *_ in COVER_TABLE])
def test_covers(outer: Grant, inner: Grant, expected: bool) -> None:
    assert covers(outer, inner) is expected


def test_only_administrators_within_scope_may_grant() -> None:
    scope = g("Reader", ns="team-a")
    assert can_administer([g("Administrator", ns="team-a")], CATALOG, scope)
    assert not can_administer([g("Manager", ns="team-a")], CATALOG, scope)
    assert not can_administer([g("Administrator", ns="team-b")], CATALOG, scope)
    assert not can_administer([g("Administrator", ID)], CATALOG, scope)
    assert can_administer([g("Administrator", AM)], CATALOG, scope)
    assert not can_administer([g("Editor", AM)], CATALOG, scope)
    assert can_administer([], CATALOG, scope, owner=True)
    assert not can_administer([], CATALOG, scope)
