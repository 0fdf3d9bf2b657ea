"""Listing policies with a subject filter: the count and the pages describe exactly the
policies the caller may read (its own, and those it may manage), whatever the limit."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import BACKENDS, module_service
from tests.test_policies_api import Headers, grant, namespace, robot

CR = "container-registry"


@dataclass(frozen=True)
class Row:
    """A policy of the fixture: its id, its subject's label, its service and namespace."""

    id: str
    subject: str
    service: str
    namespace: str


@dataclass(frozen=True)
class Caller:
    """A caller of the table, its own policies and the rule of what it may read."""

    label: str
    roles: tuple[tuple[list[str], dict[str, str]], ...]
    member: bool  # of the group
    sees: Callable[[Row], bool]


CALLERS = [
    Caller("no policy", (), False, lambda r: False),
    Caller("Administrator on ns01", ((["Administrator"], {"service": CR, "resource_type":
                                                          "namespace", "resource": "ns01"}),),
           False, lambda r: r.service == CR and r.namespace == "ns01"),
    Caller("Administrator on the registry", ((["Administrator"], {"service": CR}),), False,
           lambda r: r.service == CR),
    Caller("Reader everywhere", ((["Reader"], {"service": CR}),), False, lambda r: False),
    Caller("member of the group", (), True, lambda r: r.subject == "group"),
    Caller("access-management Viewer", ((["Viewer"], {"service": "iam-access-management"}),),
           False, lambda r: True),
]
LIMITS = [1, 2, 3, 100]


def _page_all(client: TestClient, headers: Headers, params: dict[str, str],
              limit: int) -> tuple[list[str], set[int]]:
    """Every id over every page, and the counts the pages announced."""
    ids: list[str] = []
    counts: set[int] = set()
    start: str | None = None
    for _ in range(50):
        query: dict[str, Any] = {**params, "limit": limit}
        if start:
            query["pagestart"] = start
        r = client.get("/v1/policies", params=query, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["data"]) <= limit
        ids += [p["id"] for p in body["data"]]
        counts.add(body["count"])
        start = body["next_pagestart"]
        if start is None:
            return ids, counts
        assert body["data"], "a next_pagestart after an empty page"
    raise AssertionError("paging did not end")


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any]]:
    """The table below, built once per backend: every test only reads it."""
    with module_service(request, tmp_path_factory) as service:
        yield service.client, _table(service.client, service.admin)


@pytest.fixture
def client(world: tuple[TestClient, Any]) -> TestClient:
    return world[0]


@pytest.fixture
def table(world: tuple[TestClient, Any]) -> dict[str, Any]:
    return dict(world[1])


def _table(client: TestClient, admin: Headers) -> dict[str, Any]:
    """Two subjects (a service ID and a group), each with policies on ns01, ns02 and
    iam-identity; one caller per row of CALLERS."""
    for ns in ("ns01", "ns02"):
        assert namespace(client, admin, ns).status_code == 201
    target, _ = robot(client, admin, "target")
    r = client.post("/v1/groups", json={"name": "builders"}, headers=admin)
    assert r.status_code == 201, r.text
    group = r.json()["id"]
    rows: list[Row] = []
    for label, subject in (("robot", target), ("group", group)):
        for service, ns, roles in ((CR, "ns01", ["Reader"]), (CR, "ns02", ["Writer"]),
                                   ("iam-identity", "", ["Viewer"])):
            resource = {"resource_type": "namespace", "resource": ns} if ns else {}
            r = grant(client, admin, subject, roles, service, **resource)
            assert r.status_code == 201, r.text
            rows.append(Row(r.json()["id"], label, service, ns))
    callers: dict[str, Headers] = {}
    for i, caller in enumerate(CALLERS):
        iam_id, headers = robot(client, admin, f"caller{i}")
        for roles, resource in caller.roles:
            body = {"subject": {"iam_id": iam_id}, "roles": roles, "resource": resource}
            r = client.post("/v1/policies", json=body, headers=admin)
            assert r.status_code == 201, r.text
        if caller.member:
            r = client.post(f"/v1/groups/{group}/members", json={"iam_id": iam_id},
                            headers=admin)
            assert r.status_code == 201, r.text
        callers[caller.label] = headers
    return {"target": target, "group": group, "rows": rows, "callers": callers}


@pytest.mark.parametrize("limit", LIMITS)
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.label)
@pytest.mark.parametrize("subject", ["robot", "group"])
def test_paging_a_subjects_policies_returns_exactly_the_visible_ones(
        client: TestClient, table: dict[str, Any], caller: Caller, subject: str,
        limit: int) -> None:
    params = ({"iam_id": table["target"]} if subject == "robot"
              else {"access_group_id": table["group"]})
    expected = {r.id for r in table["rows"] if r.subject == subject and caller.sees(r)}
    ids, counts = _page_all(client, table["callers"][caller.label], params, limit)
    assert sorted(ids) == sorted(expected)  # each visible policy once, nothing else
    assert counts == {len(expected)}


def test_policy_count_counts_only_visible_policies(client: TestClient,
                                                   table: dict[str, Any]) -> None:
    headers = table["callers"]["no policy"]
    for limit in (1, 100):
        r = client.get("/v1/policies", params={"iam_id": table["target"], "limit": limit},
                       headers=headers)
        assert r.status_code == 200, r.text
        assert r.json() == {"data": [], "count": 0, "limit": limit, "next_pagestart": None}


def test_policy_list_of_a_namespace_admin_shows_only_its_namespace(
        client: TestClient, table: dict[str, Any]) -> None:
    r = client.get("/v1/policies", params={"iam_id": table["target"], "limit": 1},
                   headers=table["callers"]["Administrator on ns01"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 1 and body["next_pagestart"] is None
    assert body["data"][0]["resource"]["resource"] == "ns01"
