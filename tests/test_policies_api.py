"""Policies through the admin API: the seed's scenario, scoping of who may grant, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from tests.conftest import bearer

Headers = dict[str, str]


# --- helpers shared by the policy, namespace and group suites -----------------------------

def robot(client: TestClient, admin: Headers, name: str = "robot") -> tuple[str, Headers]:
    """A service ID with an API key; its iam_id and the headers of its access token."""
    r = client.post("/v1/serviceids", json={"name": name}, headers=admin)
    assert r.status_code == 201, r.text
    iam_id = r.json()["iam_id"]
    r = client.post("/v1/apikeys", json={"name": "key", "iam_id": iam_id}, headers=admin)
    assert r.status_code == 201, r.text
    return iam_id, bearer(client, r.json()["apikey"])


def grant(client: TestClient, headers: Headers, subject: str, roles: list[str],
          service: str = "container-registry", **resource: str) -> Response:
    key = "access_group_id" if subject.startswith("AccessGroup-") else "iam_id"
    body: dict[str, Any] = {"subject": {key: subject}, "roles": roles,
                            "resource": {"service": service, **resource}}
    return client.post("/v1/policies", json=body, headers=headers)


def namespace(client: TestClient, headers: Headers, name: str, region: str = "") -> Response:
    return client.put(f"/v1/namespaces/{name}", params={"region": region}, headers=headers)


def check(client: TestClient, headers: Headers, iam_id: str, action: str,
          **resource: str) -> dict[str, Any]:
    body = {"iam_id": iam_id, "action": action,
            "resource": {"service": action.split(".")[0], **resource}}
    r = client.post("/v1/authz/check", json=body, headers=headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


def second_account(client: TestClient, admin: Headers) -> Headers:
    """Account B, created by the operator; the headers of its owner."""
    r = client.post("/v1/accounts", json={"name": "account-b"}, headers=admin)
    assert r.status_code == 201, r.text
    return bearer(client, r.json()["apikey"])


def policy_count(client: TestClient, admin: Headers) -> int:
    r = client.get("/v1/policies", headers=admin)
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


# --- tests --------------------------------------------------------------------------------

@pytest.mark.regions("", "us-south")
def test_create_policy_keeps_the_json_shape(client: TestClient, admin: Headers) -> None:
    iam_id, _ = robot(client, admin)
    assert namespace(client, admin, "ns01", "us-south").status_code == 201
    r = grant(client, admin, iam_id, ["Manager", "Administrator"], region="us-south",
              resource_type="namespace", resource="ns01", repository="web-*")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["id"].startswith("Policy-")
    assert body["subject"] == {"iam_id": iam_id}
    assert body["roles"] == ["Manager", "Administrator"]
    assert body["resource"] == {"service": "container-registry", "region": "us-south",
                                "resource_type": "namespace", "resource": "ns01",
                                "repository": "web-*"}
    r = client.get(f"/v1/policies/{body['id']}", headers=admin)
    assert r.status_code == 200 and r.json() == body
    assert r.headers["ETag"] == body["entity_tag"]


def test_omitted_resource_keys_mean_any(client: TestClient, admin: Headers) -> None:
    iam_id, _ = robot(client, admin)
    r = grant(client, admin, iam_id, ["Reader"])
    assert r.status_code == 201, r.text
    assert r.json()["resource"] == {"service": "container-registry"}


def test_seed_scenario_administrator_and_manager_on_ns1(client: TestClient,
                                                        admin: Headers) -> None:
    """Service ID + Administrator + Manager on ns1: push, delete, (re)create ns1, grant
    Reader on ns1; nothing on ns2."""
    for name in ("ns01", "ns02"):
        assert namespace(client, admin, name).status_code == 201
    ci, ci_headers = robot(client, admin, "ci")
    other, _ = robot(client, admin, "other")
    assert grant(client, admin, ci, ["Administrator", "Manager"],
                 resource_type="namespace", resource="ns01").status_code == 201
    for action in ("container-registry.image.push", "container-registry.image.delete",
                   "container-registry.namespace.delete"):
        assert check(client, ci_headers, ci, action, resource_type="namespace",
                     resource="ns01")["allowed"] is True
        assert check(client, admin, ci, action, resource_type="namespace",
                     resource="ns02")["allowed"] is False
    assert client.delete("/v1/namespaces/ns01", headers=ci_headers).status_code == 200
    assert namespace(client, ci_headers, "ns01").status_code == 201
    r = grant(client, ci_headers, other, ["Reader"], resource_type="namespace", resource="ns01")
    assert r.status_code == 201, r.text
    r = grant(client, ci_headers, other, ["Reader"], resource_type="namespace", resource="ns02")
    assert r.status_code == 403
    assert "container-registry.policy.manage" in r.json()["errors"][0]["message"]
    assert grant(client, ci_headers, other, ["Reader"]).status_code == 403
    r = client.delete("/v1/namespaces/ns02", headers=ci_headers)
    assert r.status_code == 403
    assert "container-registry.namespace.delete" in r.json()["errors"][0]["message"]
    assert namespace(client, ci_headers, "ns03").status_code == 403
    r = grant(client, ci_headers, other, ["Viewer"], service="iam-identity")
    assert r.status_code == 403
    assert "iam-identity.policy.manage" in r.text


def test_reader_may_pull_but_not_push_and_check_says_why(client: TestClient,
                                                         admin: Headers) -> None:
    namespace(client, admin, "team-a")
    reader, _ = robot(client, admin, "reader")
    policy = grant(client, admin, reader, ["Reader"], resource_type="namespace",
                   resource="team-a").json()
    pull = check(client, admin, reader, "container-registry.image.pull",
                 resource_type="namespace", resource="team-a", repository="app")
    assert pull["allowed"] is True
    assert pull["granted_by"] == [{"policy_id": policy["id"], "roles": ["Reader"]}]
    for action in ("container-registry.image.push", "container-registry.image.delete"):
        denied = check(client, admin, reader, action, resource_type="namespace",
                       resource="team-a", repository="app")
        assert denied["allowed"] is False and denied["granted_by"] == []
        assert policy["id"] in denied["reason"] and "Reader" in denied["reason"]
        assert "Writer" in denied["reason"]  # the roles that would allow it


def test_check_explains_a_policy_on_another_namespace(client: TestClient,
                                                      admin: Headers) -> None:
    namespace(client, admin, "team-a")
    namespace(client, admin, "team-b")
    reader, headers = robot(client, admin, "reader")
    grant(client, admin, reader, ["Reader"], resource_type="namespace", resource="team-a")
    answer = check(client, headers, reader, "container-registry.image.pull",
                   resource_type="namespace", resource="team-b")
    assert answer["allowed"] is False
    assert "none covers this resource" in answer["reason"]
    answer = check(client, headers, reader, "container-registry.image.pull",
                   resource_type="namespace", resource="nope")
    assert "does not exist in this account" in answer["reason"]


def test_operator_creates_keys_but_not_policies_viewer_only_lists(client: TestClient,
                                                                  admin: Headers) -> None:
    operator, op_headers = robot(client, admin, "operator")
    viewer, view_headers = robot(client, admin, "viewer")
    target, _ = robot(client, admin, "target")
    grant(client, admin, operator, ["Operator"], service="iam-identity")
    grant(client, admin, viewer, ["Viewer"], service="iam-identity")
    r = client.post("/v1/apikeys", json={"name": "k", "iam_id": target}, headers=op_headers)
    assert r.status_code == 201, r.text
    r = grant(client, op_headers, target, ["Reader"])
    assert r.status_code == 403 and "container-registry.policy.manage" in r.text
    r = client.post("/v1/serviceids", json={"name": "x"}, headers=op_headers)
    assert r.status_code == 403 and "iam-identity.serviceid.create" in r.text
    assert client.get("/v1/serviceids", headers=view_headers).status_code == 200
    assert client.get("/v1/apikeys", headers=view_headers).status_code == 200
    r = client.post("/v1/apikeys", json={"name": "k", "iam_id": target}, headers=view_headers)
    assert r.status_code == 403 and "iam-identity.apikey.create" in r.text
    r = client.post("/v1/serviceids", json={"name": "y"}, headers=view_headers)
    assert r.status_code == 403


def test_bad_policies_are_refused_and_nothing_is_written(client: TestClient,
                                                         admin: Headers) -> None:
    namespace(client, admin, "team-a")
    iam_id, _ = robot(client, admin)
    other_owner = second_account(client, admin)
    assert namespace(client, other_owner, "theirs").status_code == 201
    their_group = client.post("/v1/groups", json={"name": "g"}, headers=other_owner).json()
    before = policy_count(client, admin)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"roles": ["Boss"]}, 400, "unknown role"),
        ({"roles": ["Viewer"]}, 400, "iam-identity"),
        ({"roles": []}, 400, "at least one role"),
        ({"service": "nope"}, 400, "unknown service"),
        ({"resource_type": "namespace", "resource": "theirs"}, 404, "namespace theirs"),
        ({"resource_type": "namespace", "resource": "missing"}, 404, "namespace missing"),
        ({"resource_type": "namespace", "resource": "Team-A"}, 400, "namespace name"),
        ({"resource_type": "namespace"}, 400, "go together"),
        ({"resource_type": "bucket", "resource": "team-a"}, 400, "resource type"),
        ({"repository": "../etc"}, 400, "glob"),
        ({"region": "US South"}, 400, "region"),
        ({"subject": {"iam_id": "iam-ServiceId-00000000-0000-0000-0000-000000000000"}}, 404,
         "not found"),
        ({"subject": {"access_group_id": their_group["id"]}}, 404, "not found"),
        ({"subject": {"iam_id": iam_id, "access_group_id": their_group["id"]}}, 400,
         "one iam_id or one access_group_id"),
        ({"subject": {}}, 400, "one iam_id"),
    ]
    for change, status, words in cases:
        resource = {"service": change.pop("service", "container-registry")}
        for key in ("region", "resource_type", "resource", "repository"):
            if key in change:
                resource[key] = change.pop(key)
        body = {"subject": {"iam_id": iam_id}, "roles": ["Reader"], "resource": resource,
                **change}
        r = client.post("/v1/policies", json=body, headers=admin)
        assert r.status_code == status, (change, r.text)
        assert words in r.json()["errors"][0]["message"], (change, r.text)
    r = grant(client, admin, iam_id, ["Viewer"], service="iam-identity", region="us-south")
    assert r.status_code == 400
    assert policy_count(client, admin) == before


def test_duplicate_policy_is_a_conflict_naming_the_existing_one(client: TestClient,
                                                                admin: Headers) -> None:
    iam_id, _ = robot(client, admin)
    first = grant(client, admin, iam_id, ["Reader"]).json()
    r = grant(client, admin, iam_id, ["Reader", "Writer"])
    assert r.status_code == 409
    assert first["id"] in r.json()["errors"][0]["message"]
    assert policy_count(client, admin) == 1


def test_update_policy_needs_if_match_and_changes_roles(client: TestClient,
                                                        admin: Headers) -> None:
    iam_id, _ = robot(client, admin)
    created = grant(client, admin, iam_id, ["Reader"]).json()
    body = {"subject": {"iam_id": iam_id}, "roles": ["Writer", "Reader"],
            "resource": {"service": "container-registry"}}
    url = f"/v1/policies/{created['id']}"
    assert client.put(url, json=body, headers=admin).status_code == 428
    r = client.put(url, json=body, headers={**admin, "If-Match": created["entity_tag"]})
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["Reader", "Writer"]
    r = client.put(url, json=body, headers={**admin, "If-Match": created["entity_tag"]})
    assert r.status_code == 412


def test_delete_policy_revokes_access(client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a")
    iam_id, _ = robot(client, admin)
    created = grant(client, admin, iam_id, ["Writer"]).json()
    args = {"resource_type": "namespace", "resource": "team-a"}
    assert check(client, admin, iam_id, "container-registry.image.push", **args)["allowed"]
    assert client.delete(f"/v1/policies/{created['id']}", headers=admin).status_code == 204
    assert not check(client, admin, iam_id, "container-registry.image.push", **args)["allowed"]
    assert client.get(f"/v1/policies/{created['id']}", headers=admin).status_code == 404


def test_listing_policies_needs_a_filter_or_access_management_viewer(
        client: TestClient, admin: Headers) -> None:
    iam_id, headers = robot(client, admin)
    other, _ = robot(client, admin, "other")
    grant(client, admin, iam_id, ["Reader"])
    grant(client, admin, other, ["Reader"])
    r = client.get("/v1/policies", headers=headers)
    assert r.status_code == 403 and "iam-access-management.policy.list" in r.text
    r = client.get("/v1/policies", params={"iam_id": iam_id}, headers=headers)
    assert r.status_code == 200 and r.json()["count"] == 1
    r = client.get("/v1/policies", params={"iam_id": other}, headers=headers)
    assert r.status_code == 200 and r.json()["count"] == 0
    grant(client, admin, iam_id, ["Viewer"], service="iam-access-management")
    r = client.get("/v1/policies", headers=headers)
    assert r.status_code == 200 and r.json()["count"] == 3


def test_account_b_sees_nothing_of_account_a(client: TestClient, admin: Headers) -> None:
    namespace(client, admin, "team-a")
    iam_id, _ = robot(client, admin)
    policy = grant(client, admin, iam_id, ["Reader"]).json()
    group = client.post("/v1/groups", json={"name": "devs"}, headers=admin).json()
    key = client.get("/v1/apikeys", params={"iam_id": iam_id}, headers=admin).json()["data"][0]
    b = second_account(client, admin)
    assert client.get("/v1/namespaces", headers=b).json()["count"] == 0
    for url in (f"/v1/serviceids/{iam_id}", f"/v1/apikeys/{key['id']}",
                f"/v1/policies/{policy['id']}", f"/v1/groups/{group['id']}"):
        assert client.get(url, headers=b).status_code == 404, url
    assert client.delete(f"/v1/policies/{policy['id']}", headers=b).status_code == 404
    assert client.get("/v1/policies", headers=b).json()["count"] == 0
    assert client.get("/v1/groups", headers=b).json()["count"] == 0
    r = client.post("/v1/authz/check", headers=b, json={
        "iam_id": iam_id, "action": "container-registry.image.pull",
        "resource": {"service": "container-registry"}})
    assert r.status_code == 404
    assert grant(client, b, iam_id, ["Reader"]).status_code == 404
