"""Access groups: members share the group's policies; membership stays in one account."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.test_policies_api import (
    Headers,
    check,
    grant,
    namespace,
    policy_count,
    robot,
    second_account,
)

PUSH = "container-registry.image.push"
ON_TEAM_A = {"resource_type": "namespace", "resource": "team-a"}


def new_group(client: TestClient, headers: Headers, name: str = "devs") -> str:
    r = client.post("/v1/groups", json={"name": name, "description": "developers"},
                    headers=headers)
    assert r.status_code == 201, r.text
    assert r.json()["id"].startswith("AccessGroup-")
    return str(r.json()["id"])


def test_a_group_policy_applies_to_every_member_until_removed(client: TestClient,
                                                              admin: Headers) -> None:
    namespace(client, admin, "team-a")
    group = new_group(client, admin)
    one, _ = robot(client, admin, "one")
    two, _ = robot(client, admin, "two")
    for member in (one, two):
        r = client.post(f"/v1/groups/{group}/members", json={"iam_id": member}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["type"] == "ServiceId"
    policy = grant(client, admin, group, ["Writer"], **ON_TEAM_A)
    assert policy.status_code == 201, policy.text
    assert policy.json()["subject"] == {"access_group_id": group}
    for member in (one, two):
        answer = check(client, admin, member, PUSH, **ON_TEAM_A)
        assert answer["allowed"]
        assert answer["granted_by"] == [{"policy_id": policy.json()["id"], "roles": ["Writer"]}]
    members = client.get(f"/v1/groups/{group}/members", headers=admin).json()
    assert sorted(m["iam_id"] for m in members["data"]) == sorted([one, two])
    assert client.delete(f"/v1/groups/{group}/members/{one}", headers=admin).status_code == 204
    assert not check(client, admin, one, PUSH, **ON_TEAM_A)["allowed"]
    assert check(client, admin, two, PUSH, **ON_TEAM_A)["allowed"]
    r = client.get("/v1/policies", params={"access_group_id": group}, headers=admin)
    assert r.json()["count"] == 1
    assert client.delete(f"/v1/groups/{group}", headers=admin).status_code == 204
    assert not check(client, admin, two, PUSH, **ON_TEAM_A)["allowed"]
    assert policy_count(client, admin) == 0


def test_bad_memberships_are_refused(client: TestClient, admin: Headers) -> None:
    group = new_group(client, admin)
    other = new_group(client, admin, "others")
    member, _ = robot(client, admin)
    url = f"/v1/groups/{group}/members"
    assert client.post(url, json={"iam_id": member}, headers=admin).status_code == 201
    r = client.post(url, json={"iam_id": member}, headers=admin)
    assert r.status_code == 409 and "already a member" in r.text
    r = client.post(url, json={"iam_id": other}, headers=admin)
    assert r.status_code == 400 and "cannot contain a group" in r.text
    r = client.post(url, json={"iam_id": group}, headers=admin)
    assert r.status_code == 400
    b = second_account(client, admin)
    their, _ = robot(client, b, "theirs")
    r = client.post(url, json={"iam_id": their}, headers=admin)
    assert r.status_code == 404
    r = client.post(f"/v1/groups/{group}/members", json={"iam_id": member}, headers=b)
    assert r.status_code == 404
    assert client.get(url, headers=admin).json()["count"] == 1


def test_duplicate_group_name_is_a_conflict(client: TestClient, admin: Headers) -> None:
    new_group(client, admin)
    r = client.post("/v1/groups", json={"name": "devs"}, headers=admin)
    assert r.status_code == 409
    assert client.get("/v1/groups", headers=admin).json()["count"] == 1


def test_managing_groups_needs_access_management_roles(client: TestClient,
                                                       admin: Headers) -> None:
    group = new_group(client, admin)
    iam_id, headers = robot(client, admin)
    r = client.post("/v1/groups", json={"name": "x"}, headers=headers)
    assert r.status_code == 403 and "iam-access-management.group.create" in r.text
    assert client.get("/v1/groups", headers=headers).status_code == 403
    grant(client, admin, iam_id, ["Viewer"], service="iam-access-management")
    assert client.get("/v1/groups", headers=headers).json()["count"] == 1
    r = client.post(f"/v1/groups/{group}/members", json={"iam_id": iam_id}, headers=headers)
    assert r.status_code == 403 and "iam-access-management.group.update" in r.text
    r = client.get(f"/v1/groups/{group}", headers=admin)
    r = client.put(f"/v1/groups/{group}", json={"name": "devs2"},
                   headers={**admin, "If-Match": r.json()["entity_tag"]})
    assert r.status_code == 200 and r.json()["name"] == "devs2"


def test_groups_filtered_by_iam_id_are_those_it_is_a_member_of(client: TestClient,
                                                               admin: Headers) -> None:
    devs, ops = new_group(client, admin, "devs"), new_group(client, admin, "ops")
    new_group(client, admin, "nobody")
    one, _ = robot(client, admin, "one")
    two, _ = robot(client, admin, "two")
    for group, member in ((devs, one), (ops, one), (ops, two)):
        r = client.post(f"/v1/groups/{group}/members", json={"iam_id": member}, headers=admin)
        assert r.status_code == 201, r.text
    of_one = client.get("/v1/groups", params={"iam_id": one}, headers=admin).json()
    assert sorted(g["id"] for g in of_one["data"]) == sorted([devs, ops])
    of_two = client.get("/v1/groups", params={"iam_id": two}, headers=admin).json()
    assert [g["id"] for g in of_two["data"]] == [ops]
    assert client.get("/v1/groups", params={"iam_id": "iam-ServiceId-none"},
                      headers=admin).json()["data"] == []


def test_members_are_listed_a_page_at_a_time_in_iam_id_order(client: TestClient,
                                                              admin: Headers) -> None:
    group = new_group(client, admin)
    members = sorted(robot(client, admin, f"member-{i}")[0] for i in range(3))
    for member in members:
        client.post(f"/v1/groups/{group}/members", json={"iam_id": member},
                    headers=admin).raise_for_status()
    seen, start, pages = [], None, 0
    while True:
        r = client.get(f"/v1/groups/{group}/members", headers=admin,
                       params={"limit": 2, **({"pagestart": start} if start else {})})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["count"], body["limit"]) == (3, 2)
        seen += [m["iam_id"] for m in body["data"]]
        pages += 1
        start = body["next_pagestart"]
        if start is None:
            break
    assert seen == members and pages == 2
